import * as path from 'node:path';
import type { RuleReach, WorkspaceRule } from '../../../../rules/api';
import { groupKey } from '../../../../rules/auth/util';
import type { Expr, FuncFacts, ModuleFacts } from '../facts';
import type { Analysis } from '../index';
import type { RouteReg } from '../model';
import type { RouteRecord } from '../routes';
import type { DependencyNode } from '../types';
import type { WorkspaceFile } from '../workspace';
import {
  FindingStore,
  localRaw,
  routesByHandler,
  ruleSettings,
  runWorkspaceRule,
  setOwners,
  WORKSPACE_RULES,
  type ProcessOptions,
  type RawFinding,
} from './scan';
import type { Relevance } from './trace';
import { mergeTaint, Reach, type ImportGraph, type WarmState } from './warm';

/**
 * The rules after an edit that changed the route graph (the cold path), re-run only where the
 * edit may have changed what they say. The workspace passes have run again (combine.ts); the new
 * routes are matched with the previous ones (file, line, path, methods), and a route is *clean*
 * when its record is the same (same route JSON, same handler function and registration call
 * objects, no changed dependency defined in the edited file X) and its code cannot see the
 * edit. The Workspace evaluator reaches other code only by name, and other files only through
 * imports (which the warm path's taint merge relies on too): so when X kept its line count, a
 * route cannot see the edit when its handler and registration mention none of the names the
 * edit may have changed (affectedNames); otherwise, when neither its handler's file nor its
 * registration's file imports X, directly or not. Clean routes keep their findings; the rules
 * re-run on the others, by what each reads (its `reach`, rules/api.ts): per-route rules on the changed
 * routes, per-router rules on their routers, per-file rules on X or on the files that may
 * evaluate differently, the taint rules on the changed routes with the warm path's merge (one
 * finding per sink, for the most exposed route), and everything else on the whole workspace.
 * File-rule findings are weighed again for every file.
 *
 * Given the same previous findings, the result equals a full `scanIntoStore` of the new
 * analysis (test/incremental.test.ts compares them after every edit; FASTAPI_LENS_VERIFY_WARM
 * makes every rescan check itself). Null when the previous analysis cannot be reused: files
 * added or removed, another file changed, settings changed, or the routes that did not change
 * are in another order.
 */

type ColdScope = RuleReach['cold'];

export interface RescanResult {
  state: WarmState;
  /** Files (relative) whose findings may have changed. */
  touched: Set<string>;
  stats: { changedRoutes: number; ms: Record<string, number> };
}

/** Whether a dependency tree has a node defined in file `rel` at a line `at` accepts. */
function nodesIn(
  nodes: DependencyNode[],
  rel: string,
  at: (line: number | null) => boolean,
  memo: Map<DependencyNode, boolean>,
): boolean {
  for (const n of nodes) {
    let hit = memo.get(n);
    if (hit === undefined) {
      // Routes share dependency subtrees (dependencies.ts caches them), so each node is
      // answered once per rescan. The trees are acyclic (a cycle is cut where it closes);
      // the entry made first only guards against looping.
      memo.set(n, false);
      hit = (n.file === rel && at(n.line)) || nodesIn(n.children, rel, at, memo);
      memo.set(n, hit);
    }
    if (hit) return true;
  }
  return false;
}

// ---- names an edit may change --------------------------------------------------------------

type Handler = { file: WorkspaceFile; fn: FuncFacts };

const WORD = /[A-Za-z_][A-Za-z0-9_]*/g;

/** Identifiers of texts (memoized: the same texts are asked about after every edit). */
const wordsOfText = new Map<string, string[]>();

function textUses(text: string, names: Set<string>): boolean {
  let words = wordsOfText.get(text);
  if (!words) {
    if (wordsOfText.size > 50_000) wordsOfText.clear();
    wordsOfText.set(text, (words = text.match(WORD) ?? []));
  }
  for (const m of words) if (names.has(m)) return true;
  return false;
}

/**
 * Deep equality of plain data (what JSON.stringify would compare), without making strings;
 * `same` remembers pairs found equal (dependency trees share nodes).
 */
function sameData(a: unknown, b: unknown, same: Map<object, object>, depth = 0): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (depth > 200) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i], same, depth + 1)) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  // Dependency nodes are shared between routes: compared once.
  const shared = 'children' in a;
  if (shared && same.get(a) === b) return true;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  // Keys with undefined values do not count (as in JSON). No key lists: this runs for every
  // route after each edit that changes the route graph.
  let defined = 0;
  for (const k in ra) {
    const v = ra[k];
    if (v === undefined) continue;
    defined++;
    if (!sameData(v, rb[k], same, depth + 1)) return false;
  }
  for (const k in rb) if (rb[k] !== undefined) defined--;
  if (defined !== 0) return false;
  if (shared) same.set(a, b);
  return true;
}

/** Whether an expression mentions one of `names` (any identifier in it, attributes too). */
export function exprUses(e: Expr | null | undefined, names: Set<string>, depth = 0): boolean {
  if (!e || depth > 60) return false;
  switch (e.k) {
    case 'name':
      return names.has(e.id);
    case 'attr':
      return names.has(e.attr) || exprUses(e.obj, names, depth + 1);
    case 'call':
      return (
        exprUses(e.fn, names, depth + 1) ||
        e.args.some((a) => exprUses(a, names, depth + 1)) ||
        Object.values(e.kw).some((a) => exprUses(a, names, depth + 1)) ||
        // `f(*args, **kwargs)`: what is unpacked is only in the text.
        (e.splat && textUses(e.text, names))
      );
    case 'str':
      return e.fstring && textUses(e.v, names);
    case 'list':
      return e.items.some((i) => exprUses(i, names, depth + 1));
    case 'sub':
      return exprUses(e.obj, names, depth + 1) || e.idx.some((i) => exprUses(i, names, depth + 1));
    case 'binop':
      return exprUses(e.l, names, depth + 1) || exprUses(e.r, names, depth + 1);
    case 'other':
      return textUses(e.text, names);
    default:
      return false;
  }
}

/** Every name `exprUses` would test of an expression (it uses one of `names` iff one is in). */
function exprNames(e: Expr | null | undefined, out: Set<string>, depth = 0): void {
  if (!e || depth > 60) return;
  const words = (text: string) => {
    for (const m of text.match(WORD) ?? []) out.add(m);
  };
  switch (e.k) {
    case 'name':
      out.add(e.id);
      return;
    case 'attr':
      out.add(e.attr);
      exprNames(e.obj, out, depth + 1);
      return;
    case 'call':
      exprNames(e.fn, out, depth + 1);
      for (const a of e.args) exprNames(a, out, depth + 1);
      for (const a of Object.values(e.kw)) exprNames(a, out, depth + 1);
      if (e.splat) words(e.text);
      return;
    case 'str':
      if (e.fstring) words(e.v);
      return;
    case 'list':
      for (const i of e.items) exprNames(i, out, depth + 1);
      return;
    case 'sub':
      exprNames(e.obj, out, depth + 1);
      for (const i of e.idx) exprNames(i, out, depth + 1);
      return;
    case 'binop':
      exprNames(e.l, out, depth + 1);
      exprNames(e.r, out, depth + 1);
      return;
    case 'other':
      words(e.text);
      return;
    default:
      return;
  }
}

/** Names a function's text mentions (see funcUses), by function (facts objects are kept). */
const namesOfFunc = new WeakMap<FuncFacts, Set<string>>();

function funcNames(fn: FuncFacts): Set<string> {
  let out = namesOfFunc.get(fn);
  if (!out) {
    out = new Set<string>(fn.mentions);
    for (const d of fn.decorators) exprNames(d.expr, out);
    for (const p of fn.params) {
      exprNames(p.annotation, out);
      exprNames(p.default, out);
    }
    exprNames(fn.returnType, out);
    namesOfFunc.set(fn, out);
  }
  return out;
}

/** Names an expression mentions (see exprUses), by expression object. */
const namesOfExpr = new WeakMap<Expr, string[]>();

/** `exprUses` of an expression asked about often (registration calls), memoized. */
export function exprUsesKept(e: Expr, names: Set<string>): boolean {
  let list = namesOfExpr.get(e);
  if (!list) {
    const set = new Set<string>();
    exprNames(e, set);
    namesOfExpr.set(e, (list = [...set]));
  }
  for (const n of list) if (names.has(n)) return true;
  return false;
}

/** Whether a function's text (body, decorators, parameters, return type) mentions `names`. */
export function funcUses(fn: FuncFacts, names: Set<string>): boolean {
  // Every route's handler is asked after a graph edit: look the smaller set up in the larger.
  const own = funcNames(fn);
  if (names.size < own.size) {
    for (const n of names) if (own.has(n)) return true;
    return false;
  }
  for (const n of own) if (names.has(n)) return true;
  return false;
}

/**
 * A file's module-level definitions by the names they mention: name -> names defined by a
 * definition that mentions it (what `affectedNames` closes over), by facts object.
 */
const definitionsOf = new WeakMap<ModuleFacts, Map<string, string[]>>();

function dependentsOf(facts: ModuleFacts): Map<string, string[]> {
  let out = definitionsOf.get(facts);
  if (out) return out;
  out = new Map();
  const edge = (mentioned: Set<string>, defined: string[]) => {
    for (const m of mentioned) {
      const list = (out as Map<string, string[]>).get(m);
      if (list) list.push(...defined);
      else (out as Map<string, string[]>).set(m, [...defined]);
    }
  };
  const methods = new Map<string, FuncFacts[]>();
  for (const fn of facts.funcs) {
    if (fn.scope === '') continue;
    const top = fn.qualname.split('.')[0];
    const list = methods.get(top);
    if (list) list.push(fn);
    else methods.set(top, [fn]);
  }
  for (const a of facts.assigns) {
    if (a.scope !== '') continue;
    const m = new Set<string>();
    exprNames(a.value, m);
    edge(m, [a.target.split('.')[0]]);
  }
  for (const sa of facts.subscriptAssigns) {
    if (sa.scope !== '') continue;
    const m = new Set<string>();
    exprNames(sa.value, m);
    exprNames(sa.target, m);
    edge(m, JSON.stringify(sa.target).match(WORD) ?? []);
  }
  for (const fn of facts.funcs) if (fn.scope === '') edge(funcNames(fn), [fn.name]);
  for (const c of facts.classes) {
    if (c.scope !== '') continue;
    const m = new Set<string>();
    for (const b of c.bases) exprNames(b, m);
    for (const v of Object.values(c.attrs)) exprNames(v, m);
    for (const fn of methods.get(c.name) ?? []) for (const n of funcNames(fn)) m.add(n);
    edge(m, [c.name]);
  }
  definitionsOf.set(facts, out);
  return out;
}

/** A route's handler: its own text, and the module-level name it is reached through. */
function handlerUses(h: Handler, names: Set<string>): boolean {
  return names.has(h.fn.qualname.split('.')[0]) || funcUses(h.fn, names);
}

/**
 * Module-level names of the files importing X (and of X) whose value may differ after the
 * edit: names X's changed statements bind (and functions whose taint summary changed), then,
 * to a fixed point, names whose definition mentions one of them, in X and through imports in
 * the files importing it. `all`: files where any name may differ (a changed `__all__` or
 * wildcard import). The Workspace evaluator reaches other definitions only by name (in the
 * file, then through imports), so code that mentions none of these names evaluates as before.
 */
export interface AffectedNames {
  names: Map<WorkspaceFile, Set<string>>;
  all: Set<WorkspaceFile>;
}

export function affectedNames(
  imports: ImportGraph,
  X: WorkspaceFile,
  before: ModuleFacts,
): AffectedNames {
  const names = new Map<WorkspaceFile, Set<string>>();
  const all = new Set<WorkspaceFile>();
  const after = X.facts;
  const seeds = new Set<string>();
  const root = (target: string) => target.split('.')[0];
  /** Items present on one side only (new objects, or removed ones). */
  const diff = <T extends object>(a: T[], b: T[], each: (item: T) => void) => {
    const sa = new Set(a);
    const sb = new Set(b);
    for (const x of a) if (!sb.has(x)) each(x);
    for (const x of b) if (!sa.has(x)) each(x);
  };
  diff(before.imports, after.imports, (i) => {
    if (i.local === '*') all.add(X);
    seeds.add(i.local);
  });
  diff(before.assigns, after.assigns, (a) => {
    if (a.scope === '') seeds.add(root(a.target));
  });
  diff(before.funcs, after.funcs, (f) => seeds.add(f.qualname.split('.')[0]));
  diff(before.classes, after.classes, (c) => seeds.add(c.qualname.split('.')[0]));
  diff(before.subscriptAssigns, after.subscriptAssigns, (a) => {
    if (a.scope === '') for (const m of JSON.stringify(a.target).match(WORD) ?? []) seeds.add(m);
  });
  diff(before.taint?.funcs ?? [], after.taint?.funcs ?? [], (f) => seeds.add(f.q.split('.')[0]));
  const fieldsBefore = before.taint?.safeFields ?? {};
  const fieldsAfter = after.taint?.safeFields ?? {};
  for (const q of new Set([...Object.keys(fieldsBefore), ...Object.keys(fieldsAfter)]))
    if (fieldsBefore[q] !== fieldsAfter[q]) seeds.add(q.split('.')[0]);
  if (JSON.stringify(before.exportsAll) !== JSON.stringify(after.exportsAll)) all.add(X);
  names.set(X, seeds);

  /**
   * Names a file's own definitions add, given the names it has: to a fixed point (a
   * definition that mentions a changed name may evaluate differently).
   */
  const close = (F: WorkspaceFile, set: Set<string>): void => {
    const dependents = dependentsOf(F.facts);
    const todo = [...set];
    while (todo.length) {
      for (const d of dependents.get(todo.pop() as string) ?? [])
        if (!set.has(d)) {
          set.add(d);
          todo.push(d);
        }
    }
  };
  /** Package folders holding a file with changed names (`import pkg` reaches `pkg.mod.x`). */
  const changedDirs = new Set<string>();
  /** Note the folders above a file with changed names; the package files of new ones. */
  const noteDirs = (T: WorkspaceFile): WorkspaceFile[] => {
    const packages: WorkspaceFile[] = [];
    for (let d = path.dirname(T.abs); !changedDirs.has(d);) {
      changedDirs.add(d);
      const init = imports.file(path.join(d, '__init__.py'));
      if (init) packages.push(init);
      const up = path.dirname(d);
      if (up === d) break;
      d = up;
    }
    return packages;
  };
  /** Names a file imports from files with changed names (any scope). */
  const imported = (F: WorkspaceFile, set: Set<string>): void => {
    const changedIn = (T: WorkspaceFile | null) =>
      T !== null &&
      T !== F &&
      (all.has(T) ||
        (names.get(T)?.size ?? 0) > 0 ||
        // A package's module value reaches its submodules by attribute (moduleMember).
        (T.isPackage && changedDirs.has(path.dirname(T.abs))));
    for (const imp of F.facts.imports) {
      const { module: T, sub } = imports.targets(imp, F);
      if (imp.local === '*') {
        if (changedIn(T)) all.add(F);
        continue;
      }
      if (imp.name === null) {
        if (changedIn(T)) set.add(imp.local);
        continue;
      }
      const member = T && (all.has(T) || (names.get(T)?.has(imp.name) ?? false));
      // `from pkg import module`: the member may be a submodule.
      if (member || changedIn(sub)) set.add(imp.local);
    }
  };
  // Round by round (a file importing many changed files is looked at once per round, not
  // once per changed file): the fixed point is the same in any order.
  let todo: WorkspaceFile[] = [X];
  let next: WorkspaceFile[] = [];
  let queued = new Set<WorkspaceFile>();
  const enqueue = (G: WorkspaceFile) => {
    if (!queued.has(G)) {
      queued.add(G);
      next.push(G);
    }
  };
  for (const P of noteDirs(X)) for (const G of imports.importers(P)) enqueue(G);
  for (;;) {
    if (!todo.length) {
      if (!next.length) break;
      todo = next;
      next = [];
      queued = new Set();
    }
    const F = todo.pop() as WorkspaceFile;
    const set = names.get(F) ?? new Set<string>();
    const size = set.size;
    const wasAll = all.has(F);
    imported(F, set);
    if (set.size === size && all.has(F) === wasAll && F !== X) continue;
    close(F, set);
    names.set(F, set);
    for (const G of imports.importers(F)) enqueue(G);
    if (set.size || all.has(F))
      for (const P of noteDirs(F)) for (const G of imports.importers(P)) enqueue(G);
  }
  return { names, all };
}

/** Middleware names of every app and router, by object name. */
function middlewareOf(a: Analysis): Map<string, string> {
  const out = new Map<string, string>();
  for (const o of a.model.objects.values())
    out.set(o.name, JSON.stringify(o.middleware.map((m) => m.name)));
  return out;
}

function sameMap(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/**
 * The findings of `analysis` (made after an edit of `editedAbs`) from those of `prev`, re-running
 * the rules where the edit may have changed them. Null when `prev` cannot be reused.
 */
/** What combineIncremental found an edit may change, for the rescan of its analysis. */
export const namesOfEdit = new WeakMap<Analysis, { X: WorkspaceFile; affected: AffectedNames }>();

export function rescan(
  prev: WarmState,
  analysis: Analysis,
  relevance: Relevance,
  editedAbs: string,
  options: ProcessOptions,
  before?: ModuleFacts,
  /** Lines of X that the edit did not replace moved (names alone cannot say what changed). */
  moved = false,
): RescanResult | null {
  const ms: Record<string, number> = {};
  let tick = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    ms[name] = now - tick;
    tick = now;
  };
  const A0 = prev.analysis;
  const files0 = A0.files;
  const files1 = analysis.files;
  if (files0.length !== files1.length) return null;
  let X: WorkspaceFile | null = null;
  let oldFacts: ModuleFacts | null = null;
  for (let i = 0; i < files1.length; i++) {
    const a = files0[i];
    const b = files1[i];
    if (a.abs !== b.abs || a.rel !== b.rel || a.module !== b.module || a.isPackage !== b.isPackage)
      return null;
    if (b.abs === editedAbs) {
      X = b;
      // The session keeps the file objects and gives the facts before the edit.
      oldFacts = before ?? a.facts;
    } else if (a.facts !== b.facts) return null;
  }
  if (!X || !oldFacts) return null;
  const settings = ruleSettings(analysis, options.config);
  if (JSON.stringify(settings) !== JSON.stringify(prev.settings)) return null;

  // ---- routes: matched with the previous ones; changed or not ------------------------------
  // The n-th route at a place (file, line, path, methods) is the n-th one there before.
  const atPlace = new Map<string, Map<number, RouteRecord[]>>();
  for (const o of A0.records) {
    let byLine = atPlace.get(o.route.file);
    if (!byLine) atPlace.set(o.route.file, (byLine = new Map()));
    const list = byLine.get(o.route.line);
    if (list) list.push(o);
    else byLine.set(o.route.line, [o]);
  }
  /** New record -> previous record, and back. */
  const toOld = new Map<RouteRecord, RouteRecord>();
  const toNew = new Map<RouteRecord, RouteRecord>();
  for (const r of analysis.records) {
    const list = atPlace.get(r.route.file)?.get(r.route.line);
    const o = list?.find(
      (x) =>
        !toNew.has(x) &&
        x.route.path === r.route.path &&
        x.route.methods.length === r.route.methods.length &&
        x.route.methods.every((m, i) => m === r.route.methods[i]),
    );
    if (o) {
      toOld.set(r, o);
      toNew.set(o, r);
    }
  }
  // The import graph of the previous analysis, for the same files: only X's imports changed.
  const imports = prev.imports;
  imports.rebind(analysis.workspace, files1);
  imports.set(X);
  const upstream = imports.upstream(X);
  // With X's lines where they were, what its edit may change is known name by name.
  const known = namesOfEdit.get(analysis);
  const affected =
    moved || oldFacts.lineCount !== X.facts.lineCount
      ? null
      : known?.X === X
        ? known.affected
        : affectedNames(imports, X, oldFacts);
  /** Whether what rules evaluate from a file may differ (its file imports X, directly or not). */
  const reaches = (file: WorkspaceFile, uses: (names: Set<string>) => boolean): boolean => {
    if (!upstream.has(file)) return false;
    if (!affected || affected.all.has(file)) return true;
    const names = affected.names.get(file);
    return names !== undefined && names.size > 0 && uses(names);
  };
  // Dependencies defined in X are read from its facts (AUTH010 reads their parameters): by
  // the line of their definition, those that changed.
  const changedDefs = new Set<number>();
  if (affected) {
    const newFuncs = new Set(X.facts.funcs);
    const oldFuncs = new Set(oldFacts.funcs);
    const newClasses = new Set(X.facts.classes);
    const oldClasses = new Set(oldFacts.classes);
    for (const f of X.facts.funcs) if (!oldFuncs.has(f)) changedDefs.add(f.line);
    for (const f of oldFacts.funcs) if (!newFuncs.has(f)) changedDefs.add(f.line);
    for (const c of X.facts.classes) if (!oldClasses.has(c)) changedDefs.add(c.line);
    for (const c of oldFacts.classes) if (!newClasses.has(c)) changedDefs.add(c.line);
  }
  const defChanged = (line: number | null): boolean =>
    !affected || line === null || changedDefs.has(line);
  lap('match');
  const same = new Map<object, object>();
  const depMemo = new Map<DependencyNode, boolean>();
  const changed = new Set<RouteRecord>();
  for (const r of analysis.records) {
    const o = toOld.get(r);
    if (
      !o ||
      (r.handler !== null &&
        reaches(r.handler.file, (names) => handlerUses(r.handler as Handler, names))) ||
      (r.reg !== null &&
        reaches(r.reg.file, (names) => exprUsesKept((r.reg as RouteReg).call, names))) ||
      (r.handler?.fn ?? null) !== (o.handler?.fn ?? null) ||
      (r.handler?.file.rel ?? null) !== (o.handler?.file.rel ?? null) ||
      (r.reg?.call ?? null) !== (o.reg?.call ?? null) ||
      (r.reg?.file.rel ?? null) !== (o.reg?.file.rel ?? null) ||
      r.route.auth.some((a) => a.file === X.rel && defChanged(a.line)) ||
      nodesIn(r.route.dependencies, X.rel, defChanged, depMemo) ||
      !sameData(r.route, o.route, same)
    )
      changed.add(r);
  }
  // The routes that did not change keep their order (ties between equally exposed routes go
  // to the first one).
  const oldIndex = new Map<RouteRecord, number>();
  A0.records.forEach((r, i) => oldIndex.set(r, i));
  let last = -1;
  for (const r of analysis.records) {
    if (changed.has(r)) continue;
    const i = oldIndex.get(toOld.get(r) as RouteRecord) as number;
    if (i < last) return null;
    last = i;
  }
  /** Previous records whose findings are not kept. */
  const gone = new Set<RouteRecord>();
  for (const o of A0.records) {
    const n = toNew.get(o);
    if (!n || changed.has(n)) gone.add(o);
  }
  lap('diff');

  // ---- the new store -------------------------------------------------------------------------
  const byHandler = routesByHandler(analysis.records);
  const localFindings = new Map(files1.map((f) => [f.rel, f.facts.local ?? []]));
  const store = new FindingStore();
  const touched = new Set<string>([X.rel]);
  const prevStore = prev.store;
  for (const f of files1) {
    const raws = f.facts.local?.length ? localRaw(f, byHandler) : [];
    const old = prevStore.local.get(f.rel) ?? [];
    if (raws.length !== old.length || raws.some((r, i) => r !== old[i])) touched.add(f.rel);
    if (raws.length) store.setLocal(f.rel, raws);
  }
  // Findings about changed routes are in the route's file and in its handler's (file rules).
  for (const r of changed) {
    touched.add(r.route.file);
    if (r.handler) touched.add(r.handler.file.rel);
  }
  for (const o of gone) {
    touched.add(o.route.file);
    if (o.handler) touched.add(o.handler.file.rel);
  }
  const appMiddlewareChanged = !sameMap(middlewareOf(A0), middlewareOf(analysis));
  const scopeOf = (rule: WorkspaceRule): ColdScope => {
    if (rule.reach.readsAppMiddleware && appMiddlewareChanged) return 'global';
    return rule.reach.cold;
  };
  // Previous findings of a rule that any previous record or file had: by rule, in order.
  const oldOf = (code: string): RawFinding[] => {
    const out: RawFinding[] = [];
    for (const list of prevStore.ws.get(code)?.values() ?? []) for (const r of list) out.push(r);
    return out;
  };
  const order = new Map<RouteRecord, number>();
  analysis.records.forEach((r, i) => order.set(r, i));
  const base = { analysis, settings, localFindings };
  const changedList = analysis.records.filter((r) => changed.has(r));
  /** Keep a previous finding: its route, if any, must be a clean one (moved to the new record). */
  const carry = (raw: RawFinding, out: RawFinding[]): boolean => {
    if (!raw.finding.route) return false;
    const o = raw.owner;
    const n = o ? toNew.get(o) : undefined;
    if (!o || !n || gone.has(o)) return false;
    raw.owner = n;
    out.push(raw);
    return true;
  };
  const dropped = (raws: RawFinding[], kept: RawFinding[]) => {
    const keep = new Set(kept);
    for (const r of raws) if (!keep.has(r)) touched.add(r.finding.file);
  };
  const add = (raws: RawFinding[]) => {
    for (const f of store.addWorkspace(raws)) touched.add(f);
  };
  const position = (r: RawFinding) =>
    (r.owner ? order.get(r.owner) : undefined) ?? Number.MAX_SAFE_INTEGER;
  const byOrder = (raws: RawFinding[]) => raws.sort((a, b) => position(a) - position(b));
  /** Re-run a rule on every route and file; all its previous findings go. */
  const runEverywhere = (rule: WorkspaceRule, old: RawFinding[]): void => {
    const raws = runWorkspaceRule(rule, { ...base, routes: analysis.records });
    setOwners(raws, analysis.records);
    dropped(old, []);
    add(raws);
  };
  const taintRules: WorkspaceRule[] = [];
  for (const rule of WORKSPACE_RULES) {
    const code = rule.meta.code;
    let scope = scopeOf(rule);
    const old = oldOf(code);
    // Per-route findings always name their route; if one does not, start again.
    if ((scope === 'route' || scope === 'group') && old.some((r) => !r.owner)) scope = 'global';
    if (scope === 'taint') {
      taintRules.push(rule);
      continue;
    }
    if (scope === 'global') {
      runEverywhere(rule, old);
      continue;
    }
    if (scope === 'route' || scope === 'group') {
      let routes = changedList;
      if (scope === 'group') {
        const groups = new Set<string>();
        for (const r of changed) groups.add(groupKey(r));
        for (const o of gone) groups.add(groupKey(o));
        routes = analysis.records.filter((r) => groups.has(groupKey(r)));
      }
      const rerun = new Set(routes);
      const kept: RawFinding[] = [];
      for (const raw of old) {
        const n = raw.owner ? toNew.get(raw.owner) : undefined;
        if (n && !rerun.has(n)) carry(raw, kept);
      }
      let fresh: RawFinding[] = [];
      if (routes.length) {
        fresh = runWorkspaceRule(rule, {
          ...base,
          analysis: { ...analysis, records: routes },
          routes,
        });
        setOwners(fresh, routes);
        fresh = fresh.filter((raw) => raw.owner !== undefined && rerun.has(raw.owner));
      }
      dropped(old, kept);
      // As a full run reports them: in route order.
      const all = byOrder([...kept, ...fresh]);
      store.addWorkspace(all);
      for (const raw of fresh) touched.add(raw.finding.file);
      continue;
    }
    // Per-file rules: re-run on X (file) or on the files importing it (upstream) that may
    // evaluate differently.
    const files =
      scope === 'file'
        ? new Set([X])
        : new Set([...upstream].filter((f) => f === X || reaches(f, () => true)));
    const rels = new Set([...files].map((f) => f.rel));
    const kept = old.filter((raw) => !rels.has(raw.finding.file));
    for (const raw of kept) {
      // Per-file findings may name a route: it must be a clean one.
      if (raw.finding.route && !carry(raw, [])) {
        scope = 'global';
        break;
      }
    }
    if (scope === 'global') {
      runEverywhere(rule, old);
      continue;
    }
    const fresh = runWorkspaceRule(rule, {
      ...base,
      analysis: { ...analysis, files: files1.filter((f) => files.has(f)) },
      routes: analysis.records,
    });
    setOwners(fresh, analysis.records);
    dropped(old, kept);
    store.addWorkspace(kept);
    add(fresh);
  }
  lap('rules');

  // ---- taint: the changed routes, merged with the findings of the others ------------------
  const state: WarmState = {
    analysis,
    relevance,
    store,
    byHandler,
    settings,
    localFindings,
    imports,
    authDependencies: prev.authDependencies,
    refs: new Map(),
    order,
  };
  if (taintRules.length) {
    const T = new Set(changedList.filter((r) => r.handler && r.route.kind !== 'mount'));
    const reach = new Reach(imports);
    const taintFiles = reach.of([...T].map((r) => (r.handler as { file: WorkspaceFile }).file));
    taintFiles.add(X);
    const taintRels = new Set([...taintFiles].map((f) => f.rel));
    const codes = new Set(taintRules.map((r) => r.meta.code));
    const kept: RawFinding[] = [];
    const old: RawFinding[] = [];
    const droppedWinners: RawFinding[] = [];
    for (const code of codes) {
      for (const raw of oldOf(code)) {
        old.push(raw);
        if (!raw.finding.route) {
          // `eval` without a route: recomputed for the files the taint pass looks at.
          if (!taintRels.has(raw.finding.file)) kept.push(raw);
          continue;
        }
        // A taint finding names the route it is reported for (else: start again).
        if (!raw.owner) return null;
        if (gone.has(raw.owner)) droppedWinners.push(raw);
        else carry(raw, kept);
      }
    }
    dropped(old, kept);
    store.addWorkspace(kept);
    for (const f of mergeTaint(
      state,
      analysis,
      X,
      taintRules,
      T,
      taintFiles,
      droppedWinners,
      reach,
      // Routes left alone may reach unchanged code of X (name by name).
      affected !== null,
    ))
      touched.add(f);
  }
  lap('taint');

  // ---- processed findings: again for the touched files, as they were for the others -------
  const byRel = new Map(files1.map((f) => [f.rel, f]));
  const files = store.rawFiles();
  const again = [...files].filter((rel) => touched.has(rel));
  for (const rel of files)
    if (!touched.has(rel)) {
      const list = prevStore.processed.get(rel);
      if (list) store.processed.set(rel, list);
      else again.push(rel);
    }
  store.reprocess(again, byRel, options);
  // Files that had findings and have none now.
  for (const rel of prevStore.processed.keys()) if (!files.has(rel)) touched.add(rel);
  lap('process');
  return { state, touched, stats: { changedRoutes: changed.size, ms } };
}
