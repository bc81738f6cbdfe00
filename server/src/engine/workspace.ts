import * as path from 'node:path';
import type { AssignFacts, ClassFacts, Expr, FuncFacts, ImportFacts, ModuleFacts } from './facts';

/**
 * The workspace: every analysed file's facts, a Python module index over them, and an evaluator
 * that resolves names across files (imports, re-exports, aliases, factory functions) to values.
 */

export interface WorkspaceFile {
  /** Absolute path. */
  abs: string;
  /** POSIX path relative to the report's cwd. */
  rel: string;
  /** Canonical dotted module name, as Python would import it from its source root. */
  module: string;
  isPackage: boolean;
  facts: ModuleFacts;
}

export type CallExpr = Expr & { k: 'call' };

export type Value =
  | { t: 'func'; file: WorkspaceFile; fn: FuncFacts }
  | { t: 'class'; file: WorkspaceFile; cls: ClassFacts }
  | {
      t: 'instance';
      /** The class called: a workspace class or an external symbol. */
      of: Value;
      /**
       * Stable identity: where the creating call is (`rel:line:col`), read from the call's
       * facts each time, so that it follows them when an edit moves lines (warm.ts).
       */
      readonly id: string;
      call: CallExpr;
      file: WorkspaceFile;
      scope: string;
    }
  | { t: 'external'; qname: string }
  | { t: 'module'; file: WorkspaceFile }
  | { t: 'annotated'; expr: Expr & { k: 'sub' }; file: WorkspaceFile; scope: string; alias: string }
  | { t: 'list'; items: Value[] }
  | { t: 'str'; v: string }
  | { t: 'param'; file: WorkspaceFile; fn: FuncFacts; name: string }
  | { t: 'unknown'; why: string };

export interface EvalCtx {
  file: WorkspaceFile;
  scope: string;
  /**
   * Values of the scope function's parameters at one call site, when a registration helper
   * (`def add_routers(app): app.include_router(...)`) is evaluated for that call.
   */
  bindings?: Map<string, Value>;
}

type Binding =
  | { kind: 'assign'; line: number; cond: boolean; a: AssignFacts }
  | { kind: 'func'; line: number; cond: boolean; fn: FuncFacts }
  | { kind: 'class'; line: number; cond: boolean; cls: ClassFacts }
  | { kind: 'import'; line: number; cond: boolean; imp: ImportFacts }
  | { kind: 'param'; line: number; cond: boolean; fn: FuncFacts };

interface FileIndex {
  /** scope -> name -> bindings in source order. */
  scopes: Map<string, Map<string, Binding[]>>;
  funcsByQualname: Map<string, FuncFacts>;
  classesByQualname: Map<string, ClassFacts>;
  wildcardImports: ImportFacts[];
}

const MAX_EVAL_DEPTH = 40;

/** Placeholders of names being evaluated (a lookup that meets one closed a cycle). */
const PENDING = new WeakSet<Value>();

export class Workspace {
  readonly files = new Map<string, WorkspaceFile>();
  private readonly byModule = new Map<string, WorkspaceFile[]>();
  private readonly byPath = new Map<string, WorkspaceFile>();
  private readonly index = new Map<WorkspaceFile, FileIndex>();
  /**
   * Values of names by file (absolute path), scope and name: nested maps, so that a lookup
   * hashes strings that already exist (and keep their hash) instead of building a key.
   */
  private readonly nameCache = new Map<string, Map<string, Map<string, Value>>>();
  /**
   * A lookup met a definition cycle or the depth limit: what it cached depends on the order
   * names were asked in, so the cache must not be reused by another analysis.
   */
  orderSensitive = false;

  constructor(files: WorkspaceFile[]) {
    for (const f of files) this.addFile(f);
  }

  private addFile(f: WorkspaceFile): void {
    this.files.set(f.abs, f);
    this.byPath.set(f.abs, f);
    // Register every dotted suffix: `src/pkg/a.py` is reachable as `pkg.a` or `src.pkg.a`
    // depending on the source root in use; the canonical name is preferred on lookup.
    const parts = f.module.split('.');
    for (let i = 0; i < parts.length; i++) {
      const name = parts.slice(i).join('.');
      const list = this.byModule.get(name);
      if (list) list.push(f);
      else this.byModule.set(name, [f]);
    }
    this.index.set(f, buildIndex(f.facts));
  }

  fileIndex(f: WorkspaceFile): FileIndex {
    return this.index.get(f) as FileIndex;
  }

  func(f: WorkspaceFile, qualname: string): FuncFacts | undefined {
    return this.fileIndex(f).funcsByQualname.get(qualname);
  }

  cls(f: WorkspaceFile, qualname: string): ClassFacts | undefined {
    return this.fileIndex(f).classesByQualname.get(qualname);
  }

  /** Resolve an absolute module name as seen from `from`. */
  resolveModule(name: string, from: WorkspaceFile | null): WorkspaceFile | null {
    const candidates = this.byModule.get(name);
    if (!candidates || candidates.length === 0) return null;
    if (candidates.length === 1) return candidates[0];
    const exact = candidates.filter((c) => c.module === name);
    const pool = exact.length ? exact : candidates;
    if (!from || pool.length === 1) return pool[0];
    // Several files claim the name (e.g. two services each with `app.main`): take the closest.
    let best = pool[0];
    let bestScore = -1;
    for (const c of pool) {
      const score = commonPrefixLength(c.abs, from.abs);
      if (score > bestScore) {
        best = c;
        bestScore = score;
      }
    }
    return best;
  }

  private fileAt(dir: string, dotted: string): WorkspaceFile | null {
    const base = path.join(dir, ...dotted.split('.').filter(Boolean));
    return this.byPath.get(`${base}.py`) ?? this.byPath.get(path.join(base, '__init__.py')) ?? null;
  }

  private packageDir(f: WorkspaceFile): string {
    return path.dirname(f.abs);
  }

  /** The module an import statement names, or null when it is outside the workspace. */
  importedModule(imp: ImportFacts, from: WorkspaceFile): WorkspaceFile | null {
    if (imp.level > 0) {
      let dir = this.packageDir(from);
      for (let i = 1; i < imp.level; i++) dir = path.dirname(dir);
      if (!imp.module) return this.byPath.get(path.join(dir, '__init__.py')) ?? null;
      return this.fileAt(dir, imp.module);
    }
    return this.resolveModule(imp.module, from);
  }

  /** Member `name` of module file `m`: a module-level binding, else a submodule. */
  moduleMember(m: WorkspaceFile, name: string, depth: number): Value {
    const binding = pickBinding(this.fileIndex(m).scopes.get('')?.get(name));
    if (binding) return this.bindingValue(m, '', name, binding, depth + 1);
    if (m.isPackage) {
      const sub = this.fileAt(path.dirname(m.abs), name);
      if (sub) return { t: 'module', file: sub };
    }
    for (const w of this.fileIndex(m).wildcardImports) {
      const target = this.importedModule(w, m);
      if (target && target !== m) {
        const v = this.moduleMember(target, name, depth + 1);
        if (v.t !== 'unknown') return v;
      } else if (!target && w.level === 0) {
        return { t: 'unknown', why: `${name} may come from \`from ${w.module} import *\`` };
      }
    }
    return { t: 'unknown', why: `${m.module} has no name ${name}` };
  }

  /** Evaluate a name as seen from a scope: local scopes outward, then module, then imports. */
  lookup(ctx: EvalCtx, name: string, depth = 0): Value {
    if (ctx.bindings?.has(name)) {
      const b = pickBinding(this.fileIndex(ctx.file).scopes.get(ctx.scope)?.get(name));
      if (b && b.kind === 'param') return ctx.bindings.get(name) as Value;
    }
    let byScope = this.nameCache.get(ctx.file.abs);
    if (!byScope) this.nameCache.set(ctx.file.abs, (byScope = new Map()));
    let names = byScope.get(ctx.scope);
    if (!names) byScope.set(ctx.scope, (names = new Map()));
    const cached = names.get(name);
    if (cached) {
      if (cached.t === 'unknown' && PENDING.has(cached)) this.orderSensitive = true;
      return cached;
    }
    if (depth > MAX_EVAL_DEPTH) {
      this.orderSensitive = true;
      return { t: 'unknown', why: `${name}: resolution too deep` };
    }
    // Guard against cycles (`a = b; b = a`, circular imports).
    const pending: Value = { t: 'unknown', why: `${name}: circular definition` };
    PENDING.add(pending);
    names.set(name, pending);
    const value = this.lookupUncached(ctx, name, depth);
    names.set(name, value);
    return value;
  }

  /** Forget the values of names looked up in a file's scopes (null: in every file). */
  forgetNames(abs: string | null): void {
    if (abs === null) this.nameCache.clear();
    else this.nameCache.delete(abs);
  }

  /** The name cache of a file's scopes (scope -> name -> value), for another analysis. */
  cachedNamesOf(abs: string): Map<string, Map<string, Value>> | undefined {
    return this.nameCache.get(abs);
  }

  /** Take values of names another analysis computed (incremental/combine.ts decides which). */
  seedNames(abs: string, byScope: Map<string, Map<string, Value>>): void {
    this.nameCache.set(abs, byScope);
  }

  private lookupUncached(ctx: EvalCtx, name: string, depth: number): Value {
    const idx = this.fileIndex(ctx.file);
    for (const scope of enclosingScopes(ctx.scope)) {
      const binding = pickBinding(idx.scopes.get(scope)?.get(name));
      if (binding) return this.bindingValue(ctx.file, scope, name, binding, depth + 1);
    }
    for (const w of idx.wildcardImports) {
      const target = this.importedModule(w, ctx.file);
      if (target && target !== ctx.file) {
        const v = this.moduleMember(target, name, depth + 1);
        if (v.t !== 'unknown') return v;
      }
    }
    if (BUILTINS.has(name)) return { t: 'external', qname: `builtins.${name}` };
    return { t: 'unknown', why: `name ${name} is not defined` };
  }

  private bindingValue(
    file: WorkspaceFile,
    scope: string,
    name: string,
    b: Binding,
    depth: number,
  ): Value {
    switch (b.kind) {
      case 'func':
        return { t: 'func', file, fn: b.fn };
      case 'class':
        return { t: 'class', file, cls: b.cls };
      case 'import':
        return this.importValue(file, b.imp, depth);
      case 'param':
        return { t: 'param', file, fn: b.fn, name };
      case 'assign': {
        const v = this.eval({ file, scope }, b.a.value, depth, name);
        if (b.a.iter) {
          // `for r in (a, b): app.include_router(r)`: the loop variable stands for every item.
          if (v.t === 'list') return v;
          return { t: 'unknown', why: `${name} iterates over something not literal` };
        }
        return v;
      }
    }
  }

  private importValue(file: WorkspaceFile, imp: ImportFacts, depth: number): Value {
    const m = this.importedModule(imp, file);
    if (imp.name === null) {
      if (m) return { t: 'module', file: m };
      if (imp.level > 0) return { t: 'unknown', why: `relative import .${imp.module} not found` };
      return { t: 'external', qname: imp.module };
    }
    if (m) {
      if (m === file) {
        // `from . import views` inside the package's own __init__.py: the submodule.
        const sub = m.isPackage ? this.fileAt(path.dirname(m.abs), imp.name) : null;
        return sub
          ? { t: 'module', file: sub }
          : { t: 'unknown', why: `${imp.name} imports itself` };
      }
      return this.moduleMember(m, imp.name, depth + 1);
    }
    if (imp.level > 0) {
      // `from . import users` where `users` is a sibling module (package without __init__.py).
      let dir = path.dirname(file.abs);
      for (let i = 1; i < imp.level; i++) dir = path.dirname(dir);
      const sub = this.fileAt(dir, imp.module ? `${imp.module}.${imp.name}` : imp.name);
      if (sub) return { t: 'module', file: sub };
      return { t: 'unknown', why: `relative import of ${imp.name} not found` };
    }
    // `from pkg import mod` where only pkg/mod.py exists in the workspace (namespace package).
    const sub = this.resolveModule(`${imp.module}.${imp.name}`, file);
    if (sub) return { t: 'module', file: sub };
    const top = imp.module.split('.')[0];
    if (this.resolveModule(top, file))
      return { t: 'unknown', why: `${imp.module} is not in the workspace, though ${top} is` };
    return { t: 'external', qname: `${imp.module}.${imp.name}` };
  }

  /** Evaluate an expression to a value. `alias` names the binding being evaluated, if any. */
  eval(ctx: EvalCtx, e: Expr, depth = 0, alias = ''): Value {
    if (depth > MAX_EVAL_DEPTH) {
      this.orderSensitive = true;
      return { t: 'unknown', why: 'expression too deep' };
    }
    switch (e.k) {
      case 'name':
        return this.lookup(ctx, e.id, depth + 1);
      case 'attr':
        return this.evalAttr(ctx, e, depth);
      case 'call': {
        const callee = this.eval(ctx, e.fn, depth + 1);
        return this.callValue(ctx, callee, e, depth);
      }
      case 'sub': {
        const head = this.eval(ctx, e.obj, depth + 1);
        if (head.t === 'external' && /(^|\.)Annotated$/.test(head.qname))
          return { t: 'annotated', expr: e, file: ctx.file, scope: ctx.scope, alias };
        if (head.t === 'unknown' && e.obj.k === 'name' && e.obj.id === 'Annotated')
          return { t: 'annotated', expr: e, file: ctx.file, scope: ctx.scope, alias };
        return { t: 'unknown', why: 'subscript' };
      }
      case 'list':
        return { t: 'list', items: e.items.map((i) => this.eval(ctx, i, depth + 1)) };
      case 'str':
        return { t: 'str', v: e.v };
      default:
        return { t: 'unknown', why: `expression ${e.k}` };
    }
  }

  private evalAttr(ctx: EvalCtx, e: Expr & { k: 'attr' }, depth: number): Value {
    // `self.router` inside a method: look at what any method of the class assigns to it.
    if (e.obj.k === 'name' && e.obj.id === 'self') {
      const fn = this.enclosingMethod(ctx);
      if (fn && fn.className) {
        const v = this.selfAttribute(ctx.file, fn.className, e.attr, depth);
        if (v) return v;
      }
    }
    const base = this.eval(ctx, e.obj, depth + 1);
    switch (base.t) {
      case 'module':
        return this.moduleMember(base.file, e.attr, depth + 1);
      case 'external':
        return { t: 'external', qname: `${base.qname}.${e.attr}` };
      case 'class': {
        const m = base.cls.methods[e.attr];
        if (m) {
          const fn = this.func(base.file, m);
          if (fn) return { t: 'func', file: base.file, fn };
        }
        const attr = base.cls.attrs[e.attr];
        if (attr) return this.eval({ file: base.file, scope: base.cls.scope }, attr, depth + 1);
        return { t: 'unknown', why: `${base.cls.name}.${e.attr}` };
      }
      case 'instance': {
        if (base.of.t === 'class') {
          const cls = base.of.cls;
          const m = cls.methods[e.attr];
          if (m) {
            const fn = this.func(base.of.file, m);
            if (fn) return { t: 'func', file: base.of.file, fn };
          }
          const attr = cls.attrs[e.attr];
          if (attr) return this.eval({ file: base.of.file, scope: cls.scope }, attr, depth + 1);
          const selfAttr = this.selfAttribute(base.of.file, cls.qualname, e.attr, depth);
          if (selfAttr) return selfAttr;
          return { t: 'unknown', why: `${cls.name}().${e.attr}` };
        }
        if (base.of.t === 'external')
          return { t: 'external', qname: `${base.of.qname}().${e.attr}` };
        return { t: 'unknown', why: `attribute ${e.attr}` };
      }
      default:
        return { t: 'unknown', why: `attribute ${e.attr} of unresolved value` };
    }
  }

  private enclosingMethod(ctx: EvalCtx): FuncFacts | undefined {
    let scope = ctx.scope;
    while (scope) {
      const fn = this.func(ctx.file, scope);
      if (fn?.className) return fn;
      const i = scope.lastIndexOf('.<locals>.');
      if (i < 0) return undefined;
      scope = scope.slice(0, i);
    }
    return undefined;
  }

  private selfAttribute(
    file: WorkspaceFile,
    classQualname: string,
    attr: string,
    depth: number,
  ): Value | null {
    const idx = this.fileIndex(file);
    const target = `self.${attr}`;
    for (const [scope, names] of idx.scopes) {
      if (!scope.startsWith(`${classQualname}.`)) continue;
      const b = pickBinding(names.get(target));
      if (b) return this.bindingValue(file, scope, target, b, depth + 1);
    }
    return null;
  }

  private callValue(ctx: EvalCtx, callee: Value, e: CallExpr, depth: number): Value {
    switch (callee.t) {
      case 'class':
      case 'external':
        return instanceValue(callee, e, ctx.file, ctx.scope);
      case 'func': {
        // A factory: `app = create_app()` is whatever `create_app` returns.
        for (const r of callee.fn.returns) {
          const v = this.eval({ file: callee.file, scope: callee.fn.qualname }, r.value, depth + 1);
          if (v.t !== 'unknown') return v;
        }
        return { t: 'unknown', why: `${callee.fn.name}() returns nothing we can follow` };
      }
      default:
        return { t: 'unknown', why: `call of unresolved ${e.text.split('(')[0]}` };
    }
  }

  /** Base classes of a workspace class, evaluated. */
  bases(file: WorkspaceFile, cls: ClassFacts): Value[] {
    return cls.bases.map((b) => this.eval({ file, scope: cls.scope }, b));
  }

  /**
   * External qualified names a class derives from (itself included for externals), following
   * workspace subclasses: `class VersionedRouter(APIRouter)` gives `fastapi.APIRouter`.
   */
  externalAncestors(v: Value, seen = new Set<string>()): string[] {
    if (v.t === 'external') return [v.qname];
    if (v.t !== 'class') return [];
    const key = `${v.file.abs}:${v.cls.qualname}`;
    if (seen.has(key)) return [];
    seen.add(key);
    return this.bases(v.file, v.cls).flatMap((b) => this.externalAncestors(b, seen));
  }

  /** Workspace classes in the ancestry (itself included). */
  workspaceAncestors(
    v: Value,
    seen = new Set<string>(),
  ): { file: WorkspaceFile; cls: ClassFacts }[] {
    if (v.t !== 'class') return [];
    const key = `${v.file.abs}:${v.cls.qualname}`;
    if (seen.has(key)) return [];
    seen.add(key);
    return [
      { file: v.file, cls: v.cls },
      ...this.bases(v.file, v.cls).flatMap((b) => this.workspaceAncestors(b, seen)),
    ];
  }

  /** A method found on a class or its workspace ancestors. */
  findMethod(v: Value, name: string): { file: WorkspaceFile; fn: FuncFacts } | null {
    for (const { file, cls } of this.workspaceAncestors(v)) {
      const q = cls.methods[name];
      if (q) {
        const fn = this.func(file, q);
        if (fn) return { file, fn };
      }
    }
    return null;
  }
}

/**
 * An object made by calling a class (workspace or external). Its id is computed from the call's
 * facts, which an edit that moves lines shifts in place: values cached anywhere in the
 * workspace keep a right id without being rewritten (walking every cached value took 4 to 5 ms
 * per line added at 100k lines).
 */
function instanceValue(of: Value, call: CallExpr, file: WorkspaceFile, scope: string): Value {
  return {
    t: 'instance',
    of,
    call,
    file,
    scope,
    get id() {
      return `${file.rel}:${call.line}:${call.col}`;
    },
  };
}

function commonPrefixLength(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** `a.<locals>.b` -> [`a.<locals>.b`, `a`, ``]. Class bodies do not enclose methods in Python. */
function enclosingScopes(scope: string): string[] {
  const out: string[] = [];
  let s = scope;
  for (;;) {
    out.push(s);
    if (!s) break;
    const i = s.lastIndexOf('.<locals>.');
    s = i < 0 ? '' : s.slice(0, i);
  }
  return out;
}

/** The binding that wins: the last unconditional one, else the last conditional one. */
function pickBinding(bindings: Binding[] | undefined): Binding | undefined {
  if (!bindings || bindings.length === 0) return undefined;
  for (let i = bindings.length - 1; i >= 0; i--) if (!bindings[i].cond) return bindings[i];
  return bindings[bindings.length - 1];
}

function buildIndex(facts: ModuleFacts): FileIndex {
  const scopes = new Map<string, Map<string, Binding[]>>();
  const add = (scope: string, name: string, b: Binding): void => {
    let names = scopes.get(scope);
    if (!names) scopes.set(scope, (names = new Map()));
    const list = names.get(name);
    if (list) list.push(b);
    else names.set(name, [b]);
  };
  const wildcardImports: ImportFacts[] = [];
  for (const imp of facts.imports) {
    if (imp.local === '*') {
      if (imp.scope === '') wildcardImports.push(imp);
      continue;
    }
    add(imp.scope, imp.local, { kind: 'import', line: imp.line, cond: false, imp });
  }
  for (const a of facts.assigns)
    add(a.scope, a.target, { kind: 'assign', line: a.line, cond: a.cond !== null, a });
  const funcsByQualname = new Map<string, FuncFacts>();
  for (const fn of facts.funcs) {
    funcsByQualname.set(fn.qualname, fn);
    // Parameters shadow outer names (`def register(app)` inside a module that has an `app`).
    for (const p of fn.params)
      add(fn.qualname, p.name, { kind: 'param', line: fn.line, cond: false, fn });
    if (fn.className === null)
      add(fn.scope, fn.name, { kind: 'func', line: fn.line, cond: fn.cond !== null, fn });
  }
  const classesByQualname = new Map<string, ClassFacts>();
  for (const cls of facts.classes) {
    classesByQualname.set(cls.qualname, cls);
    // Nested classes live in their class's attributes, not in a function scope.
    if (!cls.qualname.includes('.') || cls.qualname.endsWith(`<locals>.${cls.name}`))
      add(cls.scope, cls.name, { kind: 'class', line: cls.line, cond: false, cls });
  }
  for (const names of scopes.values())
    for (const list of names.values()) list.sort((a, b) => a.line - b.line);
  return { scopes, funcsByQualname, classesByQualname, wildcardImports };
}

const BUILTINS = new Set([
  'print',
  'len',
  'str',
  'int',
  'float',
  'bool',
  'dict',
  'list',
  'set',
  'tuple',
  'object',
  'Exception',
  'open',
  'eval',
  'exec',
  'compile',
  'getattr',
  'setattr',
  'isinstance',
  'range',
  'super',
]);
