import * as path from 'node:path';
import { DependencyAnalyzer } from '../dependencies';
import { relPath } from '../discovery';
import type { FuncFacts, ModuleFacts, StatementCall } from '../facts';
import type { Analysis, AnalyzeOptions } from '../index';
import { FastApiModel, ModelReuseFailed } from '../model';
import { buildRoutes } from '../routes';
import type { EngineDiagnostic, RoutesReport } from '../types';
import type { Value, WorkspaceFile } from '../workspace';
import { affectedNames, exprUsesKept, funcUses, namesOfEdit, type AffectedNames } from './rescan';
import { scopeKey, TracingWorkspace, type Relevance } from './trace';
import type { ImportGraph } from './warm';

/**
 * `combineTraced` after an edit of one file that changed the route graph, reusing what the edit
 * cannot reach. The Workspace evaluator reaches other definitions only by name (in the file,
 * then through imports, or a package's submodules by attribute), so when the edited file kept
 * its lines and comments `affectedNames` (rescan.ts) says, file by file, which module-level
 * names may evaluate differently, and code that mentions none of them evaluates as before;
 * otherwise every file that imports the edited one, directly or not, counts as changed. So:
 * - names: the previous values are kept for files with no such name (their module-level
 *   values of the other names for the rest);
 * - dependencies: trees and verdicts of workspace callables whose name is not among them;
 * - the model: sources (a function's decorators, a statement call) that mention none replay
 *   what they registered before (FastApiModel.build with ModelReuse); the others are evaluated
 *   again, and what they find equal to before stands for it (objects, registrations);
 * - routes: a record is taken over when its registration is the previous one, the walk to it
 *   went through the same objects and registrations, and its handler mentions none of the
 *   names (RoutesReuse); the others are built again.
 * Everything else is computed as `combineTraced` does, in the same order, so the result equals
 * it (test/incremental.test.ts compares every edit with a full recompute). Null when this does
 * not apply and the caller runs the full passes: files added, removed or renamed, registration
 * helpers, or caches that depended on the order things were asked in (definition cycles, depth
 * limits, dependency ids shared by different values).
 */

export interface PriorAnalysis {
  analysis: Analysis;
  relevance: Relevance;
  imports: ImportGraph;
  /** The edited file (absolute) and its facts before the edit. */
  abs: string;
  before: ModuleFacts;
  /** Lines of the file that the edit did not replace moved. */
  moved: boolean;
}

/** What combineIncremental reused (for logs, the benchmark and tests). */
export interface CombineStats {
  /** Names judged one by one (else file by file). */
  byName: boolean;
  /** Route records taken over from the previous analysis. */
  reusedRoutes: number;
  routes: number;
}

export function combineIncremental(
  files: WorkspaceFile[],
  diagnostics: EngineDiagnostic[],
  cwd: string,
  options: Pick<AnalyzeOptions, 'authDependencies'>,
  prior: PriorAnalysis,
): { analysis: Analysis; relevance: Relevance; stats: CombineStats } | null {
  const A0 = prior.analysis;
  if (A0.files.length !== files.length) return null;
  let X: WorkspaceFile | null = null;
  for (let i = 0; i < files.length; i++) {
    if (A0.files[i] !== files[i]) return null;
    if (files[i].abs === prior.abs) X = files[i];
  }
  const before = prior.before;
  if (!X || X.facts === before) return null;
  const oldWs = A0.workspace;
  const oldModel = A0.model;
  if (!(oldWs instanceof TracingWorkspace) || oldWs.orderSensitive) return null;
  if (A0.deps.orderSensitive || oldModel['helpers'].size > 0) return null;

  prior.imports.rebind(oldWs, files);
  prior.imports.set(X);
  const edited = X;
  // With the edited file's lines where they were (and its comments, which routes read), what
  // the edit changes is known name by name; else file by file: the file and those that
  // import it, directly or not (what they evaluate may hold its positions).
  const byName =
    !prior.moved &&
    X.facts.lineCount === before.lineCount &&
    JSON.stringify(X.facts.comments) === JSON.stringify(before.comments);
  const affected = byName ? affectedNames(prior.imports, X, before) : null;
  const upstream = affected ? null : upstreamOf(prior.imports, X);
  const oldSources = new Set<object>([...before.funcs, ...before.calls]);
  /** Names of a file that may evaluate differently; null: every name may. */
  const changedNames = (F: WorkspaceFile): Set<string> | null => {
    if (upstream) return upstream.has(F) ? null : EMPTY;
    const a = affected as AffectedNames;
    return a.all.has(F) ? null : (a.names.get(F) ?? EMPTY);
  };
  const top = (scope: string) => scope.split('.')[0];
  const funcClean = (F: WorkspaceFile, fn: FuncFacts): boolean => {
    if (F === edited && !oldSources.has(fn)) return false;
    const names = changedNames(F);
    if (names === null) return false;
    if (names.size === 0) return true;
    // Nested definitions see their enclosing function's locals: judged by the top-level name.
    return !names.has(top(fn.qualname)) && !funcUses(fn, names);
  };
  const callClean = (F: WorkspaceFile, c: StatementCall): boolean => {
    if (F === edited && !oldSources.has(c)) return false;
    const names = changedNames(F);
    if (names === null) return false;
    if (names.size === 0) return true;
    return !(c.scope !== '' && names.has(top(c.scope))) && !exprUsesKept(c.call, names);
  };

  // ---- names ---------------------------------------------------------------------------------
  // Same file objects (checked above): the module index is the previous one.
  const workspace = new TracingWorkspace(files, oldWs);
  for (const F of files) {
    if (F === edited) continue;
    const cached = oldWs.cachedNamesOf(F.abs);
    const names = changedNames(F);
    if (!cached || names === null) continue;
    if (names.size === 0) {
      // Nothing in it changed: the values are the same, shared (new ones are the same too).
      workspace.seedNames(F.abs, cached);
      continue;
    }
    // Module-level names that did not change; other scopes may read changed ones.
    const module = cached.get('');
    if (!module) continue;
    const kept = new Map<string, Value>();
    for (const [name, v] of module) if (!names.has(name)) kept.set(name, v);
    workspace.seedNames(F.abs, new Map([['', kept]]));
  }

  // ---- dependencies --------------------------------------------------------------------------
  const deps = new DependencyAnalyzer(workspace, {
    authDependencies: options.authDependencies ?? [],
  });
  const bodies = new Set<string>(prior.relevance.bodies);
  deps.bodyRead = (abs, qualname) => bodies.add(scopeKey(abs, qualname));
  const byModule = new Map<string, WorkspaceFile | null>();
  for (const F of files) byModule.set(F.module, byModule.has(F.module) ? null : F);
  deps.seedFrom(A0.deps, (id) => {
    // Workspace functions and classes only (`module:qualname`): one definition per id.
    if (id.endsWith(')')) return false;
    const at = id.indexOf(':');
    if (at <= 0) return false;
    const F = byModule.get(id.slice(0, at));
    if (!F || F === edited) return false;
    const names = changedNames(F);
    return names !== null && !names.has(top(id.slice(at + 1)));
  });

  // ---- model and routes ----------------------------------------------------------------------
  const model = new FastApiModel(workspace, deps, true);
  try {
    model.build({
      model: oldModel,
      fileClean: (F) => F !== edited && changedNames(F)?.size === 0,
      clean: (F, source) =>
        'qualname' in source ? funcClean(F, source) : callClean(F, source as StatementCall),
    });
  } catch (err) {
    if (err instanceof ModelReuseFailed) return null;
    throw err;
  }
  const records = buildRoutes(workspace, model, deps, {
    model: oldModel,
    handlerClean: (h) => funcClean(h.file, h.fn),
    // Routes read `# fastapi-lens: public` comments of the file they are registered in.
    commentsSame: (F) => F !== edited || byName,
  });
  workspace.tracing = false;
  // Only the walk needed them (they hold the previous model's objects).
  model.adopted.clear();
  model.replayed.clear();
  // What was reused was computed in the previous order: a cycle met now might have been met
  // from elsewhere before.
  if (workspace.orderSensitive || deps.orderSensitive) return null;
  const report: RoutesReport = {
    version: 1,
    root: relPath(process.cwd(), cwd),
    routes: records.map((r) => r.route),
    diagnostics,
  };
  const analysis: Analysis = { report, records, workspace, model, deps, files };
  if (affected) namesOfEdit.set(analysis, { X, affected });
  // Reads of the reused parts were recorded by the previous analysis.
  const scopes = workspace.scopes();
  for (const s of prior.relevance.scopes) scopes.add(s);
  const returns = new Set([...prior.relevance.returns, ...workspace.returns]);
  const previous = new Set(A0.records);
  let reusedRoutes = 0;
  for (const r of records) if (previous.has(r)) reusedRoutes++;
  return {
    analysis,
    relevance: { scopes, returns, helperNames: new Set(), bodies },
    stats: { byName, reusedRoutes, routes: records.length },
  };
}

/**
 * A file and every file that may evaluate something of it: those importing it, directly or
 * not, and those importing a package above it (`import pkg` reaches `pkg.mod.x` by attribute).
 */
function upstreamOf(imports: ImportGraph, X: WorkspaceFile): Set<WorkspaceFile> {
  const out = new Set<WorkspaceFile>([X]);
  const dirs = new Set<string>();
  const todo = [X];
  const add = (G: WorkspaceFile) => {
    if (!out.has(G)) {
      out.add(G);
      todo.push(G);
    }
  };
  while (todo.length) {
    const F = todo.pop() as WorkspaceFile;
    for (const G of imports.importers(F)) add(G);
    for (let d = path.dirname(F.abs); !dirs.has(d);) {
      dirs.add(d);
      const init = imports.file(path.join(d, '__init__.py'));
      if (init) for (const G of imports.importers(init)) add(G);
      const up = path.dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  return out;
}

const EMPTY: Set<string> = new Set();
