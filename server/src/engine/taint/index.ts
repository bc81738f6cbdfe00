/**
 * The taint engine: per-file function summaries (summary.ts, run while the tree is alive) and
 * their composition across the workspace from route inputs to sinks (flows.ts).
 */
export { computeTaintFacts } from './summary';
export { taintFindings, TaintEngine, type TaintFinding } from './flows';
export * from './types';
