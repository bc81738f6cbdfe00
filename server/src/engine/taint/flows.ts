import { dottedName, type Expr, type FuncFacts, type ParamFacts } from '../facts';
import type { FlowStep } from '../findings';
import type { Analysis } from '../index';
import type { RouteRecord } from '../routes';
import type { Exposure } from '../types';
import type { Workspace, WorkspaceFile } from '../workspace';
import { annotationNames, isPure } from './summary';
import { FRAMEWORK_TYPES, SAFE_TYPES } from './tables';
import {
  Flag,
  TaintRule,
  type CallRecord,
  type FuncSummary,
  type Label,
  type SinkRecord,
  type SourceKind,
  type Step,
  type TaintCode,
} from './types';

/**
 * The workspace taint pass: per-function summaries are composed across files. For each route,
 * the handler's user-controlled parameters (not dependencies, not framework objects, not typed
 * as numbers/UUIDs/enums) and the intrinsic request sources read anywhere below it are followed
 * through calls (memoized per function, cycle-safe, depth-limited) to the sinks they reach.
 */

const MAX_DEPTH = 24;
const MAX_RESOLVED = 16;
const MAX_SINKS_PER_FN = 400;

/** A function's summary with where it lives. */
interface FnRef {
  file: WorkspaceFile;
  sum: FuncSummary;
  fn: FuncFacts | undefined;
  key: string;
}

type ROrigin =
  | { k: 'p'; i: number; n: string }
  | { k: 's'; kind: SourceKind; text: string; file: string; line: number; col: number };

/** A label resolved to a parameter or a source, with the whole path as flow steps. */
interface RLabel {
  o: ROrigin;
  steps: FlowStep[];
  c: number;
  f: number;
  /** Field read straight off the parameter (`item.qty`), if any. */
  a?: string;
}

interface RSink {
  rec: SinkRecord;
  file: WorkspaceFile;
  /** Qualname of the function holding the sink. */
  q: string;
  label: RLabel;
}

type Target =
  | { kind: 'func'; ref: FnRef | null; shift: number; name: string }
  | { kind: 'class'; ref: FnRef | null; shift: number; name: string };

export interface TaintFinding {
  code: TaintCode;
  /** POSIX path relative to cwd. */
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  message: string;
  record: RouteRecord | null;
  flow: FlowStep[];
  /** Reported at info regardless of exposure (INJ003 `eval` of a non-literal). */
  info: boolean;
}

const EXPOSURE_RANK: Record<Exposure, number> = {
  public: 4,
  unknown: 3,
  middleware: 2,
  authenticated: 1,
  scoped: 0,
};

const RISK: Record<TaintCode, string> = {
  INJ001: 'the SQL text is built from request data (SQL injection); use bound parameters',
  INJ002: 'the command is built from request data (command injection)',
  INJ003: 'request data is run as code (code injection)',
  PATH001: 'the file path comes from request data (path traversal)',
  SSRF001: 'the server fetches a URL the client controls (server-side request forgery)',
  REDIR001: 'the redirect target comes from request data (open redirect)',
  XSS001: 'request data is sent back as unescaped HTML (cross-site scripting)',
};

const SOURCE_LABEL: Record<SourceKind, string> = {
  query_params: 'the query string',
  headers: 'a request header',
  cookies: 'a cookie',
  path_params: 'a path parameter',
  url: 'the request URL',
  client: 'the client address',
  body: 'the request body',
  form: 'the form data',
  websocket: 'a WebSocket message',
  filename: 'an uploaded file name',
};

const PARAM_MARKERS: Record<string, string> = {
  Query: 'query parameter',
  Path: 'path parameter',
  Body: 'request body field',
  Header: 'header',
  Cookie: 'cookie',
  Form: 'form field',
  File: 'uploaded file',
};

function toFlow(file: WorkspaceFile, steps: Step[]): FlowStep[] {
  return steps.map((s) => ({ file: file.rel, line: s.line, column: s.col, message: s.m }));
}

function rOriginKey(o: ROrigin): string {
  return o.k === 'p' ? `p${o.i}` : `s${o.file}:${o.line}:${o.col}`;
}

function capLabels(labels: RLabel[]): RLabel[] {
  const out: RLabel[] = [];
  const seen = new Set<string>();
  for (const l of labels) {
    const key = `${rOriginKey(l.o)}|${l.c}|${l.f}|${l.a ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(l);
    if (out.length >= MAX_RESOLVED) break;
  }
  return out;
}

/** `earlier` flowed into `later` (with a step in between). */
function join(earlier: RLabel, step: FlowStep | null, later: RLabel): RLabel {
  const earlierFlags = later.f & Flag.BUILT ? earlier.f & ~Flag.TAIL : earlier.f;
  const out: RLabel = {
    o: earlier.o,
    steps: [...earlier.steps, ...(step ? [step] : []), ...later.steps],
    c: earlier.c | later.c,
    f: earlierFlags | later.f,
  };
  // `handler(item)` -> `service(x): x.qty`: the field read below is the caller's field.
  const a = earlier.a ?? (isPure(earlier.steps) ? later.a : undefined);
  if (a !== undefined) out.a = a;
  return out;
}

/** The label's steps then the final one, without a step that repeats the final position. */
function ending(steps: FlowStep[], last: FlowStep): FlowStep[] {
  const prev = steps[steps.length - 1];
  if (prev && prev.file === last.file && prev.line === last.line && prev.column === last.column)
    return [...steps.slice(0, -1), last];
  return [...steps, last];
}

function cap(s: string): string {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

export class TaintEngine {
  private readonly refs = new Map<WorkspaceFile, Map<string, FnRef>>();
  private readonly calleeMemo = new Map<string, Target | null>();
  private readonly retMemo = new Map<string, RLabel[]>();
  private readonly sinkMemo = new Map<string, RSink[]>();
  private readonly active = new Set<string>();
  private readonly ws: Workspace;

  constructor(private readonly analysis: Analysis) {
    this.ws = analysis.workspace;
    for (const file of analysis.files) {
      const t = file.facts.taint;
      if (!t) continue;
      const m = new Map<string, FnRef>();
      for (const sum of t.funcs)
        m.set(sum.q, { file, sum, fn: this.ws.func(file, sum.q), key: `${file.rel}#${sum.q}` });
      this.refs.set(file, m);
    }
  }

  ref(file: WorkspaceFile, qualname: string): FnRef | null {
    return this.refs.get(file)?.get(qualname) ?? null;
  }

  // ---- callees ----------------------------------------------------------------------------

  private callee(F: FnRef, i: number): Target | null {
    const key = `${F.key}:${i}`;
    if (this.calleeMemo.has(key)) return this.calleeMemo.get(key) ?? null;
    let t: Target | null;
    try {
      t = this.computeCallee(F, F.sum.calls[i]);
    } catch {
      t = null;
    }
    this.calleeMemo.set(key, t);
    return t;
  }

  private computeCallee(F: FnRef, call: CallRecord): Target | null {
    if (call.selfMethod && F.fn?.className) {
      const cls = this.ws.cls(F.file, F.fn.className);
      if (cls) {
        const m = this.ws.findMethod({ t: 'class', file: F.file, cls }, call.selfMethod);
        if (m) return this.funcTarget(m.file, m.fn, 1);
      }
      return null;
    }
    const ctx = { file: F.file, scope: F.sum.q };
    const v = this.ws.eval(ctx, call.fn);
    if (v.t === 'func') {
      let shift = 0;
      if (v.fn.className && call.fn.k === 'attr') {
        const isStatic = v.fn.decorators.some((d) =>
          /(^|\.)staticmethod$/.test(d.text.replace(/^@/, '')),
        );
        const isClassMethod = v.fn.decorators.some((d) =>
          /(^|\.)classmethod$/.test(d.text.replace(/^@/, '')),
        );
        if (!isStatic) {
          const base = this.ws.eval(ctx, call.fn.obj);
          shift = base.t === 'class' && !isClassMethod ? 0 : 1;
        }
      }
      return this.funcTarget(v.file, v.fn, shift);
    }
    if (v.t === 'class') {
      const init = this.ws.findMethod(v, '__init__');
      return {
        kind: 'class',
        ref: init ? this.ref(init.file, init.fn.qualname) : null,
        shift: 1,
        name: v.cls.name,
      };
    }
    return null;
  }

  private funcTarget(file: WorkspaceFile, fn: FuncFacts, shift: number): Target {
    return { kind: 'func', ref: this.ref(file, fn.qualname), shift, name: fn.qualname };
  }

  /** Labels the caller passes for the callee's parameter `index`. */
  private argsFor(call: CallRecord, G: FnRef, index: number, shift: number): Label[] {
    const name = G.sum.params[index];
    const param: ParamFacts | undefined = G.fn?.params[index];
    let out: Label[] = [];
    const pos = index - shift;
    if (param?.variadic && !G.fn?.params.slice(0, index).some((p) => p.variadic)) {
      if (param.name && G.fn && isKwargs(G.fn, index)) {
        for (const l of Object.values(call.kw)) out = out.concat(l);
      } else for (const l of call.args.slice(Math.max(pos, 0))) out = out.concat(l);
    } else if (pos >= 0 && call.args[pos]) out = out.concat(call.args[pos]);
    if (name && call.kw[name]) out = out.concat(call.kw[name]);
    if (out.length === 0 && call.splat.length) out = call.splat;
    return out;
  }

  // ---- resolution -------------------------------------------------------------------------

  private resolveLabels(F: FnRef, labels: Label[], depth: number): RLabel[] {
    const out: RLabel[] = [];
    for (const l of labels) {
      const steps = toFlow(F.file, l.s);
      if (l.o.k === 'p') out.push({ o: l.o, steps, c: l.c, f: l.f, ...(l.a ? { a: l.a } : {}) });
      else if (l.o.k === 's')
        out.push({
          o: {
            k: 's',
            kind: l.o.kind,
            text: l.o.text,
            file: F.file.rel,
            line: l.o.line,
            col: l.o.col,
          },
          steps,
          c: l.c,
          f: l.f,
        });
      else
        for (const r of this.resolveCall(F, l.o.call, depth + 1))
          out.push(join(r, null, { o: r.o, steps, c: l.c, f: l.f, ...(l.a ? { a: l.a } : {}) }));
    }
    return capLabels(out);
  }

  /** What the result of F's call number `i` carries, in terms of F's parameters and sources. */
  private resolveCall(F: FnRef, i: number, depth: number): RLabel[] {
    const key = `${F.key}:${i}`;
    const memo = this.retMemo.get(key);
    if (memo) return memo;
    if (this.active.has(`r${key}`) || depth > MAX_DEPTH) return [];
    this.active.add(`r${key}`);
    let out: RLabel[];
    try {
      out = this.computeCall(F, i, depth);
    } finally {
      this.active.delete(`r${key}`);
    }
    this.retMemo.set(key, out);
    return out;
  }

  private computeCall(F: FnRef, i: number, depth: number): RLabel[] {
    const call = F.sum.calls[i];
    const t = this.callee(F, i);
    const at = (message: string): FlowStep => ({
      file: F.file.rel,
      line: call.line,
      column: call.col,
      message,
    });
    if (t && t.kind === 'func') {
      const G = t.ref;
      if (!G) return [];
      const out: RLabel[] = [];
      for (const ret of G.sum.rets) {
        for (const rl of this.resolveLabels(G, ret.labels, depth + 1)) {
          if (rl.o.k === 'p') {
            const argLabels = this.argsFor(call, G, rl.o.i, t.shift);
            if (!argLabels.length) continue;
            const pass = at(`passed to \`${call.text}()\` as \`${rl.o.n}\``);
            for (const al of this.resolveLabels(F, argLabels, depth + 1))
              out.push(
                join(join(al, pass, rl), at(`returned by \`${call.text}()\``), emptyLike(rl)),
              );
          } else out.push(join(rl, at(`returned by \`${call.text}()\``), emptyLike(rl)));
        }
      }
      return capLabels(out);
    }
    // Not workspace code (or a workspace class): the data passes through.
    let labels: Label[] = [];
    const all = (): Label[] => [
      ...call.args.flat(),
      ...Object.values(call.kw).flat(),
      ...call.splat,
    ];
    const policy = t && t.kind === 'class' ? 'args' : call.policy;
    if (policy === 'args' || policy === 'both') labels = labels.concat(all());
    if (policy === 'recv' || policy === 'both') labels = labels.concat(call.recv);
    const step = policy === 'recv' ? null : at(`through \`${call.text}()\``);
    return capLabels(
      this.resolveLabels(F, labels, depth + 1).map((l) =>
        step ? { ...l, steps: [...l.steps, step] } : l,
      ),
    );
  }

  /** Every sink F reaches, directly or through the functions it calls. */
  sinksOf(F: FnRef, depth = 0): RSink[] {
    const memo = this.sinkMemo.get(F.key);
    if (memo) return memo;
    if (this.active.has(`s${F.key}`) || depth > MAX_DEPTH) return [];
    this.active.add(`s${F.key}`);
    let out: RSink[];
    try {
      out = this.computeSinks(F, depth);
    } finally {
      this.active.delete(`s${F.key}`);
    }
    this.sinkMemo.set(F.key, out);
    return out;
  }

  private computeSinks(F: FnRef, depth: number): RSink[] {
    const out: RSink[] = [];
    const seen = new Set<string>();
    const add = (s: RSink): void => {
      const key = `${s.rec.code}|${s.file.rel}:${s.rec.line}:${s.rec.col}|${rOriginKey(s.label.o)}|${s.label.c}|${s.label.f}|${s.label.a ?? ''}`;
      if (seen.has(key) || out.length >= MAX_SINKS_PER_FN) return;
      seen.add(key);
      out.push(s);
    };
    for (const rec of F.sum.sinks) {
      const bit = TaintRule[rec.code];
      for (const label of this.resolveLabels(F, rec.labels, depth))
        if (!(label.c & bit)) add({ rec, file: F.file, q: F.sum.q, label });
    }
    F.sum.calls.forEach((call, i) => {
      const t = this.callee(F, i);
      if (!t || !t.ref) return;
      const G = t.ref;
      for (const e of this.sinksOf(G, depth + 1)) {
        if (e.label.o.k !== 'p') {
          add(e);
          continue;
        }
        const argLabels = this.argsFor(call, G, e.label.o.i, t.shift);
        if (!argLabels.length) continue;
        const bit = TaintRule[e.rec.code];
        const pass: FlowStep = {
          file: F.file.rel,
          line: call.line,
          column: call.col,
          message: `passed to \`${call.text}()\` as \`${e.label.o.n}\``,
        };
        for (const al of this.resolveLabels(F, argLabels, depth + 1)) {
          if ((al.c | e.label.c) & bit) continue;
          add({ ...e, label: join(al, pass, e.label) });
        }
      }
    });
    return out;
  }

  /** Labels reaching F's return statements. */
  returnsOf(F: FnRef): { line: number; col: number; labels: RLabel[] }[] {
    return F.sum.rets.map((r) => ({
      line: r.line,
      col: r.col,
      labels: this.resolveLabels(F, r.labels, 0),
    }));
  }

  // ---- routes -----------------------------------------------------------------------------

  /** Handler parameters that carry client data, by position, with how to describe them. */
  routeInputs(rec: RouteRecord): Map<number, string> {
    const out = new Map<number, string>();
    const h = rec.handler;
    if (!h) return out;
    const ctx = { file: h.file, scope: h.fn.scope };
    const pathParams = new Set(
      [...rec.route.path.matchAll(/\{(\w+)(?::[^}]*)?\}/g)].map((m) => m[1]),
    );
    h.fn.params.forEach((p, i) => {
      if (p.variadic) return;
      if (h.fn.className && i === 0) return;
      try {
        if (this.analysis.deps.paramUse(ctx, p)) return;
      } catch {
        return;
      }
      const names = annotationNames(p.annotation).map((n) => n.replace(/\[\]$/, ''));
      if (names.some((n) => FRAMEWORK_TYPES.has(n))) return;
      if (names.length && names.every((n) => SAFE_TYPES.has(n))) return;
      if (names.length && this.isEnum(h.file, h.fn.scope, p.annotation)) return;
      if (validatedByPattern(p)) return;
      const marker = paramMarker(p);
      let kind: string;
      if (marker) kind = PARAM_MARKERS[marker];
      else if (names.some((n) => n === 'UploadFile')) kind = 'uploaded file';
      else if (pathParams.has(p.name)) kind = 'path parameter';
      else if (
        names.length === 0 ||
        names.every((n) =>
          /^(str|bytes|Any|List|list|Optional|Union|Json|EmailStr|HttpUrl|AnyUrl|AnyHttpUrl|constr|SecretStr)$/.test(
            n,
          ),
        )
      )
        kind = 'query parameter';
      else kind = 'request body';
      out.set(i, `${kind} \`${p.name}\``);
    });
    return out;
  }

  /** `item.qty` where the body model declares `qty: int`. */
  private safeField(file: WorkspaceFile, fn: FuncFacts, index: number, field: string): boolean {
    let e = fn.params[index]?.annotation ?? null;
    while (e && e.k === 'sub') {
      const head = dottedName(e.obj)?.split('.').pop() ?? '';
      if (head !== 'Annotated' && head !== 'Optional') return false;
      e = e.idx[0] ?? null;
    }
    if (!e || (e.k !== 'name' && e.k !== 'attr')) return false;
    const v = this.ws.eval({ file, scope: fn.scope }, e);
    for (const { file: f, cls } of this.ws.workspaceAncestors(v))
      if (f.facts.taint?.safeFields?.[cls.qualname]?.includes(field)) return true;
    return false;
  }

  private isEnum(file: WorkspaceFile, scope: string, ann: Expr | null): boolean {
    let e = ann;
    while (e && e.k === 'sub') {
      const head = dottedName(e.obj)?.split('.').pop() ?? '';
      if (head !== 'Annotated' && head !== 'Optional') return false;
      e = e.idx[0] ?? null;
    }
    if (e && e.k === 'binop' && e.op === '|') e = e.l.k === 'none' ? e.r : e.l;
    if (!e || (e.k !== 'name' && e.k !== 'attr')) return false;
    const v = this.ws.eval({ file, scope }, e);
    if (v.t !== 'class') return false;
    return this.ws
      .externalAncestors(v)
      .some((q) => /^enum\./.test(q) || /(^|\.)(StrEnum|IntEnum|Enum)$/.test(q));
  }

  private static htmlRoute(rec: RouteRecord): boolean {
    const rc = rec.reg?.call.kw.response_class;
    if (!rc) return false;
    return (dottedName(rc) ?? '').split('.').pop() === 'HTMLResponse';
  }

  findings(): TaintFinding[] {
    const best = new Map<string, { f: TaintFinding; rank: number }>();
    const offer = (f: TaintFinding, rank: number): void => {
      const key = `${f.code}|${f.file}|${f.line}|${f.column}`;
      const cur = best.get(key);
      if (!cur || rank > cur.rank) best.set(key, { f, rank });
    };
    for (const rec of this.analysis.records) {
      const h = rec.handler;
      if (!h || rec.route.kind === 'mount') continue;
      const F = this.ref(h.file, h.fn.qualname);
      if (!F) continue;
      const sinks = this.sinksOf(F);
      const html = TaintEngine.htmlRoute(rec);
      if (!sinks.length && !html) continue;
      let inputCache: Map<number, string> | null = null;
      const inputs = (): Map<number, string> => (inputCache ??= this.routeInputs(rec));
      const rank = EXPOSURE_RANK[rec.route.exposure];
      const routeText = `${rec.route.kind === 'websocket' ? 'WEBSOCKET' : rec.route.methods.join(',')} ${rec.route.path}`;
      const describe = (o: ROrigin, a?: string): { text: string; step: FlowStep } | null => {
        if (o.k === 'p') {
          const d = inputs().get(o.i);
          if (!d) return null;
          if (a !== undefined && this.safeField(h.file, h.fn, o.i, a)) return null;
          return {
            text: d,
            step: {
              file: h.file.rel,
              line: h.fn.line,
              column: h.fn.col,
              message: `${d} of \`${routeText}\` enters \`${h.fn.name}()\``,
            },
          };
        }
        const text = `${SOURCE_LABEL[o.kind]} (\`${o.text}\`)`;
        return {
          text,
          step: { file: o.file, line: o.line, column: o.col, message: `${text} read here` },
        };
      };
      for (const e of sinks) {
        const { rec: s, label } = e;
        if ((label.f & s.need) !== s.need || label.f & s.forbid) continue;
        const src = describe(label.o, label.a);
        if (!src) continue;
        const where = e.file === h.file && e.q === h.fn.qualname ? '' : ` in \`${e.q}()\``;
        offer(
          {
            code: s.code,
            file: e.file.rel,
            line: s.line,
            column: s.col,
            endLine: s.endLine,
            endColumn: s.endCol,
            message: `${cap(src.text)} of \`${routeText}\` reaches ${s.desc}${where}: ${RISK[s.code]}.`,
            record: rec,
            flow: [
              src.step,
              ...ending(label.steps, {
                file: e.file.rel,
                line: s.line,
                column: s.col,
                message: `reaches ${s.desc}`,
              }),
            ],
            info: false,
          },
          rank,
        );
      }
      if (html) {
        for (const ret of this.returnsOf(F)) {
          for (const label of ret.labels) {
            if (label.c & TaintRule.XSS001) continue;
            const src = describe(label.o, label.a);
            if (!src) continue;
            offer(
              {
                code: 'XSS001',
                file: h.file.rel,
                line: ret.line,
                column: ret.col,
                endLine: ret.line,
                endColumn: ret.col,
                message: `${cap(src.text)} of \`${routeText}\` is returned as HTML (\`response_class=HTMLResponse\`): ${RISK.XSS001}.`,
                record: rec,
                flow: [
                  src.step,
                  ...ending(label.steps, {
                    file: h.file.rel,
                    line: ret.line,
                    column: ret.col,
                    message: 'returned as HTML',
                  }),
                ],
                info: false,
              },
              rank,
            );
            break;
          }
        }
      }
    }
    const out = [...best.values()].map((b) => b.f);
    // `eval`/`exec` of anything that is not a literal: info, wherever it is.
    const reported = new Set(
      out.filter((f) => f.code === 'INJ003').map((f) => `${f.file}:${f.line}`),
    );
    for (const [file, m] of this.refs)
      for (const F of m.values())
        for (const ev of F.sum.evals) {
          if (reported.has(`${file.rel}:${ev.line}`)) continue;
          reported.add(`${file.rel}:${ev.line}`);
          out.push({
            code: 'INJ003',
            file: file.rel,
            line: ev.line,
            column: ev.col,
            endLine: ev.endLine,
            endColumn: ev.endCol,
            message: `\`${ev.callee}\` runs a value that is not a literal in \`${F.sum.q}()\`; no route input was traced to it, but any request data reaching it would be code injection.`,
            record: null,
            flow: [],
            info: true,
          });
        }
    return out;
  }
}

function emptyLike(l: RLabel): RLabel {
  return { o: l.o, steps: [], c: 0, f: 0 };
}

function isKwargs(fn: FuncFacts, index: number): boolean {
  // ParamFacts does not say `*` from `**`; `**kwargs` is the last variadic parameter after `*args`.
  const variadics = fn.params.map((p, i) => (p.variadic ? i : -1)).filter((i) => i >= 0);
  if (variadics.length > 1) return variadics[variadics.length - 1] === index;
  return /^(kw|kwargs|kwds|options|extra|params)$/.test(fn.params[index]?.name ?? '');
}

function markerCalls(p: ParamFacts): (Expr & { k: 'call' })[] {
  const out: (Expr & { k: 'call' })[] = [];
  if (p.default && p.default.k === 'call') out.push(p.default);
  const a = p.annotation;
  if (a && a.k === 'sub' && (dottedName(a.obj) ?? '').split('.').pop() === 'Annotated')
    for (const meta of a.idx.slice(1)) if (meta.k === 'call') out.push(meta);
  return out;
}

/**
 * `Query(pattern="^[a-z0-9_-]+$")`: FastAPI rejects anything else, and what the pattern lets
 * through (letters, digits, `_`, `-`) cannot carry a payload for any of these rules.
 */
function validatedByPattern(p: ParamFacts): boolean {
  for (const call of markerCalls(p)) {
    const pat = call.kw.pattern ?? call.kw.regex;
    if (!pat || pat.k !== 'str' || pat.fstring) continue;
    const v = pat.v;
    if (!/^(\^|\\A)/.test(v) || !/(\$|\\Z|\\z)$/.test(v)) continue;
    const body = v
      .replace(/^(\^|\\A)/, '')
      .replace(/(\$|\\Z|\\z)$/, '')
      .replace(/\\[wd]/g, '');
    if (/^[A-Za-z0-9_\-[\]+*{},?()|]*$/.test(body)) return true;
  }
  return false;
}

/** `Query(...)`, `Annotated[str, Header()]`, ... : which part of the request feeds a parameter. */
function paramMarker(p: ParamFacts): string | null {
  const fromCall = (e: Expr | null): string | null => {
    if (!e || e.k !== 'call') return null;
    const last = (dottedName(e.fn) ?? '').split('.').pop() ?? '';
    return Object.hasOwn(PARAM_MARKERS, last) ? last : null;
  };
  const d = fromCall(p.default);
  if (d) return d;
  const a = p.annotation;
  if (a && a.k === 'sub' && (dottedName(a.obj) ?? '').split('.').pop() === 'Annotated')
    for (const meta of a.idx.slice(1)) {
      const m = fromCall(meta);
      if (m) return m;
    }
  return null;
}

const cache = new WeakMap<Analysis, TaintFinding[]>();

/** Every taint finding of an analysis, computed once and shared by the seven rules. */
export function taintFindings(analysis: Analysis): TaintFinding[] {
  let out = cache.get(analysis);
  if (!out) {
    out = new TaintEngine(analysis).findings();
    cache.set(analysis, out);
  }
  return out;
}
