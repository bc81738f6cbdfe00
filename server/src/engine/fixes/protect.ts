import type { FuncFacts } from '../facts';
import type { TextEdit } from '../findings';
import type { RouterObj } from '../model';
import type { RouteRecord } from '../routes';
import type { WorkspaceFile } from '../workspace';
import { planImports, requestKey, type NameRequest } from './imports';
import {
  callArguments,
  defParameters,
  insertIntoSequence,
  keywordName,
  keywordValue,
  paramShape,
  PySource,
  sequenceAt,
  type Insertion,
  type Sequence,
} from './pyText';
import type { AuthChoice, AuthStyle, Importable } from './style';
import { toEdits, type CodeFix, type FixContext } from './types';

/**
 * "Protect this route" and "protect the whole router": add the project's auth dependency as a
 * handler parameter (its `Annotated` alias when it has one), in the decorator's
 * `dependencies=[...]`, or in the router's constructor, with the imports it needs.
 */

const DEPENDS: NameRequest = { module: 'fastapi', name: 'Depends' };
const ANNOTATED: NameRequest = { module: 'typing', name: 'Annotated' };

/** Names bound at module level of a file (defs, classes, assignments), for clash checks. */
export function moduleLevelNames(file: WorkspaceFile): Set<string> {
  const names = new Set<string>();
  for (const f of file.facts.funcs) if (f.scope === '') names.add(f.name);
  for (const c of file.facts.classes) if (c.scope === '') names.add(c.name);
  for (const a of file.facts.assigns)
    if (a.scope === '' && !a.target.includes('.')) names.add(a.target);
  return names;
}

/** Something defined in `file` itself after `line` cannot be used at `line` (NameError). */
function usableAt(def: Importable, file: WorkspaceFile, line: number): boolean {
  return def.abs !== file.abs || def.line < line;
}

interface Planned {
  src: PySource;
  insertions: Insertion[];
  refs: Map<string, string>;
}

/** Plan imports of `requests` into `file`; null on a name clash or an unusable definition. */
function withImports(
  ctx: FixContext,
  file: WorkspaceFile,
  requests: NameRequest[],
  defs: Importable[],
  line: number,
): Planned | null {
  const text = ctx.sourceOf(file.abs);
  if (text === null) return null;
  if (defs.some((d) => !usableAt(d, file, line))) return null;
  const ws = ctx.analysis.workspace;
  const plan = planImports(
    text,
    {
      module: file.module,
      isPackage: file.isPackage,
      // Definitions are project code (a scaffolded module is not in the workspace yet).
      isLocal: (m) => ws.resolveModule(m, file) !== null || defs.some((d) => d.module === m),
    },
    requests,
    moduleLevelNames(file),
  );
  if (plan.conflict) return null;
  return { src: new PySource(text), insertions: plan.insertions, refs: plan.refs };
}

function ref(p: Planned, r: NameRequest): string {
  return p.refs.get(requestKey(r)) ?? r.name;
}

function depRequest(dep: Importable): NameRequest {
  return { module: dep.module, name: dep.name };
}

function uniqueName(wanted: string, taken: Set<string>): string {
  for (const candidate of [wanted, 'current_user', 'auth_user', '_auth_user', '_current_user'])
    if (!taken.has(candidate)) return candidate;
  let i = 2;
  while (taken.has(`${wanted}_${i}`)) i++;
  return `${wanted}_${i}`;
}

/** Where a new parameter goes: before defaults (if it has none) or before `**kwargs`. */
function parameterIndex(src: PySource, seq: Sequence, hasDefault: boolean): number {
  const shapes = seq.items.map((it) => paramShape(src, it));
  const i = hasDefault
    ? shapes.findIndex((s) => s.kind === 'kwargs')
    : shapes.findIndex(
        (s) => s.hasDefault || s.kind === 'star' || s.kind === 'args' || s.kind === 'kwargs',
      );
  return i < 0 ? seq.items.length : i;
}

export interface ParamPlan {
  /** The parameter text, e.g. `current_user: CurrentUser`. */
  text: string;
  name: string;
  edits: TextEdit[];
}

/** Add an auth parameter to a handler. */
export function addAuthParameter(
  ctx: FixContext,
  handler: { file: WorkspaceFile; fn: FuncFacts },
  choice: AuthChoice,
  useAlias = true,
): ParamPlan | null {
  const { file, fn } = handler;
  const text = ctx.sourceOf(file.abs);
  if (text === null || !choice.dep) return null;
  const src0 = new PySource(text);
  const seq0 = defParameters(src0, fn.line, fn.name);
  if (!seq0) return null;
  const taken = new Set(seq0.items.map((it) => paramShape(src0, it).name));

  const alias = useAlias ? choice.alias : null;
  const requests: NameRequest[] = [];
  const defs: Importable[] = [];
  let build: (p: Planned, name: string) => string;
  let wanted: string;
  let hasDefault: boolean;
  if (alias) {
    const aliasReq = { module: alias.module, name: alias.name };
    requests.push(aliasReq);
    defs.push(alias);
    wanted = alias.paramName || 'current_user';
    hasDefault = false;
    build = (p, name) => `${name}: ${ref(p, aliasReq)}`;
  } else {
    const depReq = depRequest(choice.dep);
    requests.push(DEPENDS, depReq);
    defs.push(choice.dep);
    const style = choice.param;
    const annotation = style?.annotation ?? null;
    if (annotation) requests.push(...annotation.imports);
    if (annotation && style?.inlineAnnotated) {
      requests.push(ANNOTATED);
      wanted = style.name;
      hasDefault = false;
      build = (p, name) =>
        `${name}: ${ref(p, ANNOTATED)}[${annotation.text}, ${ref(p, DEPENDS)}(${ref(p, depReq)})]`;
    } else if (annotation && style) {
      wanted = style.name;
      hasDefault = true;
      build = (p, name) => `${name}: ${annotation.text} = ${ref(p, DEPENDS)}(${ref(p, depReq)})`;
    } else {
      wanted = '_user';
      hasDefault = true;
      build = (p, name) => `${name}=${ref(p, DEPENDS)}(${ref(p, depReq)})`;
    }
  }
  const planned = withImports(ctx, file, requests, defs, fn.line);
  if (!planned) return null;
  // An annotation name used as written must mean the same thing here.
  const seq = defParameters(planned.src, fn.line, fn.name);
  if (!seq) return null;
  const name = uniqueName(wanted, taken);
  const param = build(planned, name);
  const at = parameterIndex(planned.src, seq, hasDefault);
  const ins = [...planned.insertions, ...insertIntoSequence(planned.src, seq, at, param)];
  return { text: param, name, edits: toEdits(file.abs, planned.src, ins) };
}

/**
 * Add `Depends(dep)` to the `dependencies=[...]` argument of a call (a route decorator or an
 * `APIRouter(...)`), merging into an existing list. Null when the call hides its arguments
 * (`**kwargs`) or `dependencies` is something we cannot extend.
 */
export function addToDependencies(
  ctx: FixContext,
  file: WorkspaceFile,
  callLine: number,
  callCol: number,
  dep: Importable,
): TextEdit[] | null {
  const depReq = depRequest(dep);
  const planned = withImports(ctx, file, [DEPENDS, depReq], [dep], callLine);
  if (!planned) return null;
  const { src } = planned;
  const args = callArguments(src, callLine, callCol);
  if (!args) return null;
  const all = src.allTokens();
  if (args.items.some((it) => src.tokenText(all[it.first]) === '**')) return null;
  const item = `${ref(planned, DEPENDS)}(${ref(planned, depReq)})`;
  const existing = args.items.find((it) => keywordName(src, it) === 'dependencies');
  const ins: Insertion[] = [...planned.insertions];
  if (existing) {
    const v = keywordValue(existing);
    const vt = all[v];
    if (!vt) return null;
    if (src.tokenText(vt) === '[') {
      const list = sequenceAt(src, v);
      if (!list || list.close !== existing.last) return null; // `[...] + more`
      ins.push(...insertIntoSequence(src, list, list.items.length, item));
    } else {
      // `dependencies=COMMON_DEPS`: `[*COMMON_DEPS, Depends(dep)]`, the name kept as written.
      for (let i = v; i <= existing.last; i++) {
        const t = src.tokenText(all[i]);
        if (all[i].type !== 'name' && t !== '.') return null;
      }
      ins.push({ offset: vt.start, text: '[*' }, { offset: existing.end, text: `, ${item}]` });
    }
  } else {
    const kwargs = args.items.length;
    ins.push(...insertIntoSequence(src, args, kwargs, `dependencies=[${item}]`));
  }
  return toEdits(file.abs, src, ins);
}

/** The router a route was registered on (null for routes registered on the app itself). */
export function ownerRouter(ctx: FixContext, record: RouteRecord): RouterObj | null {
  if (!record.reg) return null;
  for (const obj of ctx.analysis.model.objects.values())
    if (obj.routes.includes(record.reg)) return obj.kind === 'router' ? obj : null;
  return null;
}

/** `items.router` for `app.api.routes.items:router`. */
function shortName(obj: RouterObj): string {
  const [module, variable] = obj.name.split(':');
  if (!variable) return obj.name;
  return `${module.split('.').pop()}.${variable}`;
}

/** The auth choice that the route's sibling routes use most (for AUTH002), else the best. */
export function choiceFor(
  ctx: FixContext,
  record: RouteRecord,
  style: AuthStyle,
): AuthChoice | null {
  const usable = style.choices.filter((c) => c.dep !== null);
  if (usable.length === 0) return null;
  const group = record.route.routers[record.route.routers.length - 1];
  if (group) {
    const counts = new Map<AuthChoice, number>();
    for (const r of ctx.analysis.records) {
      if (r === record || r.route.routers[r.route.routers.length - 1] !== group) continue;
      for (const a of r.route.auth) {
        if (!a.enforcing) continue;
        const last = a.dependency.split('.').pop();
        const c = usable.find((u) => u.dep?.name === last || u.alias?.name === last);
        if (c) counts.set(c, (counts.get(c) ?? 0) + 1);
      }
    }
    const best = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
    if (best) return best[0];
  }
  return usable[0];
}

/** Quick fixes that add authentication to one route or to its router. */
export function protectFixes(ctx: FixContext, record: RouteRecord, style: AuthStyle): CodeFix[] {
  const choice = choiceFor(ctx, record, style);
  if (!choice || !choice.dep || !record.reg) return [];
  const dep = choice.dep;
  const out: CodeFix[] = [];
  const label = `\`${choice.alias && record.handler ? choice.alias.name : dep.name}\``;

  if (record.handler && record.route.kind === 'http') {
    const p = addAuthParameter(ctx, record.handler, choice);
    if (p)
      out.push({
        title: `Require ${label} on this route: add parameter \`${p.text}\``,
        kind: 'protect-parameter',
        safety: 'unsafe',
        edits: p.edits,
        creates: [],
        preferred: false,
      });
  }
  if (record.route.kind === 'http') {
    const edits = addToDependencies(ctx, record.reg.file, record.reg.line, record.reg.col, dep);
    if (edits)
      out.push({
        title: `Require \`${dep.name}\` on this route: add \`dependencies=[Depends(${dep.name})]\` to the decorator`,
        kind: 'protect-decorator',
        safety: 'unsafe',
        edits,
        creates: [],
        preferred: false,
      });
  }
  if (style.preferDecorator) out.reverse();

  const router = ownerRouter(ctx, record);
  if (router && !router.call.splat) {
    const covered = ctx.analysis.records.filter((r) =>
      r.route.routers.includes(router.name),
    ).length;
    const edits = addToDependencies(ctx, router.file, router.call.line, router.call.col, dep);
    if (edits)
      out.push({
        title: `Require \`${dep.name}\` on every route of router \`${shortName(router)}\` (${covered} route${covered === 1 ? '' : 's'}): \`APIRouter(dependencies=[Depends(${dep.name})])\``,
        kind: 'protect-router',
        safety: 'unsafe',
        edits,
        creates: [],
        preferred: false,
      });
  }
  return out;
}
