import type { DepUse } from '../dependencies';
import { exprText } from '../dependencies';
import { dottedName, type Expr, type ParamFacts } from '../facts';
import type { Analysis } from '../index';
import type { RouterObj } from '../model';
import type { AuthLevel } from '../types';
import type { Value, WorkspaceFile } from '../workspace';
import type { NameRequest } from './imports';

/**
 * How the project already authenticates routes, so a quick fix can write the same thing: the
 * auth dependencies in use (most used first), the `Annotated` alias the project defined for
 * them, and the parameter name and type its handlers give them.
 */

/** A module-level name the fix can import. */
export interface Importable {
  module: string;
  name: string;
  /** Where it is defined (absolute path, 1-based line). */
  abs: string;
  line: number;
}

export interface ParamStyle {
  /** `current_user` */
  name: string;
  /** Type text and what to import for it (null: a builtin or already local), or no type. */
  annotation: { text: string; imports: NameRequest[] } | null;
  /** `Annotated[User, Depends(f)]` written inline rather than with `= Depends(f)`. */
  inlineAnnotated: boolean;
}

export interface AuthChoice {
  /** Canonical callable id (`app.api.deps:get_current_user`). */
  id: string;
  /** What goes inside `Depends(...)`, or null when it cannot be imported by name. */
  dep: Importable | null;
  /** Routes it protects now. */
  uses: number;
  confidence: 'high' | 'low';
  /**
   * `CurrentUser = Annotated[User, Depends(get_current_user)]`, when the project has one, with
   * the parameter name handlers most often give it.
   */
  alias: (Importable & { uses: number; paramName: string }) | null;
  param: ParamStyle | null;
  levels: Record<'parameter' | 'decorator' | 'router', number>;
}

export interface AuthStyle {
  /** Best first. */
  choices: AuthChoice[];
  /** Something authenticates somewhere (even when it cannot be referenced by a fix). */
  hasAuth: boolean;
  /** The project adds auth in `dependencies=[...]` more often than as a parameter. */
  preferDecorator: boolean;
}

const BUILTIN_TYPES = new Set(['dict', 'str', 'int', 'object', 'list', 'bool', 'Any']);

/** The module-level name a value is bound to, if any. */
export function importableOf(v: Value): Importable | null {
  switch (v.t) {
    case 'func':
      return v.fn.scope === ''
        ? { module: v.file.module, name: v.fn.name, abs: v.file.abs, line: v.fn.line }
        : null;
    case 'class':
      return v.cls.scope === ''
        ? { module: v.file.module, name: v.cls.name, abs: v.file.abs, line: v.cls.line }
        : null;
    case 'instance': {
      const a = v.file.facts.assigns.find(
        (x) =>
          x.scope === '' &&
          x.value.k === 'call' &&
          x.value.line === v.call.line &&
          x.value.col === v.call.col &&
          /^[A-Za-z_]\w*$/.test(x.target),
      );
      return a ? { module: v.file.module, name: a.target, abs: v.file.abs, line: a.line } : null;
    }
    default:
      return null;
  }
}

/** Imports that make a type annotation (a simple name) usable in another file. */
function annotationImports(analysis: Analysis, file: WorkspaceFile, scope: string, ann: Expr) {
  if (ann.k !== 'name') return null;
  if (BUILTIN_TYPES.has(ann.id)) return { text: ann.id, imports: [] };
  const v = analysis.workspace.eval({ file, scope }, ann);
  const imp = importableOf(v);
  if (imp) return { text: ann.id, imports: [{ module: imp.module, name: imp.name }] };
  if (v.t === 'external' && !v.qname.startsWith('builtins.') && v.qname.includes('.')) {
    const i = v.qname.lastIndexOf('.');
    const name = v.qname.slice(i + 1);
    if (name === ann.id && !v.qname.includes('()'))
      return { text: ann.id, imports: [{ module: v.qname.slice(0, i), name }] };
  }
  return null;
}

interface Tally {
  choice: AuthChoice;
  params: Map<string, { style: ParamStyle; count: number }>;
  aliases: Map<string, Importable & { uses: number; paramName: string }>;
  aliasParams: Map<string, number>;
}

function isAnnotatedHead(e: Expr): boolean {
  const head = e.k === 'sub' ? dottedName(e.obj) : null;
  return !!head && /(^|\.)Annotated$/.test(head);
}

/** The project's auth dependencies and how it writes them. */
export function projectAuthStyle(analysis: Analysis): AuthStyle {
  const { deps, workspace: ws } = analysis;
  const tallies = new Map<string, Tally>();
  let hasAuth = false;

  const tallyFor = (use: DepUse, confidence: 'high' | 'low'): Tally => {
    const id = deps.callableId(use.value, use.refName);
    let t = tallies.get(id);
    if (!t) {
      t = {
        choice: {
          id,
          dep: importableOf(use.value),
          uses: 0,
          confidence,
          alias: null,
          param: null,
          levels: { parameter: 0, decorator: 0, router: 0 },
        },
        params: new Map(),
        aliases: new Map(),
        aliasParams: new Map(),
      };
      tallies.set(id, t);
    }
    if (confidence === 'high') t.choice.confidence = 'high';
    return t;
  };

  const routersByName = new Map<string, RouterObj>();
  for (const obj of analysis.model.objects.values()) routersByName.set(obj.name, obj);

  for (const record of analysis.records) {
    if (!record.reg || record.route.kind === 'mount') continue;
    const seen = new Set<string>();
    const uses: { use: DepUse; level: AuthLevel; param?: ParamFacts }[] = [];
    if (record.handler) {
      const ctx = { file: record.handler.file, scope: record.handler.fn.scope };
      for (const p of record.handler.fn.params) {
        const use = deps.paramUse(ctx, p);
        if (use) uses.push({ use, level: 'parameter', param: p });
      }
    }
    for (const use of record.reg.dependencies) uses.push({ use, level: 'decorator' });
    for (const name of record.route.routers) {
      const obj = routersByName.get(name);
      if (obj?.kind === 'router')
        for (const use of obj.dependencies) uses.push({ use, level: 'router' });
    }
    for (const { use, level, param } of uses) {
      const a = deps.analyze(use, level);
      // A dependency named like auth is still the project's likely auth dependency to suggest
      // (low confidence), even though the route does not count it as protection.
      if (!a.verdict || !(a.verdict.enforcing || a.verdict.basis === 'name')) continue;
      hasAuth = true;
      const t = tallyFor(use, a.verdict.confidence);
      if (!seen.has(t.choice.id)) {
        seen.add(t.choice.id);
        t.choice.uses++;
      }
      if (level === 'parameter' || level === 'decorator' || level === 'router')
        t.choice.levels[level]++;
      if (!param || !record.handler) continue;
      const file = record.handler.file;
      const scope = record.handler.fn.scope;
      // Through an alias: `user: CurrentUser`.
      if (
        param.annotation &&
        (param.annotation.k === 'name' || param.annotation.k === 'attr') &&
        !param.default
      ) {
        const v = ws.eval({ file, scope }, param.annotation);
        if (v.t === 'annotated') {
          const aliasName = v.alias || exprText(param.annotation).split('.').pop() || '';
          const assign = v.file.facts.assigns.find((x) => x.scope === '' && x.target === aliasName);
          if (assign) {
            const key = `${v.file.module}:${aliasName}`;
            const entry = t.aliases.get(key) ?? {
              module: v.file.module,
              name: aliasName,
              abs: v.file.abs,
              line: assign.line,
              uses: 0,
              paramName: '',
            };
            entry.uses++;
            t.aliases.set(key, entry);
          }
          t.aliasParams.set(param.name, (t.aliasParams.get(param.name) ?? 0) + 1);
          continue;
        }
      }
      // Inline `Annotated[User, Depends(f)]` or `user: User = Depends(f)`.
      const inline = !!param.annotation && isAnnotatedHead(param.annotation);
      const typeExpr =
        inline && param.annotation?.k === 'sub'
          ? (param.annotation.idx[0] ?? null)
          : param.annotation;
      const annotation = typeExpr ? annotationImports(analysis, file, scope, typeExpr) : null;
      countParam(t, { name: param.name, annotation, inlineAnnotated: inline });
    }
  }

  // Auth dependencies defined but used by no route yet, and Annotated aliases of them.
  const handlers = new Set(analysis.records.map((r) => r.handler?.fn));
  for (const file of ws.files.values()) {
    if (!file.facts.fastapiRelated) continue;
    for (const fn of file.facts.funcs) {
      if (fn.scope !== '' || handlers.has(fn)) continue;
      if (!fn.params.some((p) => p.default?.k === 'call' || p.annotation?.k === 'sub')) {
        // Quick filter: an auth dependency reads credentials through a parameter dependency,
        // or rejects with 401/403 itself.
        if (!/401|403|UNAUTHORIZED|FORBIDDEN/.test(fn.mentions.join(' '))) continue;
      }
      const v: Value = { t: 'func', file, fn };
      const id = deps.callableId(v, fn.name);
      if (tallies.has(id)) continue;
      const verdict = deps.verdict(v, id, new Set());
      if (!verdict || !verdict.enforcing || verdict.confidence !== 'high') continue;
      hasAuth = true;
      tallies.set(id, {
        choice: {
          id,
          dep: importableOf(v),
          uses: 0,
          confidence: 'high',
          alias: null,
          param: null,
          levels: { parameter: 0, decorator: 0, router: 0 },
        },
        params: new Map(),
        aliases: new Map(),
        aliasParams: new Map(),
      });
    }
    for (const a of file.facts.assigns) {
      if (a.scope !== '' || !isAnnotatedHead(a.value) || !/^[A-Za-z_]\w*$/.test(a.target)) continue;
      const use = deps.paramUse(
        { file, scope: '' },
        { name: a.target, annotation: a.value, default: null, variadic: false },
      );
      if (!use) continue;
      const t = tallies.get(deps.callableId(use.value, use.refName));
      if (!t) continue;
      const key = `${file.module}:${a.target}`;
      if (!t.aliases.has(key))
        t.aliases.set(key, {
          module: file.module,
          name: a.target,
          abs: file.abs,
          line: a.line,
          uses: 0,
          paramName: '',
        });
    }
  }

  const choices: AuthChoice[] = [];
  for (const t of tallies.values()) {
    const aliases = [...t.aliases.values()].sort((a, b) => b.uses - a.uses || a.line - b.line);
    const aliasParam = [...t.aliasParams.entries()].sort((a, b) => b[1] - a[1])[0];
    t.choice.alias = aliases[0]
      ? { ...aliases[0], paramName: aliasParam ? aliasParam[0] : 'current_user' }
      : null;
    const params = [...t.params.values()].sort((a, b) => b.count - a.count);
    // The most common typed form; the most common form when no use has a usable type.
    t.choice.param = (params.find((p) => p.style.annotation !== null) ?? params[0])?.style ?? null;
    choices.push(t.choice);
  }
  choices.sort(
    (a, b) =>
      b.uses - a.uses ||
      (a.confidence === b.confidence ? 0 : a.confidence === 'high' ? -1 : 1) ||
      Number(/current_?user/i.test(b.id)) - Number(/current_?user/i.test(a.id)) ||
      Number(b.dep !== null) - Number(a.dep !== null) ||
      a.id.localeCompare(b.id),
  );
  let decorator = 0;
  let parameter = 0;
  for (const c of choices) {
    decorator += c.levels.decorator;
    parameter += c.levels.parameter;
  }
  return { choices, hasAuth, preferDecorator: decorator > parameter };
}

function countParam(t: Tally, style: ParamStyle): void {
  const key = `${style.name}|${style.annotation?.text ?? ''}|${style.inlineAnnotated}`;
  const entry = t.params.get(key);
  if (entry) entry.count++;
  else t.params.set(key, { style, count: 1 });
}
