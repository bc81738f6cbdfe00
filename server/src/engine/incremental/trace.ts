import { DependencyAnalyzer } from '../dependencies';
import { relPath } from '../discovery';
import type { Expr, ModuleFacts } from '../facts';
import type { Analysis, AnalyzeOptions } from '../index';
import { FastApiModel } from '../model';
import { buildRoutes } from '../routes';
import type { EngineDiagnostic, RoutesReport } from '../types';
import { Workspace, type EvalCtx, type Value, type WorkspaceFile } from '../workspace';

/**
 * The workspace passes of `combine()` (index.ts), run on a Workspace that records what they
 * read: which scopes names were looked up in, and which functions' return values were
 * followed. The graph signature (signature.ts) covers exactly that, so an edit that leaves it
 * unchanged cannot change the routes. Keep in step with `combine()`; test/incremental.test.ts
 * compares the two.
 */

/** What the workspace passes read beyond every file's module level, functions and classes. */
export interface Relevance {
  /** `abs\0scope` of scopes in which names were looked up or expressions evaluated. */
  scopes: Set<string>;
  /** `abs\0qualname` of functions whose `return` values were evaluated (factories). */
  returns: Set<string>;
  /** Names of registration helpers: calls to them are evaluated wherever they are. */
  helperNames: Set<string>;
  /**
   * `abs\0qualname` of functions whose body facts (raises, error responses, guards,
   * mentions) were read to judge whether they reject callers: by the dependency verdicts,
   * and by the rules since (AUTH001 follows a handler's calls). Other functions' bodies cannot
   * change routes, exposure or those rules, so typing in them keeps the warm path. Grows
   * while the analysis lives; a rescan that keeps findings keeps the reads behind them.
   */
  bodies: Set<string>;
}

export function scopeKey(abs: string, scope: string): string {
  return `${abs}\0${scope}`;
}

type FileIndex = ReturnType<Workspace['fileIndex']>;

/** Each file's name index, by facts object: a file's index depends on its facts alone. */
const indexes = new WeakMap<ModuleFacts, FileIndex>();

/** A file's index, built by a Workspace of that file alone when not known yet. */
export function indexOf(f: WorkspaceFile): FileIndex {
  let idx = indexes.get(f.facts);
  if (!idx) {
    idx = new Workspace([f]).fileIndex(f);
    indexes.set(f.facts, idx);
  }
  return idx;
}

export class TracingWorkspace extends Workspace {
  tracing = true;
  /** Scopes names were looked up or evaluated in while tracing: abs -> scopes. */
  private readonly looked = new Map<string, Set<string>>();
  readonly returns = new Set<string>();

  /** `sameFiles`: a workspace over these very file objects (paths, modules): its module index. */
  constructor(files: WorkspaceFile[], sameFiles?: Workspace) {
    super([]);
    // As Workspace.addFile, but with each file's index reused from the last run when its facts
    // did not change (most of the cost of building a Workspace).
    const known =
      this['byModule'] instanceof Map &&
      this['byPath'] instanceof Map &&
      this['index'] instanceof Map &&
      this.files instanceof Map;
    if (known && sameFiles) {
      for (const [k, v] of sameFiles['byModule']) this['byModule'].set(k, v);
      for (const [k, v] of sameFiles['byPath']) this['byPath'].set(k, v);
      for (const f of files) {
        this.files.set(f.abs, f);
        this['index'].set(f, indexOf(f));
      }
      return;
    }
    for (const f of files) {
      if (!known) {
        this['addFile'](f);
        continue;
      }
      this.files.set(f.abs, f);
      this['byPath'].set(f.abs, f);
      const parts = f.module.split('.');
      for (let i = 0; i < parts.length; i++) {
        const name = parts.slice(i).join('.');
        const list = this['byModule'].get(name);
        if (list) list.push(f);
        else this['byModule'].set(name, [f]);
      }
      this['index'].set(f, indexOf(f));
    }
  }

  private trace(ctx: EvalCtx): void {
    let scopes = this.looked.get(ctx.file.abs);
    if (!scopes) this.looked.set(ctx.file.abs, (scopes = new Set()));
    scopes.add(ctx.scope);
  }

  /** `scopeKey`s of the scopes names were looked up or evaluated in while tracing. */
  scopes(): Set<string> {
    const out = new Set<string>();
    for (const [abs, scopes] of this.looked) for (const s of scopes) out.add(scopeKey(abs, s));
    return out;
  }

  override lookup(ctx: EvalCtx, name: string, depth = 0): Value {
    if (this.tracing) this.trace(ctx);
    return super.lookup(ctx, name, depth);
  }

  /**
   * Forget what was looked up in a file's scopes (its bindings changed). Names looked up in
   * other files that resolved through the file's module level stay: the warm path only runs
   * when that level did not change.
   */
  forgetFile(abs: string): void {
    this.forgetNames(abs);
  }

  override eval(ctx: EvalCtx, e: Expr, depth = 0, alias = ''): Value {
    if (this.tracing) {
      this.trace(ctx);
      if (e.k === 'call') {
        // A call of a workspace function is worth whatever it returns: note whose returns.
        const callee = super.eval(ctx, e.fn, depth + 1);
        if (callee.t === 'func') this.returns.add(scopeKey(callee.file.abs, callee.fn.qualname));
      }
    }
    return super.eval(ctx, e, depth, alias);
  }
}

export function combineTraced(
  files: WorkspaceFile[],
  diagnostics: EngineDiagnostic[],
  cwd: string,
  options: Pick<AnalyzeOptions, 'authDependencies'>,
): { analysis: Analysis; relevance: Relevance } {
  const workspace = new TracingWorkspace(files);
  const deps = new DependencyAnalyzer(workspace, {
    authDependencies: options.authDependencies ?? [],
  });
  const bodies = new Set<string>();
  // Left on: the rules read verdicts through the same analyzer.
  deps.bodyRead = (abs, qualname) => bodies.add(scopeKey(abs, qualname));
  const model = new FastApiModel(workspace, deps, true);
  model.build();
  const records = buildRoutes(workspace, model, deps);
  workspace.tracing = false;
  const report: RoutesReport = {
    version: 1,
    root: relPath(process.cwd(), cwd),
    routes: records.map((r) => r.route),
    diagnostics,
  };
  const helperNames = new Set<string>();
  for (const { fn } of model['helpers'].values()) helperNames.add(fn.name);
  return {
    analysis: { report, records, workspace, model, deps, files },
    relevance: { scopes: workspace.scopes(), returns: workspace.returns, helperNames, bodies },
  };
}
