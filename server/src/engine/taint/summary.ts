import type { Node, Tree } from 'web-tree-sitter';
import {
  DIRECT,
  dottedName,
  FileNodes,
  toExpr,
  type Expr,
  type ModuleFacts,
  type ParamFacts,
  type SyntaxReader,
} from '../facts';
import {
  ARG_PROPAGATING_METHODS,
  CHECK_METHODS_ALL,
  CLEANING_CALLS,
  CLEANING_PREFIXES,
  CODE_FUNCS,
  EXTERNAL_ROOTS,
  FIXED_PREFIX,
  FRAMEWORK_TYPES,
  HTTP_CLIENTS,
  HTTP_FUNCS,
  HTTP_METHODS,
  MUTATING_METHODS,
  NON_PROPAGATING_METHODS,
  PATH_CALLS,
  PATH_METHODS,
  REQUEST_SOURCE_ATTRS,
  REQUEST_SOURCE_METHODS,
  REQUEST_TYPES,
  SAFE_TYPES,
  SANITIZERS,
  VALIDATING_CALLS,
  SHELL_CALLS,
  SHELL_FLAGS,
  SHELL_PROGRAMS,
  SOURCE_CLEAN,
  SQL_KWARGS,
  SQL_METHODS,
  SQL_READ_FUNCS,
  SQL_TEXT,
  SQL_TEXT_FUNCS,
  SUBPROCESS_FUNCS,
  URL_SAFE_CHECKS,
  WEBSOCKET_SOURCE_METHODS,
  WEBSOCKET_TYPES,
} from './tables';
import {
  ALL_RULES,
  Flag,
  TaintRule,
  type CallRecord,
  type FuncSummary,
  type Label,
  type Origin,
  type SourceKind,
  type Step,
  type TaintCode,
  type TaintFacts,
} from './types';

/**
 * The per-file taint pass: one linear walk over each function body (nested definitions get
 * their own walk), tracking which labels each local variable carries. Branches are walked on
 * copies of the environment and merged; loops once. Guard clauses (`if not p.is_relative_to(
 * base): raise`) sanitize the checked variable on the path that continues.
 */

const R = TaintRule;

/** How nodes are read (remembered per node, see FileNodes); set by computeTaintFacts. */
let S: SyntaxReader = DIRECT;
const IDENT = /[A-Za-z_][A-Za-z0-9_]*/g;
// Any code unit above 0x7f; written as a range from the first non-ASCII one (no control chars).
const NON_ASCII = /[\u0080-\uffff]/;

/** Literal containers: `parts = []`, `{}`, comprehensions. */
const CONTAINER_NODES = new Set([
  'list',
  'dictionary',
  'set',
  'list_comprehension',
  'dictionary_comprehension',
  'set_comprehension',
]);

const PY_BUILTINS = new Set(
  (
    'abs all any ascii bin bool breakpoint bytearray bytes callable chr classmethod compile ' +
    'complex delattr dict dir divmod enumerate eval exec filter float format frozenset getattr ' +
    'globals hasattr hash help hex id input int isinstance issubclass iter len list locals map ' +
    'max memoryview min next object oct open ord pow print property range repr reversed round ' +
    'set setattr slice sorted staticmethod str sum super tuple type vars zip __import__'
  ).split(' '),
);
const MAX_LABELS = 8;
const MAX_STEPS = 16;
const MAX_DEPTH = 120;

type ObjKind = 'http' | 'jinja-env' | 'jinja-tmpl' | 'container';

interface Env {
  vars: Map<string, Label[]>;
  kinds: Map<string, ObjKind>;
  consts: Map<string, string>;
  /** `parsed = urlparse(url)`: parsed -> url (for netloc allow-list guards). */
  parsed: Map<string, string>;
}

function cloneEnv(e: Env): Env {
  return {
    vars: new Map(e.vars),
    kinds: new Map(e.kinds),
    consts: new Map(e.consts),
    parsed: new Map(e.parsed),
  };
}

function mergeEnvs(envs: Env[]): Env {
  const [first, ...rest] = envs;
  const out = cloneEnv(first);
  for (const e of rest) {
    for (const [k, v] of e.vars) out.vars.set(k, union(out.vars.get(k) ?? [], v));
    for (const [k, v] of e.kinds) if (!out.kinds.has(k)) out.kinds.set(k, v);
    for (const [k, v] of out.consts) if (e.consts.get(k) !== v) out.consts.delete(k);
    for (const [k, v] of e.parsed) if (!out.parsed.has(k)) out.parsed.set(k, v);
  }
  return out;
}

function originKey(o: Origin): string {
  switch (o.k) {
    case 'p':
      return `p${o.i}`;
    case 's':
      return `s${o.line}:${o.col}`;
    case 'r':
      return `r${o.call}`;
  }
}

export function union(a: Label[], b: Label[]): Label[] {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = [...a];
  const seen = new Set(a.map((l) => `${originKey(l.o)}|${l.c}|${l.f}|${l.a ?? ''}`));
  for (const l of b) {
    if (out.length >= MAX_LABELS) break;
    const key = `${originKey(l.o)}|${l.c}|${l.f}|${l.a ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(l);
  }
  return out;
}

function unionAll(lists: Label[][]): Label[] {
  let out: Label[] = [];
  for (const l of lists) out = union(out, l);
  return out;
}

function pushStep(steps: Step[], step: Step): Step[] {
  const last = steps[steps.length - 1];
  if (last && last.line === step.line && last.col === step.col && last.m === step.m) return steps;
  const out = steps.length >= MAX_STEPS ? [steps[0], ...steps.slice(2)] : [...steps];
  out.push(step);
  return out;
}

/** New labels with a step appended and flags/clean bits changed. */
function mark(
  labels: Label[],
  step: Step | null,
  opts: { flags?: number; clean?: number; clear?: number } = {},
): Label[] {
  if (labels.length === 0) return labels;
  return labels.map((l) => {
    const out: Label = {
      o: l.o,
      s: step ? pushStep(l.s, step) : l.s,
      c: l.c | (opts.clean ?? 0),
      f: (l.f | (opts.flags ?? 0)) & ~(opts.clear ?? 0),
    };
    if (l.a !== undefined) out.a = l.a;
    return out;
  });
}

/** Steps that only rename the value (it is still the parameter itself). */
export function isPure(steps: { m?: string; message?: string }[]): boolean {
  return steps.every((s) => /^(assigned to|passed to|returned)/.test(s.m ?? s.message ?? ''));
}

function stepAt(node: Node, m: string): Step {
  return { line: node.startPosition.row + 1, col: node.startPosition.column, m };
}

function short(text: string, max = 60): string {
  const t = text.replace(/\s+/g, ' ');
  return t.length > max ? `${t.slice(0, max - 3)}...` : t;
}

/** Last segment of an annotation's type name, unwrapping Optional/Annotated/unions. */
export function annotationNames(e: Expr | null): string[] {
  if (!e) return [];
  switch (e.k) {
    case 'name':
      return [e.id];
    case 'attr':
      return [e.attr];
    case 'str':
      return [e.v.split('.').pop() ?? e.v];
    case 'sub': {
      const head = dottedName(e.obj)?.split('.').pop() ?? '';
      if (head === 'Annotated') return annotationNames(e.idx[0] ?? null);
      if (head === 'Optional' || head === 'Union')
        return e.idx.flatMap((i) => (i.k === 'none' ? [] : annotationNames(i)));
      if (/^(list|List|set|Set|tuple|Tuple|Sequence|Iterable|frozenset|FrozenSet)$/.test(head))
        return e.idx.flatMap((i) => annotationNames(i)).map((n) => `${n}[]`);
      return [head];
    }
    case 'binop':
      if (e.op === '|') return [...annotationNames(e.l), ...annotationNames(e.r)];
      return [];
    case 'none':
      return [];
    case 'list':
      return e.items.flatMap((i) => annotationNames(i));
    default:
      return [];
  }
}

/** The class an annotation names (for `svc: FileService` or `Annotated[FileService, ...]`). */
function annotationClass(e: Expr | null): Expr | null {
  if (!e) return null;
  if (e.k === 'name' || e.k === 'attr') return e;
  if (e.k === 'sub') {
    const head = dottedName(e.obj)?.split('.').pop() ?? '';
    if (head === 'Annotated' || head === 'Optional') return annotationClass(e.idx[0] ?? null);
  }
  if (e.k === 'binop' && e.op === '|')
    return annotationClass(e.l.k === 'none' ? e.r : e.l) ?? annotationClass(e.r);
  return null;
}

function isSafeType(names: string[]): boolean {
  if (names.length === 0) return false;
  return names.every((n) => SAFE_TYPES.has(n.replace(/\[\]$/, '')));
}

/** Per-file context: imports, module constants and object kinds. */
interface FileCtx {
  imports: Map<string, string>;
  externalLocals: Set<string>;
  moduleConsts: Map<string, string>;
  moduleKinds: Map<string, ObjKind>;
  selfKinds: Map<string, ObjKind>;
  localDefs: Set<string>;
  /** Local names bound to `builtins.eval` / `builtins.exec` (`from builtins import eval as e`). */
  evalAliases: Set<string>;
}

function buildFileCtx(facts: ModuleFacts): FileCtx {
  const imports = new Map<string, string>();
  const externalLocals = new Set<string>();
  for (const imp of facts.imports) {
    if (imp.local === '*') continue;
    const dots = '.'.repeat(imp.level);
    const full =
      imp.name === null ? imp.module : `${dots}${imp.module ? `${imp.module}.` : ''}${imp.name}`;
    imports.set(imp.local, full);
    if (imp.level === 0 && EXTERNAL_ROOTS.has(imp.module.split('.')[0]))
      externalLocals.add(imp.local);
  }
  const ctx: FileCtx = {
    imports,
    externalLocals,
    moduleConsts: new Map(),
    moduleKinds: new Map(),
    selfKinds: new Map(),
    localDefs: new Set(),
    evalAliases: new Set(),
  };
  for (const [local, full] of imports)
    if (full === 'builtins.eval' || full === 'builtins.exec') ctx.evalAliases.add(local);
  for (const fn of facts.funcs) if (fn.scope === '' && !fn.className) ctx.localDefs.add(fn.name);
  for (const c of facts.classes) if (c.scope === '') ctx.localDefs.add(c.name);
  for (const a of facts.assigns) {
    if (a.value.k === 'str' && !a.value.fstring && a.scope === '')
      ctx.moduleConsts.set(a.target, a.value.v);
    if (a.value.k !== 'call') continue;
    const kind = kindOfCallExpr(ctx, a.value);
    if (!kind) continue;
    if (a.scope === '') ctx.moduleKinds.set(a.target, kind);
    else if (a.target.startsWith('self.')) ctx.selfKinds.set(a.target, kind);
  }
  return ctx;
}

function canonDotted(ctx: FileCtx, dotted: string): string {
  const i = dotted.indexOf('.');
  const root = i < 0 ? dotted : dotted.slice(0, i);
  const mapped = ctx.imports.get(root);
  if (!mapped) return dotted;
  return i < 0 ? mapped : `${mapped}${dotted.slice(i)}`;
}

function kindOfCanon(canon: string, kw: (name: string) => Expr | Node | null): ObjKind | null {
  if (HTTP_CLIENTS.has(canon)) return 'http';
  const last = canon.split('.').pop() ?? '';
  const rootIsJinja = canon.startsWith('jinja2.') || canon === last;
  if (rootIsJinja && (last === 'Template' || last === 'Environment')) {
    const ae = kw('autoescape');
    const text =
      ae === null ? null : 'k' in ae ? (ae.k === 'bool' ? String(ae.v) : 'x') : S.text(ae);
    const escaped = text !== null && text !== 'False' && text !== 'false' && text !== 'None';
    if (escaped) return null;
    if (canon === last && !canon.startsWith('jinja2.')) return null;
    return last === 'Template' ? 'jinja-tmpl' : 'jinja-env';
  }
  return null;
}

function kindOfCallExpr(ctx: FileCtx, call: Expr & { k: 'call' }): ObjKind | null {
  const d = dottedName(call.fn);
  if (!d) return null;
  const canon = canonDotted(ctx, d);
  if (!canon.includes('.')) return null;
  return kindOfCanon(canon, (n) => call.kw[n] ?? null);
}

function literalString(node: Node | null): string | null {
  if (!node) return null;
  if (S.type(node) === 'string') {
    let v = '';
    for (const c of S.named(node)) {
      if (!c) continue;
      if (S.type(c) === 'interpolation') return null;
      if (S.type(c) === 'string_content' || S.type(c) === 'escape_sequence') v += S.text(c);
    }
    return v;
  }
  if (S.type(node) === 'concatenated_string') {
    let v = '';
    for (const c of S.named(node)) {
      const s = literalString(c);
      if (s === null) return null;
      v += s;
    }
    return v;
  }
  if (S.type(node) === 'parenthesized_expression') return literalString(S.named(node)[0]);
  return null;
}

function isPattern(node: Node): boolean {
  const t = S.type(node);
  return (
    t === 'pattern_list' ||
    t === 'tuple_pattern' ||
    t === 'list_pattern' ||
    t === 'tuple' ||
    t === 'list'
  );
}

function isSequence(node: Node): boolean {
  const t = S.type(node);
  return t === 'tuple' || t === 'expression_list' || t === 'list';
}

function namedItems(node: Node): Node[] {
  return S.named(node).filter((c): c is Node => !!c && S.type(c) !== 'comment');
}

function isStringNode(node: Node): boolean {
  return S.type(node) === 'string' || S.type(node) === 'concatenated_string';
}

function terminates(block: Node | null): boolean {
  if (!block) return false;
  let last = block.lastNamedChild;
  while (last && S.type(last) === 'comment') last = last.previousNamedSibling;
  if (!last) return false;
  return (
    S.type(last) === 'raise_statement' ||
    S.type(last) === 'return_statement' ||
    S.type(last) === 'continue_statement' ||
    S.type(last) === 'break_statement'
  );
}

/** A guard fact: `key` is safe for `mask` when the condition has a given truth value. */
interface Check {
  key: string;
  mask: number;
  /** True: the condition being true proves safety; false: the condition being true is the bad case. */
  good: boolean;
}

interface CallParts {
  node: Node;
  fnNode: Node;
  canon: string | null;
  method: string | null;
  recvNode: Node | null;
  recvLabels: Label[];
  pos: Node[];
  posLabels: Label[][];
  kw: Map<string, Node>;
  kwLabels: Map<string, Label[]>;
  splatLabels: Label[];
  /** Labels of the `Location` entry of a `headers={...}` literal. */
  locationLabels: Label[] | null;
  /** `os.path.join(...)`: the "receiver" is an imported module, not a value. */
  recvIsModule: boolean;
  /** kindOf(recvNode), once asked (undefined: not yet). */
  recvKind?: ObjKind | null;
}

class FunctionWalker {
  env: Env = { vars: new Map(), kinds: new Map(), consts: new Map(), parsed: new Map() };
  readonly reqNames = new Set<string>();
  readonly wsNames = new Set<string>();
  readonly uploadNames = new Set<string>();
  readonly paramClasses = new Map<string, Expr>();
  readonly summary: FuncSummary;
  private depth = 0;
  /** Number of dotted keys (`obj.attr`) ever bound: most functions have none. */
  private dotted = 0;
  /** First names of the dotted keys (`self` of `self.items`) ever given labels. */
  private readonly dottedRoots = new Set<string>();

  constructor(
    private readonly file: FileCtx,
    params: ParamFacts[],
    qualname: string,
    bound: boolean,
  ) {
    this.summary = {
      q: qualname,
      params: params.map((p) => p.name),
      bound,
      sinks: [],
      rets: [],
      calls: [],
      evals: [],
    };
    params.forEach((p, i) => {
      if (i === 0 && bound) return;
      const names = annotationNames(p.annotation);
      if (names.some((n) => REQUEST_TYPES.has(n)) || (!p.annotation && p.name === 'request')) {
        this.reqNames.add(p.name);
        return;
      }
      if (
        names.some((n) => WEBSOCKET_TYPES.has(n)) ||
        (!p.annotation && (p.name === 'websocket' || p.name === 'ws'))
      ) {
        this.wsNames.add(p.name);
        return;
      }
      if (isSafeType(names) || names.some((n) => FRAMEWORK_TYPES.has(n))) return;
      if (names.some((n) => /^UploadFile/.test(n))) this.uploadNames.add(p.name);
      const cls = annotationClass(p.annotation);
      if (cls) {
        const canon = canonDotted(this.file, dottedName(cls) ?? '');
        const kind = kindOfCanon(canon, () => null);
        if (kind) this.env.kinds.set(p.name, kind);
        else if (/^[A-Z]/.test(names[0] ?? '') && !/^UploadFile/.test(names[0] ?? ''))
          this.paramClasses.set(p.name, cls);
      }
      this.env.vars.set(p.name, [{ o: { k: 'p', i, n: p.name }, s: [], c: 0, f: 0 }]);
    });
  }

  // ---- statements -------------------------------------------------------------------------

  block(node: Node | null): void {
    if (!node) return;
    for (const s of S.named(node)) if (s) this.stmt(s);
  }

  stmt(node: Node): void {
    if (this.depth > MAX_DEPTH) return;
    this.depth++;
    try {
      this.stmtInner(node);
    } finally {
      this.depth--;
    }
  }

  private stmtInner(node: Node): void {
    switch (S.type(node)) {
      case 'expression_statement':
        for (const e of S.named(node)) {
          if (!e) continue;
          if (this.mentionsTaint(e)) this.exprStatement(e);
          else if (S.type(e) === 'assignment') this.quietAssignment(e);
        }
        return;
      case 'return_statement': {
        const e = S.named(node).find((c) => c && S.type(c) !== 'comment');
        if (!e || !this.mentionsTaint(e)) return;
        const labels = this.ev(e);
        if (labels.length)
          this.summary.rets.push({
            line: node.startPosition.row + 1,
            col: node.startPosition.column,
            labels: mark(labels, stepAt(node, 'returned')),
          });
        return;
      }
      case 'if_statement':
        this.ifStatement(node);
        return;
      case 'for_statement': {
        const right = S.field(node, 'right');
        const left = S.field(node, 'left');
        const labels = right && this.mentionsTaint(right) ? this.ev(right) : [];
        const pre = cloneEnv(this.env);
        if (left) this.bindTarget(left, mark(labels, stepAt(left, 'iteration')), null);
        this.block(S.field(node, 'body'));
        this.env = mergeEnvs([pre, this.env]);
        const alt = S.field(node, 'alternative');
        if (alt) this.block(S.field(alt, 'body'));
        return;
      }
      case 'while_statement': {
        const cond = S.field(node, 'condition');
        if (cond) this.ev(cond);
        const pre = cloneEnv(this.env);
        this.block(S.field(node, 'body'));
        this.env = mergeEnvs([pre, this.env]);
        return;
      }
      case 'try_statement': {
        const beforeBody = cloneEnv(this.env);
        this.block(S.field(node, 'body'));
        const afterBody = this.env;
        const outs: Env[] = [afterBody];
        // The body may raise before any of it ran (`ZoneInfo(tz)` raising is the check): a
        // handler that does not stop sees the values as they were before, and after.
        const atHandler = mergeEnvs([afterBody, beforeBody]);
        let elseNode: Node | null = null;
        let finallyNode: Node | null = null;
        for (const c of S.named(node)) {
          if (!c) continue;
          if (S.type(c) === 'except_clause' || S.type(c) === 'except_group_clause') {
            this.env = cloneEnv(atHandler);
            const b = S.named(c).find((x) => x && S.type(x) === 'block') ?? null;
            this.block(b);
            if (!terminates(b)) outs.push(this.env);
          } else if (S.type(c) === 'else_clause') elseNode = S.field(c, 'body');
          else if (S.type(c) === 'finally_clause')
            finallyNode = S.named(c).find((x) => x && S.type(x) === 'block') ?? null;
        }
        this.env = outs.length > 1 ? mergeEnvs(outs) : afterBody;
        if (elseNode) this.block(elseNode);
        if (finallyNode) this.block(finallyNode);
        return;
      }
      case 'with_statement': {
        const clause = S.named(node).find((c) => c && S.type(c) === 'with_clause');
        if (clause)
          for (const item of S.named(clause)) {
            if (!item || S.type(item) !== 'with_item') continue;
            const value = S.field(item, 'value');
            if (!value) continue;
            if (S.type(value) === 'as_pattern') {
              const expr = S.named(value)[0];
              const alias = S.field(value, 'alias');
              if (!expr) continue;
              const labels = this.mentionsTaint(expr) ? this.ev(expr) : [];
              const target = S.named(alias)?.find((c) => c && S.type(c) !== 'comment') ?? null;
              if (target) this.bindTarget(target, labels, expr);
            } else this.ev(value);
          }
        this.block(S.field(node, 'body'));
        return;
      }
      case 'match_statement': {
        const subject = S.field(node, 'subject');
        if (subject) this.ev(subject);
        const pre = this.env;
        const outs: Env[] = [pre];
        for (const b of node.descendantsOfType('block')) {
          if (!b || S.type(b.parent) !== 'case_clause') continue;
          this.env = cloneEnv(pre);
          this.block(b);
          outs.push(this.env);
        }
        this.env = mergeEnvs(outs);
        return;
      }
      case 'assert_statement':
      case 'delete_statement':
      case 'raise_statement':
        for (const e of S.named(node)) if (e) this.ev(e);
        return;
      default:
        // Nested definitions are walked on their own; pass/global/import carry no flow.
        return;
    }
  }

  /**
   * Whether an expression may involve tainted data at all: it names a tainted variable, a
   * request object, or `eval`/`exec`. Token scan of the source text: much cheaper than a walk.
   */
  private mentionsTaint(node: Node): boolean {
    if (this.dotted > 0) return true;
    const text = S.text(node);
    IDENT.lastIndex = 0;
    for (let m = IDENT.exec(text); m; m = IDENT.exec(text)) {
      const t = m[0];
      if (
        this.env.vars.has(t) ||
        this.reqNames.has(t) ||
        this.wsNames.has(t) ||
        t === 'eval' ||
        t === 'exec'
      )
        return true;
    }
    return false;
  }

  /**
   * Whether an expression (given by its text) cannot involve tainted data: none of its names is
   * a tainted variable, a request/WebSocket/upload parameter, `eval`/`exec` or an alias of them,
   * and it binds nothing (`:=`). Evaluating such an expression yields no labels and adds nothing
   * to the summary, so it is skipped. A dotted key (`self.items`) counts by its first name.
   * Conservative: text with non-ASCII characters (identifiers the scan would split) is never
   * quiet.
   */
  private quiet(text: string): boolean {
    if (text.includes(':=') || NON_ASCII.test(text)) return false;
    IDENT.lastIndex = 0;
    for (let m = IDENT.exec(text); m; m = IDENT.exec(text)) {
      const t = m[0];
      if (
        this.env.vars.has(t) ||
        this.reqNames.has(t) ||
        this.wsNames.has(t) ||
        this.uploadNames.has(t) ||
        this.dottedRoots.has(t) ||
        t === 'eval' ||
        t === 'exec' ||
        this.file.evalAliases.has(t)
      )
        return false;
    }
    return true;
  }

  /** Remember the first name of a dotted key given labels (see `quiet`). */
  private noteKey(key: string): void {
    const dot = key.indexOf('.');
    if (dot > 0) this.dottedRoots.add(key.slice(0, dot));
  }

  /** An assignment of untainted data: the targets lose their taint, kinds and constants update. */
  private quietAssignment(node: Node): void {
    const targets: Node[] = [];
    let cur: Node | null = node;
    let right: Node | null = null;
    while (cur && S.type(cur) === 'assignment') {
      const l = S.field(cur, 'left');
      if (l) targets.push(l);
      right = S.field(cur, 'right');
      cur = right;
    }
    if (!right) return;
    for (const t of targets) this.bindTarget(t, [], right);
  }

  private exprStatement(e: Node): void {
    switch (S.type(e)) {
      case 'assignment':
        this.assignment(e);
        return;
      case 'augmented_assignment': {
        const left = S.field(e, 'left');
        const right = S.field(e, 'right');
        if (!left || !right) return;
        const op = S.text(S.field(e, 'operator')) ?? '';
        const prev = this.ev(left);
        const rl = this.ev(right);
        let labels: Label[];
        if (op === '+=') {
          const leftText = this.constText(left);
          const rightText = isStringNode(right)
            ? this.stringLiteralText(right)
            : this.constText(right);
          labels = this.buildLabels(
            [
              leftText !== null ? { lit: leftText } : { labels: prev },
              rightText !== null && rl.length === 0 ? { lit: rightText } : { labels: rl },
            ],
            stepAt(e, 'string concatenation'),
            (leftText ?? '') + (rightText ?? ''),
          );
          if (
            S.type(left) === 'identifier' &&
            leftText !== null &&
            rightText !== null &&
            rl.length === 0
          )
            this.env.consts.set(S.text(left), leftText + rightText);
          else if (S.type(left) === 'identifier') this.env.consts.delete(S.text(left));
        } else if (op === '|=' || op === '%=' || op === '/=') labels = union(prev, rl);
        else labels = prev;
        this.assignTo(left, labels, right, false);
        return;
      }
      default:
        this.ev(e);
    }
  }

  private assignment(node: Node): void {
    const targets: Node[] = [];
    let cur: Node | null = node;
    let right: Node | null = null;
    while (cur && S.type(cur) === 'assignment') {
      const l = S.field(cur, 'left');
      if (l) targets.push(l);
      right = S.field(cur, 'right');
      cur = right;
    }
    if (!right) return;
    // `a, b = x, y`: pair them up rather than giving both the union.
    if (targets.length === 1 && isPattern(targets[0]) && isSequence(right)) {
      const items = namedItems(targets[0]);
      const values = namedItems(right);
      if (items.length === values.length) {
        const labels = values.map((v) => this.ev(v));
        items.forEach((t, i) => this.assignTo(t, labels[i], values[i]));
        return;
      }
    }
    const labels = this.ev(right);
    for (const t of targets) this.bindTarget(t, labels, right);
  }

  /** Bind an assignment / for / with target to labels; `value` is the source expression if any. */
  private bindTarget(target: Node, labels: Label[], value: Node | null): void {
    if (isPattern(target)) {
      for (const t of namedItems(target)) this.assignTo(t, labels, null);
      return;
    }
    this.assignTo(target, labels, value);
  }

  private assignTo(target: Node, labels: Label[], value: Node | null, strong = true): void {
    if (S.type(target) === 'list_splat_pattern' || S.type(target) === 'list_splat') {
      const inner = S.named(target)[0];
      if (inner) this.assignTo(inner, labels, null, strong);
      return;
    }
    if (isPattern(target)) {
      for (const t of namedItems(target)) this.assignTo(t, labels, null, strong);
      return;
    }
    if (S.type(target) === 'identifier' || S.type(target) === 'attribute') {
      const key = S.text(target).replace(/\s+/g, '');
      this.env.vars.set(
        key,
        labels.length ? mark(labels, stepAt(target, `assigned to \`${short(key, 40)}\``)) : labels,
      );
      if (labels.length) this.noteKey(key);
      if (strong && S.type(target) === 'identifier') {
        const vt = value ? S.type(value) : '';
        const lit =
          value && (vt === 'string' || vt === 'concatenated_string') ? literalString(value) : null;
        if (lit !== null && labels.length === 0) this.env.consts.set(key, lit);
        else if (this.env.consts.size) this.env.consts.delete(key);
        const callish =
          vt === 'call' ||
          vt === 'await' ||
          vt === 'identifier' ||
          vt === 'attribute' ||
          CONTAINER_NODES.has(vt);
        const kind = value && callish ? this.kindOf(value) : null;
        if (kind) this.env.kinds.set(key, kind);
        else if (this.env.kinds.size) this.env.kinds.delete(key);
        const parsedOf = value && vt === 'call' ? this.parsedTarget(value) : null;
        if (parsedOf) this.env.parsed.set(key, parsedOf);
        else if (this.env.parsed.size) this.env.parsed.delete(key);
      }
      if (labels.length === 0) this.env.vars.delete(key);
      // Reassigning `x` forgets what was known about `x.attr`.
      if (strong && this.dotted > 0)
        for (const k of [...this.env.vars.keys()])
          if (k.startsWith(`${key}.`)) this.env.vars.delete(k);
      if (key.includes('.') && labels.length) this.dotted++;
      return;
    }
    if (S.type(target) === 'subscript') {
      const obj = S.field(target, 'value');
      const idx = S.field(target, 'subscript');
      if (idx) this.ev(idx);
      // `response.headers["Location"] = url`
      if (
        obj &&
        S.type(obj) === 'attribute' &&
        S.text(S.field(obj, 'attribute')) === 'headers' &&
        /^location$/i.test(literalString(idx) ?? '')
      )
        this.sink('REDIR001', target, '`headers["Location"]`', labels, 0, 0);
      if (obj && (S.type(obj) === 'identifier' || S.type(obj) === 'attribute') && labels.length) {
        const key = S.text(obj).replace(/\s+/g, '');
        this.noteKey(key);
        this.env.vars.set(
          key,
          union(
            this.env.vars.get(key) ?? [],
            mark(labels, stepAt(target, `stored in \`${short(key, 40)}[...]\``)),
          ),
        );
      }
      return;
    }
  }

  private ifStatement(node: Node): void {
    const clauses: { cond: Node | null; body: Node | null }[] = [
      { cond: S.field(node, 'condition'), body: S.field(node, 'consequence') },
    ];
    let hasElse = false;
    for (const alt of node.childrenForFieldName('alternative')) {
      if (!alt) continue;
      if (S.type(alt) === 'elif_clause')
        clauses.push({
          cond: S.field(alt, 'condition'),
          body: S.field(alt, 'consequence'),
        });
      else if (S.type(alt) === 'else_clause') {
        hasElse = true;
        clauses.push({ cond: null, body: S.field(alt, 'body') });
      }
    }
    const base = this.env;
    const outs: Env[] = [];
    let falseChecks: { key: string; mask: number }[] = [];
    for (const c of clauses) {
      this.env = cloneEnv(base);
      this.applyChecks(falseChecks);
      const live = c.cond !== null && this.mentionsTaint(c.cond);
      if (c.cond && live) {
        this.ev(c.cond);
        this.applyChecks(this.guardFacts(c.cond, true));
      }
      this.block(c.body);
      if (!terminates(c.body)) outs.push(this.env);
      if (c.cond && live) falseChecks = [...falseChecks, ...this.guardFacts(c.cond, false)];
    }
    if (!hasElse) {
      this.env = cloneEnv(base);
      this.applyChecks(falseChecks);
      outs.push(this.env);
    }
    this.env = outs.length ? mergeEnvs(outs) : base;
  }

  private applyChecks(checks: { key: string; mask: number }[]): void {
    for (const { key, mask } of checks) {
      const labels = this.env.vars.get(key);
      if (labels) this.env.vars.set(key, mark(labels, null, { clean: mask }));
    }
  }

  // ---- guards -----------------------------------------------------------------------------

  /** The variable a checked expression stands for: `x`, `self.x`, `str(x)`, `x.resolve()`. */
  private keyOf(node: Node | null): string | null {
    if (!node) return null;
    if (S.type(node) === 'identifier') return S.text(node);
    if (S.type(node) === 'attribute') {
      const d = S.text(node).replace(/\s+/g, '');
      return /^[\w.]+$/.test(d) ? d : null;
    }
    if (S.type(node) === 'parenthesized_expression') return this.keyOf(S.named(node)[0]);
    if (S.type(node) === 'call') {
      const fn = S.field(node, 'function');
      const args = this.positional(node);
      if (S.type(fn) === 'identifier' && (S.text(fn) === 'str' || S.text(fn) === 'Path') && args[0])
        return this.keyOf(args[0]);
      if (fn && S.type(fn) === 'attribute') {
        const m = S.text(S.field(fn, 'attribute')) ?? '';
        if (/^(resolve|absolute|lower|strip|casefold|expanduser)$/.test(m))
          return this.keyOf(S.field(fn, 'object'));
        const canon = canonDotted(this.file, S.text(fn).replace(/\s+/g, ''));
        if (/^os\.path\.(realpath|abspath|normpath)$/.test(canon) && args[0])
          return this.keyOf(args[0]);
      }
    }
    return null;
  }

  /** `urlparse(x).netloc` / `parsed.hostname` -> key of x. */
  private urlHostKey(node: Node): string | null {
    if (S.type(node) !== 'attribute') return null;
    const attr = S.text(S.field(node, 'attribute')) ?? '';
    if (!/^(netloc|hostname|host)$/.test(attr)) return null;
    const obj = S.field(node, 'object');
    if (!obj) return null;
    if (S.type(obj) === 'identifier') return this.env.parsed.get(S.text(obj)) ?? null;
    return this.parsedTarget(obj);
  }

  private parsedTarget(node: Node): string | null {
    if (S.type(node) !== 'call') return null;
    const fn = S.field(node, 'function');
    if (!fn) return null;
    const canon = canonDotted(this.file, S.text(fn).replace(/\s+/g, ''));
    if (!/(^|\.)(urlparse|urlsplit|URL|urlsplit)$/.test(canon)) return null;
    return this.keyOf(this.positional(node)[0] ?? null);
  }

  private atomicCheck(node: Node): Check | null {
    if (S.type(node) === 'parenthesized_expression') {
      const inner = S.named(node)[0];
      return inner ? this.atomicCheck(inner) : null;
    }
    if (S.type(node) === 'comparison_operator') {
      const ops = node.childrenForFieldName('operators').filter((o): o is Node => !!o);
      const operands = S.named(node).filter((c): c is Node => !!c && S.type(c) !== 'comment');
      if (ops.length !== 1 || operands.length !== 2) return null;
      const op = S.type(ops[0]);
      const [l, r] = operands;
      if (op === 'in' || op === 'not in') {
        const lit = literalString(l);
        if (lit !== null) {
          const key = this.keyOf(r);
          if (key && /\.\.|\/|\\/.test(lit)) return { key, mask: R.PATH001, good: op === 'not in' };
          return null;
        }
        const host = this.urlHostKey(l);
        if (host) return { key: host, mask: R.SSRF001 | R.REDIR001, good: op === 'in' };
        const key = this.keyOf(l);
        if (key && !isStringNode(r)) return { key, mask: ALL_RULES, good: op === 'in' };
        return null;
      }
      if (op === '==' || op === '!=') {
        for (const [a, b] of [
          [l, r],
          [r, l],
        ]) {
          const host = this.urlHostKey(a);
          if (host) return { key: host, mask: R.SSRF001 | R.REDIR001, good: op === '==' };
          if (S.type(a) === 'call') {
            const canon = canonDotted(this.file, S.text(S.field(a, 'function')) ?? '');
            if (/(^|\.)commonpath$/.test(canon)) {
              const arg = this.positional(a)[0];
              const items = arg ? S.named(arg).filter((c): c is Node => !!c) : [];
              for (const it of items) {
                const key = this.keyOf(it);
                if (key && this.env.vars.has(key))
                  return { key, mask: R.PATH001, good: op === '==' };
              }
            }
          }
          if (literalString(b) !== null) {
            const key = this.keyOf(a);
            if (key) return { key, mask: ALL_RULES, good: op === '==' };
          }
        }
      }
      return null;
    }
    if (S.type(node) === 'call') {
      const fn = S.field(node, 'function');
      if (!fn) return null;
      const args = this.positional(node);
      if (S.type(fn) === 'attribute') {
        const m = S.text(S.field(fn, 'attribute')) ?? '';
        const obj = S.field(fn, 'object');
        if (m === 'startswith') {
          const key = this.keyOf(obj);
          if (!key || !args[0]) return null;
          const arg = args[0];
          const lits =
            S.type(arg) === 'tuple' || S.type(arg) === 'list'
              ? S.named(arg)
                  .filter((c): c is Node => !!c)
                  .map((c) => literalString(c))
              : [literalString(arg)];
          if (lits.every((l) => l === null))
            return { key, mask: R.PATH001 | R.SSRF001 | R.REDIR001, good: true };
          if (lits.every((l) => l !== null && FIXED_PREFIX.test(l)))
            return { key, mask: R.PATH001 | R.SSRF001 | R.REDIR001, good: true };
          return null;
        }
        if (m === 'is_relative_to') {
          const key = this.keyOf(obj);
          return key ? { key, mask: R.PATH001, good: true } : null;
        }
        if (CHECK_METHODS_ALL.has(m)) {
          const key = this.keyOf(obj);
          return key ? { key, mask: ALL_RULES, good: true } : null;
        }
        if (m === 'match' || m === 'fullmatch') {
          const canon = canonDotted(this.file, S.text(fn).replace(/\s+/g, ''));
          const target = canon === `re.${m}` ? args[1] : args[0];
          const key = this.keyOf(target ?? null);
          return key ? { key, mask: ALL_RULES, good: true } : null;
        }
      }
      const name = S.text(fn).split('.').pop() ?? '';
      if (URL_SAFE_CHECKS.has(name)) {
        const key = this.keyOf(args[0] ?? null);
        return key ? { key, mask: R.SSRF001 | R.REDIR001, good: true } : null;
      }
      const canon = canonDotted(this.file, S.text(fn).replace(/\s+/g, ''));
      if (canon === 're.match' || canon === 're.fullmatch') {
        const key = this.keyOf(args[1] ?? null);
        return key ? { key, mask: ALL_RULES, good: true } : null;
      }
    }
    return null;
  }

  /** Facts that hold when `cond` evaluates to `truth`. */
  private guardFacts(cond: Node, truth: boolean): { key: string; mask: number }[] {
    switch (S.type(cond)) {
      case 'parenthesized_expression': {
        const inner = S.named(cond)[0];
        return inner ? this.guardFacts(inner, truth) : [];
      }
      case 'not_operator': {
        const arg = S.field(cond, 'argument');
        return arg ? this.guardFacts(arg, !truth) : [];
      }
      case 'boolean_operator': {
        const op = S.type(S.field(cond, 'operator')) ?? '';
        const l = S.field(cond, 'left');
        const r = S.field(cond, 'right');
        if (!l || !r) return [];
        if ((op === 'and' && truth) || (op === 'or' && !truth))
          return [...this.guardFacts(l, truth), ...this.guardFacts(r, truth)];
        // `if parsed.netloc and parsed.netloc not in ALLOWED: reject`: an empty value (a
        // relative URL, no name) passes, anything else was checked.
        if (op === 'and' && !truth && (S.type(l) === 'identifier' || S.type(l) === 'attribute'))
          return this.guardFacts(r, truth);
        return [];
      }
      default: {
        const c = this.atomicCheck(cond);
        if (!c || c.good !== truth) return [];
        return [{ key: c.key, mask: c.mask }];
      }
    }
  }

  // ---- expressions ------------------------------------------------------------------------

  private constText(node: Node): string | null {
    if (S.type(node) === 'identifier')
      return (
        this.env.consts.get(S.text(node)) ??
        (this.env.vars.has(S.text(node))
          ? null
          : (this.file.moduleConsts.get(S.text(node)) ?? null))
      );
    return null;
  }

  private stringLiteralText(node: Node): string | null {
    return literalString(node);
  }

  private kindOf(node: Node): ObjKind | null {
    const t = S.type(node);
    if (CONTAINER_NODES.has(t)) return 'container';
    if (t === 'await') {
      const inner = S.named(node)[0];
      return inner ? this.kindOf(inner) : null;
    }
    if (S.type(node) === 'identifier')
      return (
        this.env.kinds.get(S.text(node)) ??
        (this.env.vars.has(S.text(node)) ? null : (this.file.moduleKinds.get(S.text(node)) ?? null))
      );
    if (S.type(node) === 'attribute') {
      const key = S.text(node).replace(/\s+/g, '');
      return this.env.kinds.get(key) ?? this.file.selfKinds.get(key) ?? null;
    }
    if (S.type(node) !== 'call') return null;
    const fn = S.field(node, 'function');
    if (!fn) return null;
    if (S.type(fn) === 'attribute') {
      const m = S.text(S.field(fn, 'attribute')) ?? '';
      const obj = S.field(fn, 'object');
      if ((m === 'from_string' || m === 'get_template') && obj && this.kindOf(obj) === 'jinja-env')
        return 'jinja-tmpl';
    }
    const d = S.text(fn).replace(/\s+/g, '');
    if (!/^[\w.]+$/.test(d)) return null;
    const canon = canonDotted(this.file, d);
    if (/^(list|dict|set|collections\.(defaultdict|deque|OrderedDict|Counter))$/.test(canon))
      return 'container';
    if (!canon.includes('.')) return null;
    return kindOfCanon(canon, (n) => this.keywordNode(node, n));
  }

  private keywordNode(call: Node, name: string): Node | null {
    const args = S.field(call, 'arguments');
    if (!args) return null;
    for (const a of S.named(args))
      if (a && S.type(a) === 'keyword_argument' && S.text(S.field(a, 'name')) === name)
        return S.field(a, 'value');
    return null;
  }

  private positional(call: Node): Node[] {
    const args = S.field(call, 'arguments');
    if (!args || S.type(args) !== 'argument_list') return [];
    return S.named(args).filter(
      (a): a is Node =>
        !!a &&
        S.type(a) !== 'keyword_argument' &&
        S.type(a) !== 'comment' &&
        S.type(a) !== 'list_splat' &&
        S.type(a) !== 'dictionary_splat',
    );
  }

  ev(node: Node): Label[] {
    if (this.depth > MAX_DEPTH) return [];
    this.depth++;
    try {
      return this.evInner(node);
    } finally {
      this.depth--;
    }
  }

  private evInner(node: Node): Label[] {
    switch (S.type(node)) {
      case 'identifier':
        return this.env.vars.get(S.text(node)) ?? [];
      case 'attribute':
        return this.attribute(node);
      case 'subscript': {
        const obj = S.field(node, 'value');
        for (const s of node.childrenForFieldName('subscript')) if (s) this.ev(s);
        const labels = obj ? this.ev(obj) : [];
        if (labels.length === 0) return labels;
        return mark(labels, stepAt(node, `subscript \`${short(S.text(node), 40)}\``));
      }
      case 'call':
        return this.call(node);
      case 'string':
        return this.fstring(node);
      case 'concatenated_string': {
        const parts: Part[] = [];
        for (const c of S.named(node)) if (c) parts.push(...this.stringParts(c));
        if (parts.every((p) => p.labels === undefined || p.labels.length === 0)) return [];
        return this.buildLabels(
          parts,
          stepAt(node, 'f-string'),
          parts.map((p) => p.lit ?? '').join(''),
        );
      }
      case 'binary_operator':
        return this.binop(node);
      case 'boolean_operator': {
        const l = S.field(node, 'left');
        const r = S.field(node, 'right');
        return union(l ? this.ev(l) : [], r ? this.ev(r) : []);
      }
      case 'conditional_expression': {
        const kids = S.named(node).filter((c): c is Node => !!c && S.type(c) !== 'comment');
        const a = kids[0] ? this.ev(kids[0]) : [];
        if (kids[1]) this.ev(kids[1]);
        const b = kids[2] ? this.ev(kids[2]) : [];
        return union(a, b);
      }
      case 'comparison_operator':
      case 'not_operator':
        for (const c of S.named(node)) if (c) this.ev(c);
        return [];
      case 'parenthesized_expression':
      case 'await':
      case 'list_splat':
      case 'dictionary_splat':
      case 'keyword_argument': {
        const inner =
          S.type(node) === 'keyword_argument'
            ? S.field(node, 'value')
            : S.named(node).find((c) => c && S.type(c) !== 'comment');
        return inner ? this.ev(inner) : [];
      }
      case 'list':
      case 'tuple':
      case 'set':
      case 'expression_list':
        return this.container(node);
      case 'dictionary':
        return this.dictionary(node, null);
      case 'list_comprehension':
      case 'set_comprehension':
      case 'generator_expression':
      case 'dictionary_comprehension':
        return this.comprehension(node);
      case 'named_expression': {
        const name = S.field(node, 'name');
        const value = S.field(node, 'value');
        const labels = value ? this.ev(value) : [];
        if (name) this.assignTo(name, labels, value, true);
        return labels;
      }
      case 'assignment':
        this.assignment(node);
        return [];
      case 'lambda':
      case 'integer':
      case 'float':
      case 'true':
      case 'false':
      case 'none':
      case 'ellipsis':
      case 'comment':
        return [];
      default: {
        let out: Label[] = [];
        for (const c of S.named(node)) if (c) out = union(out, this.ev(c));
        return out;
      }
    }
  }

  private attribute(node: Node): Label[] {
    const text = S.text(node);
    if (this.quiet(text)) return [];
    const dotted = text.replace(/\s+/g, '');
    const direct = this.env.vars.get(dotted);
    if (direct) return direct;
    const obj = S.field(node, 'object');
    const attr = S.text(S.field(node, 'attribute')) ?? '';
    if (!obj) return [];
    if (S.type(obj) === 'identifier' && this.reqNames.has(S.text(obj))) {
      const kind = REQUEST_SOURCE_ATTRS.get(attr);
      if (kind) return [this.source(kind as SourceKind, node)];
      return [];
    }
    if (S.type(obj) === 'identifier' && this.uploadNames.has(S.text(obj)) && attr === 'filename')
      return [this.source('filename', node)];
    const labels = this.ev(obj);
    if (labels.length === 0) return labels;
    // A file name's extension cannot hold a folder: `Path(upload.filename).suffix`.
    if (attr === 'suffix' || attr === 'suffixes')
      return mark(labels, stepAt(node, `\`.${attr}\``), { clean: R.PATH001 });
    if ((attr === 'name' || attr === 'stem') && S.type(obj) === 'call') {
      const fn = S.field(obj, 'function');
      const canon = fn ? canonDotted(this.file, S.text(fn)) : '';
      if (/(^|\.)(Path|PurePath|PurePosixPath)$/.test(canon))
        return mark(labels, stepAt(node, `\`.${attr}\``), { clean: R.PATH001 });
    }
    const out = mark(labels, stepAt(node, `attribute \`.${attr}\``));
    // `item.qty` straight from a parameter: remember the field, its type may make it safe.
    if (S.type(obj) === 'identifier')
      for (const l of out)
        if (l.o.k === 'p' && l.a === undefined && isPure(l.s.slice(0, -1))) l.a = attr;
    return out;
  }

  private source(kind: SourceKind, node: Node): Label {
    return {
      o: {
        k: 's',
        kind,
        text: short(S.text(node), 50),
        line: node.startPosition.row + 1,
        col: node.startPosition.column,
      },
      s: [],
      c: SOURCE_CLEAN.get(kind) ?? 0,
      f: 0,
    };
  }

  private container(node: Node): Label[] {
    const items = S.named(node).filter((c): c is Node => !!c && S.type(c) !== 'comment');
    const ordered =
      S.type(node) === 'list' || S.type(node) === 'tuple' || S.type(node) === 'expression_list';
    // `["sh", "-c", cmd]`: the command line is not a plain argument.
    const shellLine =
      ordered &&
      items.length >= 3 &&
      SHELL_PROGRAMS.test(literalString(items[0]) ?? '') &&
      SHELL_FLAGS.has(literalString(items[1]) ?? '');
    let out: Label[] = [];
    items.forEach((item, i) => {
      const labels = this.ev(item);
      if (labels.length === 0) return;
      const tail = ordered && i > 0 && !shellLine ? Flag.TAIL : 0;
      out = union(out, mark(labels, stepAt(item, 'put in a container'), { flags: tail }));
    });
    return out;
  }

  /** A dict literal; `onKey` sees each literal key's value labels. */
  private dictionary(node: Node, onKey: ((key: string, labels: Label[]) => void) | null): Label[] {
    let out: Label[] = [];
    for (const pair of S.named(node)) {
      if (!pair) continue;
      if (S.type(pair) === 'pair') {
        const k = S.field(pair, 'key');
        const v = S.field(pair, 'value');
        const kl = k ? this.ev(k) : [];
        const vl = v ? this.ev(v) : [];
        if (onKey && k) {
          const lit = literalString(k);
          if (lit !== null) onKey(lit, vl);
        }
        out = union(out, mark(union(kl, vl), stepAt(pair, 'put in a dict')));
      } else out = union(out, this.ev(pair));
    }
    return out;
  }

  private comprehension(node: Node): Label[] {
    const saved = new Map<string, Label[] | undefined>();
    let iterLabels: Label[] = [];
    for (const c of S.named(node)) {
      if (!c) continue;
      if (S.type(c) === 'for_in_clause') {
        const right = S.field(c, 'right');
        const rl = right ? this.ev(right) : [];
        iterLabels = union(iterLabels, rl);
        const lefts = c.childrenForFieldName('left').filter((x): x is Node => !!x);
        for (const left of lefts) {
          const ids = S.type(left) === 'identifier' ? [left] : left.descendantsOfType('identifier');
          for (const id of ids) {
            if (!id) continue;
            if (!saved.has(S.text(id))) saved.set(S.text(id), this.env.vars.get(S.text(id)));
            if (rl.length) this.env.vars.set(S.text(id), mark(rl, stepAt(id, 'iteration')));
            else this.env.vars.delete(S.text(id));
          }
        }
      } else if (S.type(c) === 'if_clause') {
        for (const x of S.named(c)) if (x) this.ev(x);
      }
    }
    const body = S.field(node, 'body');
    let out: Label[] = [];
    if (body) {
      if (S.type(body) === 'pair') {
        const k = S.field(body, 'key');
        const v = S.field(body, 'value');
        out = union(k ? this.ev(k) : [], v ? this.ev(v) : []);
      } else out = this.ev(body);
    }
    for (const [k, v] of saved) {
      if (v) this.env.vars.set(k, v);
      else this.env.vars.delete(k);
    }
    return mark(out, stepAt(node, 'comprehension'));
  }

  // ---- string building --------------------------------------------------------------------

  private stringParts(node: Node): Part[] {
    if (S.type(node) !== 'string') {
      if (S.type(node) === 'concatenated_string') {
        const out: Part[] = [];
        for (const c of S.named(node)) if (c) out.push(...this.stringParts(c));
        return out;
      }
      return [{ labels: this.ev(node) }];
    }
    const parts: Part[] = [];
    for (const c of S.named(node)) {
      if (!c) continue;
      if (S.type(c) === 'string_content' || S.type(c) === 'escape_sequence')
        parts.push({ lit: S.text(c) });
      else if (S.type(c) === 'interpolation') {
        const e = S.field(c, 'expression');
        const fmt = S.field(c, 'format_specifier');
        if (fmt) for (const x of fmt.descendantsOfType('interpolation')) if (x) this.ev(x);
        const labels = e ? this.ev(e) : [];
        // `{n:d}` formats a number: nothing textual can get in.
        const numeric = fmt && /^:\s*[\d,_.]*[bcdoxXneEfFgG%]$/.test(S.text(fmt));
        parts.push({ labels: numeric ? [] : labels });
      }
    }
    return parts;
  }

  private fstring(node: Node): Label[] {
    const hasInterp = S.named(node).some((c) => c && S.type(c) === 'interpolation');
    if (!hasInterp) return [];
    const parts = this.stringParts(node);
    return this.buildLabels(
      parts,
      stepAt(node, 'f-string'),
      parts.map((p) => p.lit ?? '').join(''),
    );
  }

  /**
   * Labels of a string built from parts: BUILT, SQLISH when the literal text reads like SQL,
   * and safe for SSRF/redirects when a fixed URL/path prefix comes before the tainted part.
   */
  private buildLabels(parts: Part[], step: Step, literalText: string): Label[] {
    let prefix = '';
    let fixed = false;
    let seenTaint = false;
    let out: Label[] = [];
    const sqlish = SQL_TEXT.test(literalText) ? Flag.SQLISH : 0;
    for (const p of parts) {
      if (p.lit !== undefined) {
        if (!seenTaint) prefix += p.lit;
        continue;
      }
      const labels = p.labels ?? [];
      if (labels.length === 0) {
        if (!seenTaint) prefix += '\uE000';
        continue;
      }
      if (!seenTaint) {
        seenTaint = true;
        fixed = FIXED_PREFIX.test(prefix);
      }
      out = union(out, labels);
    }
    return mark(out, step, {
      flags: Flag.BUILT | sqlish,
      clean: fixed ? R.SSRF001 | R.REDIR001 : 0,
      clear: Flag.TAIL,
    });
  }

  private operandPart(node: Node): Part[] {
    if (isStringNode(node)) {
      const lit = literalString(node);
      if (lit !== null) return [{ lit }];
      return this.stringParts(node);
    }
    const c = this.constText(node);
    if (c !== null) return [{ lit: c }];
    return [{ labels: this.ev(node) }];
  }

  private binop(node: Node): Label[] {
    const op = S.text(S.field(node, 'operator')) ?? '';
    const l = S.field(node, 'left');
    const r = S.field(node, 'right');
    if (!l || !r) return [];
    if (op === '+') {
      // Flatten `a + b + c` so the fixed-prefix check sees the whole chain.
      const operands: Node[] = [];
      const flatten = (n: Node): void => {
        if (S.type(n) === 'binary_operator' && S.text(S.field(n, 'operator')) === '+') {
          const a = S.field(n, 'left');
          const b = S.field(n, 'right');
          if (a) flatten(a);
          if (b) flatten(b);
        } else operands.push(n);
      };
      flatten(node);
      const parts = operands.flatMap((o) => this.operandPart(o));
      if (parts.every((p) => !p.labels || p.labels.length === 0)) return [];
      return this.buildLabels(
        parts,
        stepAt(node, 'string concatenation'),
        parts.map((p) => p.lit ?? '').join(''),
      );
    }
    if (op === '%') {
      const fmt = isStringNode(l) ? literalString(l) : this.constText(l);
      if (fmt !== null) {
        const rl = this.ev(r);
        if (rl.length === 0) return [];
        const i = fmt.indexOf('%');
        return this.buildLabels(
          [{ lit: i < 0 ? fmt : fmt.slice(0, i) }, { labels: rl }],
          stepAt(node, '`%` formatting'),
          fmt,
        );
      }
      const ll = this.ev(l);
      const rl = this.ev(r);
      return mark(union(ll, rl), stepAt(node, '`%` formatting'), { flags: Flag.BUILT });
    }
    const ll = this.ev(l);
    const rl = this.ev(r);
    if (op === '/') return mark(union(ll, rl), stepAt(node, 'path join with `/`'));
    if (op === '|') return union(ll, rl);
    return [];
  }

  // ---- calls ------------------------------------------------------------------------------

  private call(node: Node): Label[] {
    if (this.quiet(S.text(node))) return [];
    const fnNode = S.field(node, 'function');
    if (!fnNode) return [];
    const argsNode = S.field(node, 'arguments');
    let method: string | null = null;
    let recvNode: Node | null = null;
    if (S.type(fnNode) === 'attribute') {
      method = S.text(S.field(fnNode, 'attribute')) ?? null;
      recvNode = S.field(fnNode, 'object');
    }
    // Intrinsic sources: `await request.json()`, `await websocket.receive_text()`.
    if (recvNode && S.type(recvNode) === 'identifier' && method) {
      const bodyKind = REQUEST_SOURCE_METHODS.get(method);
      if (this.reqNames.has(S.text(recvNode)) && bodyKind)
        return [this.source(bodyKind as SourceKind, node)];
      if (this.wsNames.has(S.text(recvNode)) && WEBSOCKET_SOURCE_METHODS.has(method))
        return [this.source('websocket', node)];
    }
    const dotted =
      S.type(fnNode) === 'identifier' || S.type(fnNode) === 'attribute'
        ? S.text(fnNode).replace(/\s+/g, '')
        : '';
    const simple = /^[\w.]+$/.test(dotted);
    const canon = simple ? canonDotted(this.file, dotted) : null;
    const rootName = simple ? dotted.split('.')[0] : null;
    const recvIsModule =
      !!rootName && !!recvNode && this.file.imports.has(rootName) && !this.env.vars.has(rootName);
    const recvLabels = recvNode && !recvIsModule ? this.ev(recvNode) : [];
    if (!simple && S.type(fnNode) !== 'attribute') this.ev(fnNode);

    const parts: CallParts = {
      node,
      fnNode,
      canon,
      method,
      recvNode,
      recvLabels,
      pos: [],
      posLabels: [],
      kw: new Map(),
      kwLabels: new Map(),
      splatLabels: [],
      locationLabels: null,
      recvIsModule,
    };
    const headersKw = canon && /Response$/.test(canon) ? 'headers' : null;
    if (argsNode && S.type(argsNode) === 'argument_list') {
      for (const a of S.named(argsNode)) {
        if (!a || S.type(a) === 'comment') continue;
        if (S.type(a) === 'keyword_argument') {
          const name = S.text(S.field(a, 'name')) ?? '';
          const v = S.field(a, 'value');
          if (!v) continue;
          parts.kw.set(name, v);
          if (name === headersKw && S.type(v) === 'dictionary')
            parts.kwLabels.set(
              name,
              this.dictionary(v, (k, labels) => {
                if (/^location$/i.test(k)) parts.locationLabels = labels;
              }),
            );
          else parts.kwLabels.set(name, this.ev(v));
        } else if (S.type(a) === 'list_splat' || S.type(a) === 'dictionary_splat') {
          parts.splatLabels = union(parts.splatLabels, this.ev(a));
        } else {
          parts.pos.push(a);
          parts.posLabels.push(this.ev(a));
        }
      }
    } else if (argsNode) {
      // `f(x for x in y)`
      parts.pos.push(argsNode);
      parts.posLabels.push(this.ev(argsNode));
    }

    this.sinks(parts);
    this.indirect(parts);
    return this.callResult(parts);
  }

  /** `tasks.add_task(fn, x)`, `run_in_threadpool(fn, x)`: a call of `fn(x)` in disguise. */
  private indirect(p: CallParts): void {
    let at = -1;
    if (p.method === 'add_task' || p.method === 'submit') at = 0;
    else if (p.method === 'run_in_executor') at = 1;
    else if (p.canon && /(^|\.)(to_thread|run_in_threadpool|run_sync)$/.test(p.canon)) at = 0;
    const fnNode = at >= 0 ? p.pos[at] : undefined;
    if (!fnNode || (S.type(fnNode) !== 'identifier' && S.type(fnNode) !== 'attribute')) return;
    const posLabels = p.posLabels.slice(at + 1);
    const pos = p.pos.slice(at + 1);
    const tainted =
      posLabels.some((l) => l.length) ||
      [...p.kwLabels.values()].some((l) => l.length) ||
      pos.some((a) => S.type(a) === 'identifier' && this.reqNames.has(S.text(a)));
    if (!tainted) return;
    const isAttr = S.type(fnNode) === 'attribute';
    this.record(
      {
        ...p,
        fnNode,
        method: isAttr ? (S.text(S.field(fnNode, 'attribute')) ?? null) : null,
        recvNode: isAttr ? S.field(fnNode, 'object') : null,
        recvLabels: [],
        pos,
        posLabels,
      },
      'none',
    );
  }

  private arg(p: CallParts, i: number, kws: string[]): { node: Node; labels: Label[] } | null {
    if (i >= 0 && p.pos[i]) return { node: p.pos[i], labels: p.posLabels[i] };
    for (const k of kws) {
      const n = p.kw.get(k);
      if (n) return { node: n, labels: p.kwLabels.get(k) ?? [] };
    }
    return null;
  }

  private sink(
    code: TaintCode,
    node: Node,
    desc: string,
    labels: Label[],
    need: number,
    forbid: number,
  ): void {
    const bit = R[code];
    const live = labels.filter((l) => !(l.c & bit));
    if (live.length === 0) return;
    this.summary.sinks.push({
      code,
      desc,
      line: node.startPosition.row + 1,
      col: node.startPosition.column,
      endLine: node.endPosition.row + 1,
      endCol: node.endPosition.column,
      need,
      forbid,
      labels: live,
    });
  }

  private isBuiltin(name: string): boolean {
    return (
      PY_BUILTINS.has(name) &&
      !this.file.imports.has(name) &&
      !this.file.localDefs.has(name) &&
      !this.env.vars.has(name)
    );
  }

  private sinks(p: CallParts): void {
    const { canon, method, node } = p;
    const last = canon ? (canon.split('.').pop() ?? '') : '';
    const webRoot = canon ? /^(fastapi|starlette)\./.test(canon) || canon === last : false;

    if (canon) {
      // ---- INJ002 command injection
      const shellArg = SHELL_CALLS.get(canon);
      if (shellArg !== undefined) {
        const a = this.arg(p, shellArg, ['cmd', 'command', 'args', 'file', 'path']);
        if (a) this.sink('INJ002', node, `\`${canon}()\``, a.labels, 0, 0);
      } else if (
        (canon.startsWith('subprocess.') && SUBPROCESS_FUNCS.has(last)) ||
        canon === 'asyncio.create_subprocess_exec'
      ) {
        const a = this.arg(p, 0, ['args', 'program']);
        const shell = p.kw.get('shell');
        const shellOn = !!shell && !/^(False|None|0)$/.test(S.text(shell));
        if (a)
          this.sink(
            'INJ002',
            node,
            shellOn ? `\`${canon}(shell=True)\`` : `\`${canon}()\``,
            a.labels,
            0,
            shellOn ? 0 : Flag.TAIL,
          );
      }
      // ---- INJ001 SQL injection
      if (SQL_TEXT_FUNCS.has(canon)) {
        const a = this.arg(p, 0, ['text']);
        if (a) this.sink('INJ001', node, '`text()`', a.labels, 0, 0);
      } else if (SQL_READ_FUNCS.has(canon)) {
        const a = this.arg(p, 0, ['sql']);
        if (a) this.sink('INJ001', node, `\`${last}()\``, a.labels, 0, 0);
      }
      // ---- INJ003 code injection
      const code = CODE_FUNCS.get(canon);
      if (code && (canon.includes('.') || this.isBuiltin(canon))) {
        const a = this.arg(p, 0, ['source', 'name', 'object']);
        if (a) {
          this.sink('INJ003', node, `\`${code}\``, a.labels, 0, 0);
          if (
            (canon === 'eval' || canon === 'exec' || canon.startsWith('builtins.')) &&
            literalString(a.node) === null
          )
            this.summary.evals.push({
              line: node.startPosition.row + 1,
              col: node.startPosition.column,
              endLine: node.endPosition.row + 1,
              endCol: node.endPosition.column,
              callee: code,
            });
        }
      }
      if (canon === 'jinja2.Template') {
        const a = this.arg(p, 0, ['source']);
        if (a) this.sink('INJ003', node, '`jinja2.Template()` (template source)', a.labels, 0, 0);
      }
      // ---- PATH001 path traversal
      const pathSpec = PATH_CALLS.get(canon);
      if (pathSpec && (canon.includes('.') || this.isBuiltin(canon))) {
        const seen = new Set<Node>();
        pathSpec.pos.forEach((i, j) => {
          const a = this.arg(p, i, pathSpec.kw[j] ? [pathSpec.kw[j]] : []);
          if (a && !seen.has(a.node)) {
            seen.add(a.node);
            this.sink('PATH001', node, `\`${canon}()\``, a.labels, 0, 0);
          }
        });
      }
      if (last === 'FileResponse' && webRoot) {
        const a = this.arg(p, 0, ['path']);
        if (a) this.sink('PATH001', node, '`FileResponse()`', a.labels, 0, 0);
      }
      // ---- SSRF001
      if (HTTP_FUNCS.has(canon)) {
        const a = this.arg(p, last === 'request' ? 1 : 0, ['url']);
        if (a) this.sink('SSRF001', node, `\`${canon}()\``, a.labels, 0, 0);
      }
      // ---- REDIR001
      if (last === 'RedirectResponse' && webRoot) {
        const a = this.arg(p, 0, ['url']);
        if (a) this.sink('REDIR001', node, '`RedirectResponse()`', a.labels, 0, 0);
      }
      if (/Response$/.test(last) && webRoot && p.locationLabels)
        this.sink(
          'REDIR001',
          node,
          `\`${last}(headers={"Location": ...})\``,
          p.locationLabels,
          0,
          0,
        );
      // ---- XSS001
      if (last === 'HTMLResponse' && webRoot) {
        const a = this.arg(p, 0, ['content']);
        if (a) this.sink('XSS001', node, '`HTMLResponse()`', a.labels, 0, 0);
      } else if (last === 'Response' && webRoot) {
        const mt = literalString(p.kw.get('media_type') ?? null);
        const a = this.arg(p, 0, ['content']);
        if (a && mt && /html/i.test(mt))
          this.sink('XSS001', node, '`Response(media_type="text/html")`', a.labels, 0, 0);
      }
    }

    if (method && p.recvNode) {
      const recvText = short(S.text(p.recvNode), 30);
      const recvIsModule = p.recvIsModule;
      // ---- INJ001: `cursor.execute(f"... {x}")`
      if (SQL_METHODS.has(method) && !recvIsModule) {
        const a = this.arg(p, 0, SQL_KWARGS);
        if (a) this.sink('INJ001', node, `\`${recvText}.${method}()\``, a.labels, Flag.SQLISH, 0);
      }
      if (method === 'exec_command' && !recvIsModule) {
        const a = this.arg(p, 0, ['command']);
        if (a) this.sink('INJ002', node, `\`${recvText}.exec_command()\``, a.labels, 0, 0);
      }
      const kind = this.recvKind(p);
      // ---- SSRF001: `client.get(url)` on an HTTP client
      if (kind === 'http' && HTTP_METHODS.has(method)) {
        const a = this.arg(p, method === 'request' || method === 'stream' ? 1 : 0, ['url']);
        if (a) this.sink('SSRF001', node, `\`${recvText}.${method}()\``, a.labels, 0, 0);
      }
      // ---- Jinja2 without autoescape
      if (kind === 'jinja-tmpl' && (method === 'render' || method === 'render_async')) {
        const all = unionAll([...p.posLabels, ...p.kwLabels.values(), p.splatLabels]);
        this.sink('XSS001', node, '`Template.render()` without autoescape', all, 0, 0);
      }
      if (kind === 'jinja-env' && method === 'from_string') {
        const a = this.arg(p, 0, ['source']);
        if (a)
          this.sink(
            'INJ003',
            node,
            '`Environment.from_string()` (template source)',
            a.labels,
            0,
            0,
          );
      }
      // ---- PATH001: `(BASE / name).read_text()`
      if (PATH_METHODS.has(method) && !recvIsModule && p.recvLabels.length)
        this.sink('PATH001', node, `\`.${method}()\``, p.recvLabels, 0, 0);
      // `resolved.relative_to(base)` raises outside base: the path is checked from here on.
      if (method === 'relative_to') {
        const key = this.keyOf(p.recvNode);
        if (key) this.applyChecks([{ key, mask: R.PATH001 }]);
      }
    }
  }

  /**
   * The receiver's kind, asked by the sink checks and the result of one call: computed once
   * (nothing in between changes which names are bound or their kinds).
   */
  private recvKind(p: CallParts): ObjKind | null {
    if (p.recvKind === undefined) p.recvKind = p.recvNode ? this.kindOf(p.recvNode) : null;
    return p.recvKind;
  }

  private callResult(p: CallParts): Label[] {
    const { canon, method, node } = p;
    const args = unionAll([...p.posLabels, ...p.kwLabels.values(), p.splatLabels]);
    const last = canon ? (canon.split('.').pop() ?? '') : '';
    const isBuiltinName = canon !== null && !canon.includes('.') && this.isBuiltin(canon);
    if (canon) {
      const validates = VALIDATING_CALLS.get(canon);
      if (validates !== undefined) {
        // `ZoneInfo(tz)` raises unless `tz` is valid: `tz` is checked from here on.
        const key = this.keyOf(this.arg(p, 0, ['key', 'zone'])?.node ?? null);
        if (key) this.applyChecks([{ key, mask: validates }]);
      }
      const cleans = SANITIZERS.get(canon);
      if (cleans !== undefined)
        return mark(
          this.arg(p, 0, [])?.labels ?? args,
          stepAt(node, `sanitized by \`${canon}()\``),
          {
            clean: cleans,
          },
        );
      if (
        (CLEANING_CALLS.has(canon) && (canon.includes('.') || isBuiltinName)) ||
        CLEANING_PREFIXES.some((pre) => canon.startsWith(pre))
      )
        return [];
      // The statement object already reported at `text()`; what it holds is not raw SQL.
      if (SQL_TEXT_FUNCS.has(canon)) return mark(args, null, { clean: R.INJ001 });
      if (/^(fastapi|starlette)\./.test(canon) && /Response$/.test(last)) return [];
      if (SHELL_CALLS.has(canon) || canon.startsWith('subprocess.')) return [];
      // A response from another server is not the client's data.
      if (HTTP_FUNCS.has(canon)) return [];
    }
    if (method && p.recvNode) {
      const kind = this.recvKind(p);
      if (kind === 'jinja-tmpl' && method === 'render')
        return mark(args, null, { clean: R.XSS001 });
      if (kind === 'http') return [];
    }
    const rootName = canon ? (S.text(p.fnNode).split('.')[0] ?? '') : '';
    const isModuleCall = p.recvIsModule;
    const external = isBuiltinName || (isModuleCall && this.file.externalLocals.has(rootName));
    const recordable = (): boolean => {
      if (args.length || p.recvLabels.length) return true;
      // A request object passed on: the callee may read client data from it.
      return [...p.pos, ...p.kw.values()].some(
        (a) =>
          S.type(a) === 'identifier' &&
          (this.reqNames.has(S.text(a)) || this.wsNames.has(S.text(a))),
      );
    };

    // ---- method calls on values
    if (method && p.recvNode && !isModuleCall) {
      if (method === 'format' || method === 'format_map') {
        const fmt = isStringNode(p.recvNode)
          ? literalString(p.recvNode)
          : this.constText(p.recvNode);
        if (fmt !== null) {
          if (args.length === 0) return [];
          const i = fmt.indexOf('{');
          return this.buildLabels(
            [{ lit: i < 0 ? fmt : fmt.slice(0, i) }, { labels: args }],
            stepAt(node, '`.format()`'),
            fmt,
          );
        }
        return mark(union(p.recvLabels, args), stepAt(node, '`.format()`'), { flags: Flag.BUILT });
      }
      if (method === 'join') {
        const sep = isStringNode(p.recvNode) ? literalString(p.recvNode) : null;
        if (sep !== null || p.recvLabels.length === 0) {
          if (args.length === 0) return [];
          return mark(args, stepAt(node, '`join()`'), {
            flags: Flag.BUILT | (sep !== null && SQL_TEXT.test(sep) ? Flag.SQLISH : 0),
            clear: Flag.TAIL,
          });
        }
      }
      const recvRoot = rootOf(p.recvNode);
      const candidate =
        !!recvRoot &&
        (recvRoot === 'self' ||
          recvRoot === 'cls' ||
          this.paramClasses.has(recvRoot) ||
          (!this.env.vars.has(recvRoot) &&
            !this.reqNames.has(recvRoot) &&
            !this.wsNames.has(recvRoot) &&
            !this.file.externalLocals.has(recvRoot)));
      const key = MUTATING_METHODS.has(method) ? this.keyOf(p.recvNode) : null;
      // `parts.append(x)` on a list (or a plain value): the container now holds x.
      // `self.repo.add(x)`, `service.update(x)`: a method, maybe workspace code.
      if (key && (!candidate || this.recvKind(p) === 'container')) {
        if (args.length) this.noteKey(key);
        if (args.length)
          this.env.vars.set(
            key,
            union(
              this.env.vars.get(key) ?? [],
              mark(args, stepAt(node, `added to \`${short(key, 40)}\``)),
            ),
          );
        return [];
      }
      // `self.repo.find(x)`, `service.run(x)`: maybe workspace code, decided on the workspace.
      if (candidate && recordable())
        return this.record(
          p,
          NON_PROPAGATING_METHODS.has(method)
            ? 'none'
            : ARG_PROPAGATING_METHODS.has(method)
              ? 'both'
              : 'recv',
        );
      if (NON_PROPAGATING_METHODS.has(method)) return [];
      if (ARG_PROPAGATING_METHODS.has(method))
        return mark(union(p.recvLabels, args), stepAt(node, `\`.${method}()\``));
      return p.recvLabels.length ? mark(p.recvLabels, null) : [];
    }

    // ---- function calls
    if (external) {
      if (
        isBuiltinName &&
        !/^(str|repr|format|bytes|bytearray|list|tuple|set|frozenset|dict|sorted|reversed|enumerate|zip|iter|next|min|max|map|filter|getattr|vars)$/.test(
          canon ?? '',
        )
      )
        return [];
      if (args.length === 0) return [];
      const label =
        canon &&
        /(^|\.)(join|Path|PurePath|PurePosixPath|urljoin|joinpath|realpath|abspath|normpath)$/.test(
          canon,
        )
          ? `\`${canon}()\``
          : null;
      return mark(args, label ? stepAt(node, `through ${label}`) : null);
    }
    if (!canon) {
      // `factory()(x)`, `handlers[name](x)`: pass the arguments through.
      return args;
    }
    if (recordable()) return this.record(p, 'args');
    return [];
  }

  private record(p: CallParts, policy: CallRecord['policy']): Label[] {
    let fnExpr: Expr = exprOf(p.fnNode);
    // `svc.read(x)` where `svc: FileService = Depends(...)`: evaluate as `FileService().read`.
    const root = rootOf(p.fnNode);
    if (root && this.paramClasses.has(root) && S.type(p.fnNode) === 'attribute') {
      const cls = this.paramClasses.get(root) as Expr;
      fnExpr = replaceRoot(fnExpr, {
        k: 'call',
        fn: cls,
        args: [],
        kw: {},
        splat: false,
        line: p.node.startPosition.row + 1,
        col: p.node.startPosition.column,
        text: `${dottedName(cls) ?? ''}()`,
      });
    }
    const selfMethod =
      this.summary.bound &&
      S.type(p.fnNode) === 'attribute' &&
      S.type(p.recvNode) === 'identifier' &&
      S.text(p.recvNode) === this.summary.params[0]
        ? p.method
        : null;
    const rec: CallRecord = {
      fn: fnExpr,
      text: short(S.text(p.fnNode), 60),
      line: p.node.startPosition.row + 1,
      col: p.node.startPosition.column,
      args: p.posLabels,
      kw: Object.fromEntries(p.kwLabels),
      splat: p.splatLabels,
      recv: p.recvLabels,
      policy,
      selfMethod,
    };
    const i = this.summary.calls.length;
    this.summary.calls.push(rec);
    return [{ o: { k: 'r', call: i }, s: [], c: 0, f: 0 }];
  }
}

interface Part {
  lit?: string;
  labels?: Label[];
}

function rootOf(node: Node | null): string | null {
  let n = node;
  while (n && S.type(n) === 'attribute') n = S.field(n, 'object');
  return n && S.type(n) === 'identifier' ? S.text(n) : null;
}

function exprOf(node: Node): Expr {
  if (S.type(node) === 'identifier')
    return {
      k: 'name',
      id: S.text(node),
      line: node.startPosition.row + 1,
      col: node.startPosition.column,
    };
  if (S.type(node) === 'attribute') {
    const obj = S.field(node, 'object');
    return {
      k: 'attr',
      obj: obj ? exprOf(obj) : { k: 'other', text: '' },
      attr: S.text(S.field(node, 'attribute')) ?? '',
      line: node.startPosition.row + 1,
      col: node.startPosition.column,
    };
  }
  if (S.type(node) === 'call') {
    const fn = S.field(node, 'function');
    return {
      k: 'call',
      fn: fn ? exprOf(fn) : { k: 'other', text: '' },
      args: [],
      kw: {},
      splat: false,
      line: node.startPosition.row + 1,
      col: node.startPosition.column,
      text: short(S.text(node), 120),
    };
  }
  return { k: 'other', text: short(S.text(node), 60) };
}

function replaceRoot(e: Expr, root: Expr): Expr {
  if (e.k === 'attr') return { ...e, obj: replaceRoot(e.obj, root) };
  if (e.k === 'name') return root;
  return e;
}

/** Fields of a class body declared with a payload-free type: `qty: int`, `id: UUID = Field()`. */
function safeFieldsOf(cls: Node): string[] {
  const out: string[] = [];
  const body = S.field(cls, 'body');
  if (!body) return out;
  for (const st of S.named(body)) {
    if (!st || S.type(st) !== 'expression_statement') continue;
    const asg = S.named(st)[0];
    if (!asg || S.type(asg) !== 'assignment') continue;
    const left = S.field(asg, 'left');
    const type = S.field(asg, 'type');
    if (!left || S.type(left) !== 'identifier' || !type) continue;
    if (isSafeType(annotationNames(toExpr(type)))) out.push(S.text(left));
  }
  return out;
}

/** Compute the taint summaries of every function in a parsed file. */
export function computeTaintFacts(tree: Tree, facts: ModuleFacts, shared?: FileNodes): TaintFacts {
  // Test code is never served: flows start at route handlers outside tests (routes in test
  // files are scaffolding, see rules/auth/util.ts), and application code does not call into
  // tests. Tests are a third to a half of large repositories, so skipping them is a large saving.
  if (facts.test) return { funcs: [], safeFields: {} };
  const outer = S;
  S = shared ?? new FileNodes(tree.rootNode);
  try {
    return taintFactsWith(tree, facts, shared);
  } finally {
    S = outer;
  }
}

function taintFactsWith(tree: Tree, facts: ModuleFacts, shared?: FileNodes): TaintFacts {
  const out: TaintFacts = { funcs: [], safeFields: {} };
  const root = tree.rootNode;
  // The facts know where every def/class is: find each node by position (a walk down one path)
  // instead of searching the whole tree again.
  const at = (line: number, col: number, type: string): Node | null => {
    let n: Node | null = root.descendantForPosition({ row: line - 1, column: col });
    while (n && S.type(n) !== type) n = n.parent;
    return n;
  };
  for (const c of facts.classes) {
    // Request models (pydantic, dataclass-like bases); plain classes hold no declared fields.
    if (c.bases.length === 0) continue;
    const def = shared?.classNodes.get(c) ?? at(c.line, c.col, 'class_definition');
    const fields = def ? safeFieldsOf(def) : [];
    if (fields.length) out.safeFields[c.qualname] = fields;
  }
  let file: FileCtx | null = null;
  for (const fn of facts.funcs) {
    const isStatic = fn.decorators.some((d) =>
      /(^|\.)staticmethod$/.test(d.text.replace(/^@/, '')),
    );
    const bound = fn.className !== null && !isStatic && fn.params.length > 0;
    const interesting = fn.params.some((_p, i) => !(bound && i === 0));
    if (!interesting) continue;
    const def = shared?.funcNodes.get(fn) ?? at(fn.line, fn.col, 'function_definition');
    if (!def) continue;
    file ??= buildFileCtx(facts);
    const walker = new FunctionWalker(file, fn.params, fn.qualname, bound);
    try {
      walker.block(S.field(def, 'body'));
    } catch (err) {
      if (process.env.TAINT_DEBUG) throw err;
      // A bug here must not cost the file its facts: keep what the walk found so far.
    }
    const s = walker.summary;
    if (s.sinks.length || s.rets.length || s.calls.length || s.evals.length) out.funcs.push(s);
  }
  return out;
}
