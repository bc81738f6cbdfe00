/**
 * The taint engine: per-file function summaries (summary.ts, run while the tree is alive) and
 * their composition across the workspace from route inputs to sinks (flows.ts); the tables of
 * sources, sinks and sanitizers are in tables.ts.
 *
 * Scope, on purpose: only flows that start at a route input (a handler parameter that is not a
 * dependency or a framework object, or `request.*` read anywhere below the handler) are
 * reported; the one exception is `eval`/`exec` of a non-literal, reported at info everywhere.
 * Not followed: values stored on `self` in one method and read in another, closures, the
 * return values of dependencies (`Depends(get_filter)` that returns a query parameter), data
 * read back from a database, and module-level code. `TAINT_DEBUG=1` makes a failure in the
 * per-file walk throw instead of keeping the partial summary.
 */
export { computeTaintFacts } from './summary';
export { taintFindings, TaintEngine, type TaintFinding } from './flows';
export * from './types';
