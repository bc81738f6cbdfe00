import type { RuleReach, RuleSettings, WorkspaceRule } from '../../../../rules/api';
import { groupKey } from '../../../../rules/auth/util';
import type { DepUse } from '../dependencies';
import type { FuncFacts, ImportFacts } from '../facts';
import type { Finding, LocalFinding } from '../findings';
import type { Analysis } from '../index';
import type { RouteReg, RouterObj } from '../model';
import type { RouteRecord } from '../routes';
import type { DependencyNode } from '../types';
import type { Value, Workspace, WorkspaceFile } from '../workspace';
import type { FileChange, FileState } from './fileState';
import {
  exposureRank,
  localRaw,
  rulesByCode,
  runWorkspaceRule,
  setOwners,
  WORKSPACE_RULES,
  type FindingStore,
  type RawFinding,
} from './scan';
import { fileKey, projectGroups, type ItemLists } from './signature';
import { indexOf, TracingWorkspace, type Relevance } from './trace';

/**
 * The warm path: an edit whose graph signature is unchanged (signature.ts) cannot change the
 * routes, their exposure or the dependency trees; only positions in the edited file move, and
 * what rules read from function bodies may change. So instead of re-running the workspace
 * passes, the previous analysis is patched in place:
 * - the edited file's facts objects that the analysis points at are updated to the new ones;
 * - positions derived from them (routes, registrations, dependency nodes, router names, the
 *   ids of instances) are moved through the old -> new position map;
 * - the Workspace gets the file's new index and forgets what was looked up in its scopes (the
 *   dependency analyser's caches stay: what they hold did not change, only moved);
 * - findings: the file's own file-rule findings are redone; workspace rules are re-run on the
 *   part of the workspace that depends on the edit, by what each rule reads (its `reach`):
 *   per-route rules on the routes whose handler changed, per-router rules on their routers,
 *   per-statement rules on the changed statements, the taint rules on the routes that may
 *   reach the changed functions (through imports); rules that read only the route graph keep
 *   their findings, moved. Unknown rules re-run on everything.
 * Anything that cannot be mapped throws WarmFallback, and the caller re-runs everything.
 */

export class WarmFallback extends Error {}

type RuleScope = RuleReach['warm'];

/** A rule's warm reach (rules/api.ts RuleReach); codes of no workspace rule re-run everywhere. */
function scopeOf(code: string): RuleScope | 'global' {
  const rule = rulesByCode().get(code);
  return rule?.kind === 'workspace' ? rule.reach.warm : 'global';
}

/** What an import names: the module, and the submodule `from pkg import name` may be. */
export interface ImportTargets {
  module: WorkspaceFile | null;
  sub: WorkspaceFile | null;
}

/**
 * Workspace files each file imports (any scope), and the reverse. Kept by path, so that the
 * graph of one analysis serves the next one over the same files (`rebind`).
 */
export class ImportGraph {
  private readonly out = new Map<string, Set<string>>();
  private readonly into = new Map<string, Set<string>>();
  /** Targets of each import statement, by path, as last computed for its file. */
  private readonly targetsOf = new WeakMap<
    ImportFacts,
    { module: string | null; sub: string | null }
  >();
  private byAbs = new Map<string, WorkspaceFile>();

  constructor(
    private ws: Workspace,
    files: WorkspaceFile[],
  ) {
    this.rebind(ws, files);
    for (const f of files) this.set(f);
  }

  /**
   * Serve another analysis of the same files (same paths and module names): files whose
   * imports changed must be `set` again.
   */
  rebind(ws: Workspace, files: WorkspaceFile[]): void {
    this.ws = ws;
    this.byAbs = new Map(files.map((f) => [f.abs, f]));
  }

  /** (Re)compute the imports of a file. */
  set(f: WorkspaceFile): void {
    for (const m of this.out.get(f.abs) ?? []) this.into.get(m)?.delete(f.abs);
    const targets = new Set<string>();
    for (const imp of f.facts.imports) {
      const module = this.ws.importedModule(imp, f)?.abs ?? null;
      let sub: string | null = null;
      if (imp.name !== null && imp.name !== '*') {
        // `from pkg import mod` may name a submodule.
        sub =
          this.ws.importedModule(
            { ...imp, module: imp.module ? `${imp.module}.${imp.name}` : imp.name, name: null },
            f,
          )?.abs ?? null;
      }
      this.targetsOf.set(imp, { module, sub });
      if (module) targets.add(module);
      if (sub) targets.add(sub);
    }
    targets.delete(f.abs);
    this.out.set(f.abs, targets);
    for (const m of targets) {
      let s = this.into.get(m);
      if (!s) this.into.set(m, (s = new Set()));
      s.add(f.abs);
    }
  }

  /** What an import of file `f` names (as `set` found it). */
  targets(imp: ImportFacts, f: WorkspaceFile): ImportTargets {
    let t = this.targetsOf.get(imp);
    if (!t) {
      this.set(f);
      t = this.targetsOf.get(imp) ?? { module: null, sub: null };
    }
    return {
      module: t.module ? (this.byAbs.get(t.module) ?? null) : null,
      sub: t.sub ? (this.byAbs.get(t.sub) ?? null) : null,
    };
  }

  private files(paths: Iterable<string>): Set<WorkspaceFile> {
    const out = new Set<WorkspaceFile>();
    for (const p of paths) {
      const f = this.byAbs.get(p);
      if (f) out.add(f);
    }
    return out;
  }

  private closure(f: WorkspaceFile, edges: Map<string, Set<string>>): Set<WorkspaceFile> {
    const seen = new Set<string>([f.abs]);
    const todo = [f.abs];
    while (todo.length) {
      const x = todo.pop() as string;
      for (const y of edges.get(x) ?? [])
        if (!seen.has(y)) {
          seen.add(y);
          todo.push(y);
        }
    }
    const out = this.files(seen);
    out.add(f);
    return out;
  }

  /** The file at a path, if it is one of the graph's files. */
  file(abs: string): WorkspaceFile | null {
    return this.byAbs.get(abs) ?? null;
  }

  /** The files that import a file directly. */
  importers(f: WorkspaceFile): Set<WorkspaceFile> {
    return this.files(this.into.get(f.abs) ?? []);
  }

  /** The file and every file that imports it, directly or not. */
  upstream(f: WorkspaceFile): Set<WorkspaceFile> {
    return this.closure(f, this.into);
  }

  /** The file and every file it imports, directly or not. */
  downstream(f: WorkspaceFile): Set<WorkspaceFile> {
    return this.closure(f, this.out);
  }
}

/** What the warm path needs from the last full analysis, kept up to date by it. */
export interface WarmState {
  analysis: Analysis;
  relevance: Relevance;
  store: FindingStore;
  byHandler: Map<string, RouteRecord[]>;
  settings: RuleSettings;
  localFindings: Map<string, LocalFinding[]>;
  imports: ImportGraph;
  authDependencies: string[];
  /** Per file: the routes and router objects holding its positions (found on first use). */
  refs: Map<WorkspaceFile, { records: RouteRecord[]; objects: RouterObj[] }>;
  /** Routes by router (`groupKey`), until a router name moves; made on first use. */
  groups?: Map<string, RouteRecord[]> | null;
  /** Position of each route in the route order (which a warm edit does not change). */
  order?: Map<RouteRecord, number>;
  /** A warm update started changing the analysis in place (it is not the one before). */
  patched?: boolean;
}

function groupsOf(w: WarmState): Map<string, RouteRecord[]> {
  if (!w.groups) {
    w.groups = new Map();
    for (const r of w.analysis.records) {
      const key = groupKey(r);
      const list = w.groups.get(key);
      if (list) list.push(r);
      else w.groups.set(key, [r]);
    }
  }
  return w.groups;
}

export interface WarmResult {
  analysis: Analysis;
  /** Files (relative) whose findings may have changed. */
  touched: Set<string>;
  /** Some route moved. */
  routesMoved: boolean;
  /** Some position in the analysis or the findings moved (views derived from them are stale). */
  positionsMoved: boolean;
  stats: {
    affectedRoutes: number;
    taintRoutes: number;
    /** Milliseconds by step. */
    ms: Record<string, number>;
  };
}

/** Make `o` deep-equal to `n`, keeping the identity of `o`'s parts where shapes agree. */
function deepPatch(o: unknown, n: unknown): unknown {
  if (o === n) return o;
  if (typeof o !== 'object' || typeof n !== 'object' || o === null || n === null) return n;
  if (Array.isArray(o) !== Array.isArray(n)) return n;
  if (Array.isArray(o)) {
    const na = n as unknown[];
    if (o.length !== na.length) return n;
    for (let i = 0; i < o.length; i++) o[i] = deepPatch(o[i], na[i]);
    return o;
  }
  const or = o as Record<string, unknown>;
  const nr = n as Record<string, unknown>;
  if ('k' in or && or.k !== nr.k) return n;
  for (const k of Object.keys(or)) if (!(k in nr)) delete or[k];
  for (const k of Object.keys(nr)) or[k] = deepPatch(or[k], nr[k]);
  return o;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function taintKey(f: Omit<Finding, 'fingerprint'>): string {
  return `${f.code}|${f.file}|${f.line}|${f.column}`;
}

/** Files reachable through imports from some files (memoized per file). */
export class Reach {
  private readonly memo = new Map<WorkspaceFile, Set<WorkspaceFile>>();

  constructor(private readonly imports: ImportGraph) {}

  of(files: WorkspaceFile[]): Set<WorkspaceFile> {
    const out = new Set<WorkspaceFile>();
    for (const f of files) {
      let d = this.memo.get(f);
      if (!d) this.memo.set(f, (d = this.imports.downstream(f)));
      for (const x of d) out.add(x);
    }
    return out;
  }
}

/** Routes and router objects that hold positions of a file (their own, auth, names, ids). */
function refsOf(w: WarmState, X: WorkspaceFile): { records: RouteRecord[]; objects: RouterObj[] } {
  const cached = w.refs.get(X);
  if (cached) return cached;
  const rel = X.rel;
  const nameRe = new RegExp(`^${escapeRe(X.module)}:<line \\d+>$`);
  const valueRefs = (v: Value, depth = 0): boolean => {
    if (depth > 20) return false;
    if (v.t === 'instance') return v.file === X || valueRefs(v.of, depth + 1);
    if (v.t === 'list') return v.items.some((i) => valueRefs(i, depth + 1));
    return false;
  };
  const useRefs = (u: DepUse) => u.ctx.file === X || valueRefs(u.value);
  const regRefs = (r: RouteReg) => r.file === X || r.dependencies.some(useRefs);
  const nodeRefs = (nodes: DependencyNode[], seen: Set<DependencyNode>): boolean =>
    nodes.some((n) => {
      if (seen.has(n)) return false;
      seen.add(n);
      return n.file === rel || nodeRefs(n.children, seen);
    });
  const records = w.analysis.records.filter(
    (r) =>
      r.route.file === rel ||
      r.handler?.file === X ||
      r.route.auth.some((a) => a.file === rel) ||
      nodeRefs(r.route.dependencies, new Set()) ||
      r.route.routers.some((n) => nameRe.test(n)) ||
      (r.route.app !== null && nameRe.test(r.route.app)) ||
      (r.reg !== null && regRefs(r.reg)),
  );
  const objects = [...w.analysis.model.objects.values()].filter(
    (o) =>
      o.file === X ||
      nameRe.test(o.name) ||
      o.dependencies.some(useRefs) ||
      o.routes.some(regRefs) ||
      o.includes.some((i) => i.file === X || i.dependencies.some(useRefs)) ||
      o.mounts.some((m) => m.file === X || valueRefs(m.target)) ||
      o.middleware.some((m) => m.file === X),
  );
  const out = { records, objects };
  w.refs.set(X, out);
  return out;
}

/**
 * Apply an edit of one file (already re-analysed by its FileState) to the analysis.
 * `oldParts`/`oldFileKey` describe the file before the edit. Throws WarmFallback.
 */
export function warmUpdate(
  w: WarmState,
  X: WorkspaceFile,
  state: FileState,
  change: FileChange,
  oldParts: ItemLists[],
  oldFileKey: string,
): WarmResult {
  const lineCountBefore = X.facts.lineCount;
  const abs = X.abs;
  const rel = X.rel;
  const ms: Record<string, number> = {};
  let tick = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    ms[name] = now - tick;
    tick = now;
  };
  const newParts: ItemLists[] =
    change.mode === 'full' ? [state.facts] : change.added.map((g) => g.items);
  const oldP = projectGroups(oldParts, abs, w.relevance);
  const newP = projectGroups(newParts, abs, w.relevance);
  if (oldP.key !== newP.key) throw new WarmFallback('the route graph may have changed');
  if (fileKey(state.facts, w.relevance) !== oldFileKey)
    throw new WarmFallback('module exports or annotations changed');

  // ---- positions: old -> new -------------------------------------------------------------
  const pairs = new Map<string, [number, number] | null>();
  const lines = new Map<number, number | null>();
  for (let i = 0; i < oldP.positions.length; i += 2) {
    const ol = oldP.positions[i];
    const oc = oldP.positions[i + 1];
    const nl = newP.positions[i];
    const nc = newP.positions[i + 1];
    const k = `${ol}:${oc}`;
    const p = pairs.get(k);
    if (p === undefined) pairs.set(k, [nl, nc]);
    else if (p && (p[0] !== nl || p[1] !== nc)) pairs.set(k, null);
    const l = lines.get(ol);
    if (l === undefined) lines.set(ol, nl);
    else if (l !== nl) lines.set(ol, null);
  }
  // Whether any position moved (else ids and cached trees need no update).
  let shifted = change.mode === 'full' || change.removed.length !== change.added.length;
  for (let i = 0; !shifted && i < oldP.positions.length; i += 2)
    if (oldP.positions[i] !== newP.positions[i] || oldP.positions[i + 1] !== newP.positions[i + 1])
      shifted = true;
  if (!shifted && state.facts.lineCount !== lineCountBefore) shifted = true;
  const mapLine = (line: number): number => {
    const m = change.mapLine(line);
    if (m !== null) return m;
    const n = lines.get(line);
    if (n === undefined || n === null) throw new WarmFallback(`line ${line} cannot be mapped`);
    return n;
  };
  const mapPos = (line: number, col: number): [number, number] => {
    const m = change.mapLine(line);
    if (m !== null) return [m, col];
    const p = pairs.get(`${line}:${col}`);
    if (p) return p;
    return [mapLine(line), col];
  };

  lap('signature');
  // ---- facts: keep the objects the analysis points at ---------------------------------------
  w.patched = true;
  const oldEvalsInX = (X.facts.taint?.funcs ?? []).some((s) => s.evals.length > 0);
  const subst = new Map<object, object>();
  for (let i = 0; i < oldP.objects.length; i++) {
    const kept = deepPatch(oldP.objects[i], newP.objects[i]);
    if (kept !== newP.objects[i]) subst.set(newP.objects[i], kept as object);
  }
  state.substitute(subst);
  X.facts = state.facts;
  w.imports.set(X);
  const ws = w.analysis.workspace;
  ws['index'].set(X, indexOf(X));
  if (ws instanceof TracingWorkspace) ws.forgetFile(abs);
  else ws.forgetNames(null);

  // Functions (and classes) whose statements changed: what rules read from bodies is theirs.
  const changedFns = new Set<FuncFacts>();
  const changedNames = new Set<string>();
  let changedClass = false;
  for (const part of change.mode === 'full' ? [state.facts] : change.added.map((g) => g.items)) {
    for (const fn of part.funcs) {
      changedFns.add(fn);
      changedNames.add(fn.name);
    }
    if (part.classes.length) changedClass = true;
  }
  for (const part of oldParts) for (const fn of part.funcs) changedNames.add(fn.name);

  // ---- derived positions ----------------------------------------------------------------
  lap('patch');
  const analysis = w.analysis;
  const refs = refsOf(w, X);
  let routesMoved = false;
  const seen = new Set<object>();
  const nameRe = new RegExp(`^${escapeRe(X.module)}:<line (\\d+)>$`);
  const remapName = (name: string): string => {
    const m = nameRe.exec(name);
    return m ? `${X.module}:<line ${mapLine(Number(m[1]))}>` : name;
  };
  // Values need nothing: an instance's id is read from its creating call, a facts object
  // already moved (workspace.ts instanceValue).
  const remapUse = (u: DepUse): void => {
    if (seen.has(u)) return;
    seen.add(u);
    if (u.ctx.file === X) u.line = mapLine(u.line);
  };
  const remapReg = (r: RouteReg): void => {
    if (seen.has(r)) return;
    seen.add(r);
    if (r.file === X) [r.line, r.col] = mapPos(r.line, r.col);
    r.dependencies.forEach(remapUse);
  };
  const model = analysis.model;
  let rekey = false;
  // Nothing moved (an edit within a line): every derived position is still right.
  for (const obj of shifted ? refs.objects : []) {
    if (obj.file === X) {
      // The call that created it was patched already: its position is the new one.
      if (obj.line !== obj.call.line || obj.col !== obj.call.col) rekey = true;
      [obj.line, obj.col] = [obj.call.line, obj.call.col];
    }
    obj.name = remapName(obj.name);
    obj.dependencies.forEach(remapUse);
    obj.routes.forEach(remapReg);
    for (const inc of obj.includes) {
      if (inc.file === X) [inc.line, inc.col] = mapPos(inc.line, inc.col);
      inc.dependencies.forEach(remapUse);
    }
    for (const m of obj.mounts) if (m.file === X) [m.line, m.col] = mapPos(m.line, m.col);
    for (const mw of obj.middleware) if (mw.file === X) [mw.line, mw.col] = mapPos(mw.line, mw.col);
  }
  if (rekey) {
    const objects = [...model.objects.values()];
    model.objects.clear();
    for (const obj of objects) {
      if (obj.file === X) obj.id = `${rel}:${obj.line}:${obj.col}`;
      model.objects.set(obj.id, obj);
    }
  }
  const remapNodes = (nodes: DependencyNode[]): void => {
    for (const n of nodes) {
      if (seen.has(n)) continue;
      seen.add(n);
      if (n.file === rel && n.line !== null) n.line = mapLine(n.line);
      remapNodes(n.children);
    }
  };
  for (const rec of shifted ? refs.records : []) {
    const r = rec.route;
    const before = `${r.line}:${r.column}:${r.handlerLine}`;
    if (r.file === rel) [r.line, r.column] = mapPos(r.line, r.column);
    if (rec.handler?.file === X && r.handlerLine !== null) r.handlerLine = rec.handler.fn.line;
    for (const a of r.auth) if (a.file === rel && a.line !== null) a.line = mapLine(a.line);
    remapNodes(r.dependencies);
    if (r.routers.some((n) => nameRe.test(n))) r.routers = r.routers.map(remapName);
    if (r.app) r.app = remapName(r.app);
    if (rec.reg) remapReg(rec.reg);
    if (`${r.line}:${r.column}:${r.handlerLine}` !== before) routesMoved = true;
  }
  // Lines moved: dependency trees cached by the DependencyAnalyzer (they stay: what they say
  // did not change) move too.
  if (shifted) for (const t of analysis.deps['treeCache'].values()) remapNodes(t.children);
  const next: Analysis = { ...analysis };
  const records = analysis.records;

  lap('remap');
  // ---- what to re-run ---------------------------------------------------------------------
  // Per-route rules: routes whose handler changed. Per-router rules: run on those routers
  // (they compare siblings), keep what they say about the changed routes.
  const aff = new Set<RouteRecord>();
  for (const r of refs.records) if (r.handler && changedFns.has(r.handler.fn)) aff.add(r);
  const groups = new Set<string>();
  for (const r of aff) groups.add(groupKey(r));
  if (shifted) w.groups = null; // names like `module:<line N>` moved
  const grpRoutes: RouteRecord[] = [];
  if (aff.size) {
    const members = new Set<RouteRecord>();
    for (const g of groups) for (const r of groupsOf(w).get(g) ?? []) members.add(r);
    for (const r of records) if (members.has(r)) grpRoutes.push(r);
  }
  // Taint: routes whose handler changed; all routes whose handlers import the file when a
  // changed function may be called from elsewhere (or a changed class may type a parameter).
  const upstream = w.imports.upstream(X);
  let broad = changedClass;
  if (!broad)
    search: for (const f of upstream)
      for (const sum of f.facts.taint?.funcs ?? [])
        for (const c of sum.calls) {
          const last = c.fn.k === 'name' ? c.fn.id : c.fn.k === 'attr' ? c.fn.attr : null;
          if (
            (last !== null && changedNames.has(last)) ||
            (c.selfMethod !== null && changedNames.has(c.selfMethod))
          ) {
            broad = true;
            break search;
          }
        }
  const taintRoutes = new Set<RouteRecord>();
  for (const r of broad ? records : refs.records) {
    if (!r.handler || r.route.kind === 'mount') continue;
    if (broad ? upstream.has(r.handler.file) : changedFns.has(r.handler.fn)) taintRoutes.add(r);
  }

  lap('affected');
  // The taint pass only needs the files the routes' handlers import (calls resolve through
  // imports), and the edited file (its `eval`s are reported without a route).
  const reach = new Reach(w.imports);
  const taintFiles = reach.of(
    [...taintRoutes].map((r) => (r.handler as { file: WorkspaceFile }).file),
  );
  taintFiles.add(X);

  // ---- findings ---------------------------------------------------------------------------
  const store = w.store;
  const touched = new Set<string>([rel]);
  const newEvals = (state.facts.taint?.funcs ?? []).some((s) => s.evals.length > 0);
  const rerunTaint = taintRoutes.size > 0 || oldEvalsInX || newEvals;
  const taintRels = new Set([...taintFiles].map((f) => f.rel));
  // What is re-run is dropped first: by the routes findings are about, by file otherwise.
  const drop = new Set<RawFinding>();
  const droppedTaint: RawFinding[] = [];
  const owned = (routes: Iterable<RouteRecord>, scopes: RuleScope[]) => {
    for (const r of routes)
      for (const raw of store.byOwner.get(r) ?? [])
        if ((scopes as string[]).includes(scopeOf(raw.rule))) drop.add(raw);
  };
  owned(aff, ['route', 'group']);
  for (const [code, byFile] of store.ws) {
    const scope = scopeOf(code);
    if (scope === 'global') {
      for (const list of byFile.values()) for (const raw of list) drop.add(raw);
    } else if (scope === 'statement') {
      for (const raw of byFile.get(rel) ?? [])
        if (change.mapLine(raw.finding.line) === null) drop.add(raw);
    } else if (scope === 'taint' && rerunTaint) {
      for (const file of taintRels)
        for (const raw of byFile.get(file) ?? []) if (!raw.finding.route) drop.add(raw);
    }
  }
  if (rerunTaint)
    for (const r of taintRoutes)
      for (const raw of store.byOwner.get(r) ?? [])
        if (scopeOf(raw.rule) === 'taint') {
          drop.add(raw);
          droppedTaint.push(raw);
        }
  for (const f of store.removeWorkspace(drop)) touched.add(f);

  lap('drop');
  // Findings kept: move what points into the edited file.
  const remapFinding = (f: Omit<Finding, 'fingerprint'>): boolean => {
    let moved = false;
    if (f.file === rel) {
      [f.line, f.column] = mapPos(f.line, f.column);
      [f.endLine, f.endColumn] = mapPos(f.endLine, f.endColumn);
      moved = true;
    }
    if (f.route && f.route.file === rel) {
      f.route.line = mapLine(f.route.line);
      moved = true;
    }
    for (const r of f.related)
      if (r.file === rel) {
        r.line = mapLine(r.line);
        moved = true;
      }
    if (f.flow)
      for (const s of f.flow)
        if (s.file === rel) {
          s.line = mapLine(s.line);
          moved = true;
        }
    for (const fix of f.fixes)
      for (const e of fix.edits)
        if (e.file === rel || e.file === abs) {
          e.line = mapLine(e.line);
          e.endLine = mapLine(e.endLine);
          moved = true;
        }
    return moved;
  };
  const local = store.local.get(rel);
  if (shifted)
    for (const raw of store.refsTo(rel, abs)) {
      // The file's own file-rule findings are made again below.
      if (raw.finding.file === rel && local?.includes(raw)) continue;
      if (remapFinding(raw.finding)) touched.add(raw.finding.file);
    }

  lap('move');
  // The file's own file-rule findings.
  w.localFindings.set(rel, X.facts.local ?? []);
  store.setLocal(rel, localRaw(X, w.byHandler));

  lap('local');
  // Workspace rules on what depends on the file.
  const base = { analysis: next, settings: w.settings, localFindings: w.localFindings };
  const affList = records.filter((r) => aff.has(r));
  const onRoutes = (rule: WorkspaceRule, routes: RouteRecord[]): RawFinding[] => {
    if (routes.length === 0) return [];
    const raws = runWorkspaceRule(rule, {
      ...base,
      analysis: { ...next, records: routes },
      routes,
    });
    setOwners(raws, routes);
    return raws.filter((raw) => raw.owner !== undefined && aff.has(raw.owner));
  };
  const taintRules: WorkspaceRule[] = [];
  for (const rule of WORKSPACE_RULES) {
    const scope = scopeOf(rule.meta.code);
    let raws: RawFinding[] = [];
    const only = rule.reach.routes;
    if ((scope === 'route' || scope === 'group') && only && !affList.some(only)) raws = [];
    else if (scope === 'route') raws = onRoutes(rule, affList);
    else if (scope === 'group') raws = aff.size ? onRoutes(rule, grpRoutes) : [];
    else if (scope === 'statement') {
      // The rule sees the file with only its changed statements.
      const saved = X.facts;
      const changed = (part: keyof ItemLists | 'subscriptAssigns') =>
        newParts.flatMap((p) => (p as unknown as Record<string, unknown[]>)[part] ?? []);
      X.facts = {
        ...saved,
        imports: changed('imports') as typeof saved.imports,
        assigns: changed('assigns') as typeof saved.assigns,
        funcs: changed('funcs') as typeof saved.funcs,
        classes: changed('classes') as typeof saved.classes,
        calls: changed('calls') as typeof saved.calls,
        subscriptAssigns: changed('subscriptAssigns') as typeof saved.subscriptAssigns,
      };
      try {
        raws = runWorkspaceRule(rule, {
          ...base,
          analysis: { ...next, files: [X] },
          routes: records,
        });
      } finally {
        X.facts = saved;
      }
    } else if (scope === 'global') {
      raws = runWorkspaceRule(rule, { ...base, routes: records });
      setOwners(raws, records);
    } else if (scope === 'taint') taintRules.push(rule);
    for (const f of store.addWorkspace(raws)) touched.add(f);
  }
  lap('rules');
  if (rerunTaint && taintRules.length)
    for (const f of mergeTaint(
      w,
      next,
      X,
      taintRules,
      taintRoutes,
      taintFiles,
      droppedTaint,
      reach,
    ))
      touched.add(f);

  w.patched = false;
  return {
    analysis: next,
    touched,
    routesMoved,
    positionsMoved: shifted,
    stats: { affectedRoutes: aff.size, taintRoutes: taintRoutes.size, ms: (lap('taint'), ms) },
  };
}

/**
 * The taint findings of the routes T whose handlers may reach the edited code, merged with the
 * others. Each sink position is reported once, for the most exposed route reaching it (the
 * first such route in route order). Routes outside T cannot reach the edited code, so their
 * offers are unchanged; but only the old winners are known: where an old winner from T no
 * longer wins, the routes outside T that may reach the sink run again with T to find the new
 * one. Returns the files whose raw findings changed.
 */
export function mergeTaint(
  w: WarmState,
  analysis: Analysis,
  X: WorkspaceFile,
  rules: WorkspaceRule[],
  T: Set<RouteRecord>,
  taintFiles: Set<WorkspaceFile>,
  dropped: RawFinding[],
  reach: Reach,
  /** Routes outside T may reach sinks in X too (else only T reaches them). */
  sinksInXShared = false,
): Set<string> {
  const records = analysis.records;
  if (!w.order) {
    w.order = new Map();
    records.forEach((r, i) => w.order?.set(r, i));
  }
  const index = w.order;
  const touched = new Set<string>();
  const run = (routes: RouteRecord[], files: Set<WorkspaceFile>): RawFinding[] => {
    const view: Analysis = {
      ...analysis,
      records: routes,
      files: analysis.files.filter((f) => files.has(f)),
    };
    const out: RawFinding[] = [];
    for (const rule of rules)
      for (const raw of runWorkspaceRule(rule, {
        analysis: view,
        routes,
        settings: w.settings,
        localFindings: w.localFindings,
      }))
        out.push(raw);
    setOwners(out, routes);
    return out;
  };
  const fresh = run(
    records.filter((r) => T.has(r)),
    taintFiles,
  );
  const freshByKey = new Map<string, RawFinding>();
  for (const raw of fresh) if (raw.finding.route) freshByKey.set(taintKey(raw.finding), raw);

  // Carried winners (owners outside T), by key: looked up where the key says.
  const carried = {
    get(key: string): { raw: RawFinding } | undefined {
      const [code, file, line, column] = key.split('|');
      const raw = w.store.ws
        .get(code)
        ?.get(file)
        ?.find(
          (r) =>
            r.finding.route !== null &&
            r.finding.line === Number(line) &&
            r.finding.column === Number(column),
        );
      return raw ? { raw } : undefined;
    },
  };
  const rankOf = (raw: RawFinding): [number, number] => [
    raw.finding.route ? exposureRank(raw.finding.route.exposure) : -1,
    raw.owner ? (index.get(raw.owner) ?? Infinity) : Infinity,
  ];
  const beats = (a: [number, number], b: [number, number]) =>
    a[0] > b[0] || (a[0] === b[0] && a[1] < b[1]);

  const chosen: RawFinding[] = [];
  const lost = new Set<string>();
  const oldWinner = new Map<string, RawFinding>();
  // Sinks in the edited file are only reached through T: no old winner to worry about there.
  for (const raw of dropped)
    if (sinksInXShared || raw.finding.file !== X.rel) oldWinner.set(taintKey(raw.finding), raw);
  for (const [key, raw] of freshByKey) {
    const c = carried.get(key);
    if (c) {
      if (beats(rankOf(raw), rankOf(c.raw))) {
        for (const f of w.store.removeWorkspace([c.raw])) touched.add(f);
        chosen.push(raw);
      }
      continue;
    }
    const old = oldWinner.get(key);
    if (old && old.owner !== raw.owner && !beats(rankOf(raw), rankOf(old))) {
      lost.add(key);
      continue;
    }
    chosen.push(raw);
  }
  for (const key of oldWinner.keys()) if (!freshByKey.has(key)) lost.add(key);

  if (lost.size) {
    // Routes outside T that may reach the lost sinks' files, run together with T.
    const sinkFiles = new Set<string>();
    for (const key of lost) sinkFiles.add(key.split('|')[1]);
    const reaches = new Map<WorkspaceFile, boolean>();
    const routes = records.filter((r) => {
      if (T.has(r)) return true;
      if (!r.handler || r.route.kind === 'mount') return false;
      let ok = reaches.get(r.handler.file);
      if (ok === undefined) {
        ok = [...reach.of([r.handler.file])].some((f) => sinkFiles.has(f.rel));
        reaches.set(r.handler.file, ok);
      }
      return ok;
    });
    const files = reach.of(routes.map((r) => (r.handler as { file: WorkspaceFile }).file));
    const again = run(routes, files);
    for (const raw of again)
      if (raw.finding.route && lost.has(taintKey(raw.finding))) chosen.push(raw);
  }

  // `eval` of a non-literal (no route): reported once per line unless a route finding is.
  const inj003 = new Set<string>();
  for (const raw of chosen)
    if (raw.finding.code === 'INJ003') inj003.add(`${raw.finding.file}:${raw.finding.line}`);
  for (const list of w.store.ws.get('INJ003')?.values() ?? [])
    for (const raw of list)
      if (raw.finding.route) inj003.add(`${raw.finding.file}:${raw.finding.line}`);
  for (const raw of fresh)
    if (!raw.finding.route && !inj003.has(`${raw.finding.file}:${raw.finding.line}`))
      chosen.push(raw);
  for (const f of w.store.addWorkspace(chosen)) touched.add(f);
  return touched;
}
