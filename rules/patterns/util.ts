import type { Node } from 'web-tree-sitter';
import type { AssignFacts } from '../../server/src/engine/facts';
import type { Fix, TextEdit } from '../../server/src/engine/findings';
import type { FileContext } from '../api';

/**
 * Shared helpers of the pattern rules. Everything expensive is computed once per file and
 * memoised on the FileContext (one object per file, shared by every file rule), so fifteen
 * rules cost one pass over the call nodes, not fifteen.
 */

export interface CallSite {
  node: Node;
  /** Callee text without whitespace (`yaml.load`, `app.add_middleware`, `str`). */
  callee: string;
  /**
   * Last dotted segment of the callee (`load`); for a bare name bound by an import, the
   * imported name (`from yaml import load as yl; yl(x)` -> `load`).
   */
  name: string;
}

interface FileIndex {
  /** Local name -> fully qualified dotted name it is bound to by an import. */
  imports: Map<string, string>;
  callsByName: Map<string, CallSite[]> | null;
  assignments: Node[] | null;
  /** Start index -> end of the dotted name (`a . b.c`) starting there (see dottedText). */
  dottedEnds: Map<number, number>;
  defs: Spans | null;
  mainGuards: Spans | null;
  /** Node id -> the decorator / assignment it is the expression (or a side) of. */
  decoratorOf: Map<number, Node> | null;
  assignmentOf: Map<number, Node> | null;
  /** Qualified name -> the first local name bound to it. */
  locals: Map<string, string> | null;
  /** Assignments of the facts by target, in facts order (see lastAssign). */
  assignsByTarget: Map<string, AssignFacts[]> | null;
}

const INDEX = new WeakMap<FileContext, FileIndex>();

function index(ctx: FileContext): FileIndex {
  let idx = INDEX.get(ctx);
  if (!idx) {
    idx = {
      imports: buildImports(ctx),
      callsByName: null,
      assignments: null,
      dottedEnds: new Map(),
      defs: null,
      mainGuards: null,
      decoratorOf: null,
      assignmentOf: null,
      locals: null,
      assignsByTarget: null,
    };
    INDEX.set(ctx, idx);
  }
  return idx;
}

function buildImports(ctx: FileContext): Map<string, string> {
  const map = new Map<string, string>();
  // Function-level imports first, module-level ones win (they are what most code sees).
  const ordered = [
    ...ctx.facts.imports.filter((i) => i.scope !== ''),
    ...ctx.facts.imports.filter((i) => i.scope === ''),
  ];
  for (const imp of ordered) {
    if (imp.local === '*') continue;
    const prefix = '.'.repeat(imp.level);
    const base = prefix + imp.module;
    map.set(imp.local, imp.name === null ? base : base ? `${base}.${imp.name}` : imp.name);
  }
  return map;
}

/** Whether the file imports a module (or something from it): `import yaml`, `from yaml import x`. */
export function importsModule(ctx: FileContext, module: string): boolean {
  for (const q of index(ctx).imports.values())
    if (q === module || q.startsWith(`${module}.`)) return true;
  return false;
}

/** Whether the file imports any of these modules: the cheap gate in front of most rules. */
export function importsAny(ctx: FileContext, modules: readonly string[]): boolean {
  return modules.some((m) => importsModule(ctx, m));
}

/** The local name a module is bound to (`import secrets` -> `secrets`), or null. */
export function localNameOf(ctx: FileContext, qualified: string): string | null {
  const idx = index(ctx);
  if (!idx.locals) {
    idx.locals = new Map();
    for (const [local, q] of idx.imports) if (!idx.locals.has(q)) idx.locals.set(q, local);
  }
  return idx.locals.get(qualified) ?? null;
}

const DOTTED = /^[A-Za-z_][\w.]*$/;
const CALLEE = /([A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*)\s*\(/y;
const SPACE = /\s/;

/** Resolve a dotted name through the file's imports: `pk.loads` -> `pickle.loads`, else null. */
export function qualify(ctx: FileContext, dotted: string): string | null {
  if (!DOTTED.test(dotted)) return null;
  const dot = dotted.indexOf('.');
  const head = dot < 0 ? dotted : dotted.slice(0, dot);
  const q = index(ctx).imports.get(head);
  if (q === undefined) return null;
  return dot < 0 ? q : q + dotted.slice(dot);
}

/** Resolve an expression node (name or attribute chain) through the imports. */
export function qualifyNode(ctx: FileContext, node: Node | null): string | null {
  return qualify(ctx, dottedText(ctx, node) ?? '');
}

const DOTTED_RUN = /[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*/y;

/**
 * The text of a name or attribute chain of plain names (`a.b.c`, whitespace removed), or null
 * for anything else (`a().b`, `a[0].b`). Reads the source, never the node's text: the object of
 * `a().b().c()...` is as long as the chain, and asking for every call of a chain would be
 * quadratic. The dotted run at a start index is measured once (chained calls share it).
 */
export function dottedText(ctx: FileContext, node: Node | null): string | null {
  if (!node || (node.type !== 'identifier' && node.type !== 'attribute')) return null;
  const ends = index(ctx).dottedEnds;
  const start = node.startIndex;
  let end = ends.get(start);
  if (end === undefined) {
    DOTTED_RUN.lastIndex = start;
    end = DOTTED_RUN.exec(ctx.source) ? DOTTED_RUN.lastIndex : start;
    ends.set(start, end);
  }
  // A node inside the run (`a.b` of `a.b.c`) is a plain dotted name as well.
  if (node.endIndex > end || node.endIndex <= start) return null;
  return compact(ctx.source.slice(start, node.endIndex));
}

/**
 * The last name of a callee (`HTTPException` of `fastapi.HTTPException`, `json` of
 * `a().json`), or '' when the callee does not end with `.name` or a bare name (`x[0]`,
 * `f()`). Reads the source backwards from the callee's end: constant work per call.
 */
export function calleeLastName(ctx: FileContext, fn: Node | null): string {
  if (!fn) return '';
  const src = ctx.source;
  let i = fn.endIndex;
  while (i > fn.startIndex && /\w/.test(src[i - 1])) i--;
  const name = src.slice(i, fn.endIndex);
  if (!/^[A-Za-z_]/.test(name)) return '';
  let j = i;
  while (j > fn.startIndex && SPACE.test(src[j - 1])) j--;
  return j === fn.startIndex || src[j - 1] === '.' ? name : '';
}

export function compact(text: string): string {
  return /\s/.test(text) ? text.replace(/\s+/g, '') : text;
}

/**
 * Callee texts longer than this (without whitespace) are abbreviated to their first and last
 * CALLEE_END characters around an ellipsis. Only chained callees get that long (a callee
 * containing a call is the whole chain before it); neither `qualify` nor a comparison with a
 * name can match such a text anyway, and messages stay short.
 */
const MAX_CALLEE = 120;
const CALLEE_END = 50;

/**
 * The callees of a chain of calls starting at `start` (`a(x).b(y).c(z)` is three calls there).
 * Each callee is the text from `start` to its argument list; building them all would be
 * quadratic in the chain's length, so the shared head is scanned once and each callee reads
 * only its own tail.
 */
class ChainText {
  /** Index just after the MAX_CALLEE-th non-whitespace character from `start`. */
  private limitEnd = -1;
  private head = '';
  /** Index of the first `(` after `start` (-1: none), searched once per chain. */
  readonly open: number;

  constructor(
    private readonly src: string,
    readonly start: number,
  ) {
    this.open = src.indexOf('(', start);
  }

  callee(end: number): string {
    if (this.limitEnd < 0) {
      let kept = 0;
      let i = this.start;
      for (; i < this.src.length && kept < MAX_CALLEE; i++) {
        const c = this.src[i];
        if (SPACE.test(c)) continue;
        if (kept < CALLEE_END) this.head += c;
        kept++;
      }
      this.limitEnd = i;
    }
    if (end <= this.limitEnd) return compact(this.src.slice(this.start, end));
    let tail = '';
    for (let i = end - 1; i >= this.start && tail.length < CALLEE_END; i--) {
      const c = this.src[i];
      if (!SPACE.test(c)) tail = c + tail;
    }
    return `${this.head}\u2026${tail}`;
  }
}

/** A call whose callee contains a call: its callee text is built on use. */
class ChainedSite implements CallSite {
  private text: string | null = null;
  constructor(
    readonly node: Node,
    readonly name: string,
    private readonly chain: ChainText,
    private readonly end: number,
  ) {}

  get callee(): string {
    this.text ??= this.chain.callee(this.end);
    return this.text;
  }
}

/**
 * The name a callee ends with, read backwards from `end` (whitespace skipped): what
 * `/([A-Za-z_]\w*)$/` finds in the callee text without its whitespace, or null.
 */
function trailingName(src: string, start: number, end: number): string | null {
  let run = '';
  for (let i = end - 1; i >= start; i--) {
    const c = src[i];
    if (/\w/.test(c)) run = c + run;
    else if (!SPACE.test(c)) break;
  }
  const m = /[A-Za-z_]\w*$/.exec(run);
  return m ? m[0] : null;
}

/**
 * Call sites whose callee's last segment is one of `names` (cheap pre-filter, shared index).
 * Linear in the file: deeply chained calls (`a().b().c()...`, where each callee is the chain
 * before it) cost what their text costs, not its square.
 */
export function callsNamed(ctx: FileContext, names: readonly string[]): CallSite[] {
  const idx = index(ctx);
  if (!idx.callsByName) {
    const map = new Map<string, CallSite[]>();
    const add = (site: CallSite): void => {
      const list = map.get(site.name);
      if (list) list.push(site);
      else map.set(site.name, [site]);
    };
    const src = ctx.source;
    const calls = ctx.nodesOfType('call');
    let chain = null as ChainText | null;
    for (let i = 0; i < calls.length; i++) {
      const node = calls[i];
      // The callee is read from the source text, without crossing into WASM: a dotted name
      // followed by `(` at the call's start. When the next call (in document order) starts at
      // the same place, this call's callee is itself a call (`foo(x).bar(y)`): then take the
      // text before the argument list node.
      let callee: string | null = null;
      if (i + 1 >= calls.length || calls[i + 1].startIndex !== node.startIndex) {
        CALLEE.lastIndex = node.startIndex;
        const m = CALLEE.exec(src);
        if (m) callee = compact(m[1]);
      }
      if (callee === null) {
        const args = node.lastChild;
        if (!args) continue;
        // In a chain (`a(x).b(y).c(z)`) each callee is the whole chain before it: read the
        // name backwards from the argument list and build the text only if a rule asks.
        const name = trailingName(src, node.startIndex, args.startIndex);
        if (name === null) continue;
        if (chain?.start !== node.startIndex) chain = new ChainText(src, node.startIndex);
        if (chain.open < 0 || chain.open >= args.startIndex) {
          callee = compact(src.slice(node.startIndex, args.startIndex));
        } else {
          add(new ChainedSite(node, name, chain, args.startIndex));
          continue;
        }
      }
      const m = /([A-Za-z_]\w*)$/.exec(callee);
      if (!m) continue;
      let name = m[1];
      if (name.length === callee.length) {
        // `from yaml import load as yaml_load`: index under the imported name (`load`).
        const q = idx.imports.get(name);
        if (q) name = q.split('.').pop() ?? name;
      }
      add({ node, callee, name });
    }
    idx.callsByName = map;
  }
  const out: CallSite[] = [];
  // A loop, not push(...list): a list of a few hundred thousand sites overflows the stack.
  for (const n of names) for (const site of idx.callsByName.get(n) ?? []) out.push(site);
  return out;
}

/** Assignment nodes of the file (plain and annotated), shared between rules. */
export function assignments(ctx: FileContext): Node[] {
  const idx = index(ctx);
  if (!idx.assignments) idx.assignments = ctx.nodesOfType('assignment');
  return idx.assignments;
}

/** The `name=` keyword_argument node of a call (the whole `name=value`), or null. */
export function keywordNode(call: Node, name: string): Node | null {
  const args = call.childForFieldName('arguments');
  if (!args || args.type !== 'argument_list') return null;
  for (const a of args.namedChildren) {
    if (a && a.type === 'keyword_argument' && a.childForFieldName('name')?.text === name) return a;
  }
  return null;
}

/** `**kwargs` or `*args` in a call: it may pass more than we see. */
export function hasSplat(call: Node): boolean {
  const args = call.childForFieldName('arguments');
  if (!args) return false;
  return args.namedChildren.some(
    (a) => !!a && (a.type === 'list_splat' || a.type === 'dictionary_splat'),
  );
}

/** The value of a plain string literal (no f-string interpolation), or null. */
export function stringValue(node: Node | null): string | null {
  if (!node) return null;
  if (node.type === 'concatenated_string') {
    let v = '';
    for (const part of node.namedChildren) {
      if (!part) continue;
      const s = stringValue(part);
      if (s === null) return null;
      v += s;
    }
    return v;
  }
  if (node.type !== 'string') return null;
  let v = '';
  for (const c of node.namedChildren) {
    if (!c) continue;
    if (c.type === 'interpolation') return null;
    if (c.type === 'string_content' || c.type === 'escape_sequence') v += c.text;
  }
  return v;
}

/** Unwraps `(x)`. */
export function unparen(node: Node | null): Node | null {
  let n = node;
  while (n && n.type === 'parenthesized_expression') {
    n = n.namedChildren.find((c) => c && c.type !== 'comment') ?? null;
  }
  return n;
}

export function isTrue(node: Node | null): boolean {
  return unparen(node)?.type === 'true';
}

export function isFalse(node: Node | null): boolean {
  return unparen(node)?.type === 'false';
}

export function isNone(node: Node | null): boolean {
  return unparen(node)?.type === 'none';
}

/** Words of an identifier or string: `jwtSecretKey` / `JWT_SECRET-KEY` -> [jwt, secret, key]. */
export function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

const KEY_QUALIFIERS = new Set([
  'secret',
  'api',
  'private',
  'signing',
  'sign',
  'jwt',
  'access',
  'encryption',
  'encrypt',
  'master',
  'auth',
  'session',
  'client',
  'app',
  'hmac',
  'fernet',
  'crypto',
  'webhook',
  'admin',
  'service',
  'secure',
  'license',
  'stripe',
  'openai',
]);
const SECRET_LAST = new Set([
  'secret',
  'password',
  'passwd',
  'passphrase',
  'token',
  'apikey',
  'secretkey',
  'privatekey',
]);

/**
 * Whether a name holds a secret: its last word is a secret noun (`JWT_SECRET`, `db_password`,
 * `GITHUB_TOKEN`) or it is a qualified key (`SECRET_KEY`, `api_key`). Names ending in another
 * noun (`token_url`, `password_min_length`, `TOKEN_EXPIRE_MINUTES`) are not secrets, nor are
 * hashes (`hashed_password`).
 */
export function isSecretName(name: string): boolean {
  const w = words(name);
  if (!w.length) return false;
  if (w.some((x) => x === 'hashed' || x === 'hash')) return false;
  const last = w[w.length - 1];
  if (SECRET_LAST.has(last)) return true;
  if (last === 'pwd' && w.length > 1) return true;
  if (last === 'key' && w.length > 1 && KEY_QUALIFIERS.has(w[w.length - 2])) return true;
  return false;
}

/**
 * Nodes of one type with their nesting, to find the ones around a node by its offsets. Asking
 * the node for its parents instead costs the node's depth per step in tree-sitter (it searches
 * down from the root), so walking up from the innermost call of a 10,000-call chain is
 * quadratic.
 */
interface Spans {
  nodes: Node[];
  start: number[];
  end: number[];
  /** Index of the innermost span around each one, -1 at the top. */
  outer: number[];
}

function spansOf(nodes: Node[]): Spans {
  // Document order: a span comes before the spans inside it.
  const spans: Spans = { nodes, start: [], end: [], outer: [] };
  const open: number[] = [];
  nodes.forEach((n, i) => {
    spans.start.push(n.startIndex);
    spans.end.push(n.endIndex);
    while (open.length && spans.end[open[open.length - 1]] <= n.startIndex) open.pop();
    spans.outer.push(open.length ? open[open.length - 1] : -1);
    open.push(i);
  });
  return spans;
}

/** The innermost span strictly around `node` (not the node itself), or null. */
function innermostAround(spans: Spans, node: Node): Node | null {
  const start = node.startIndex;
  const end = node.endIndex;
  let lo = 0;
  let hi = spans.start.length - 1;
  let k = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (spans.start[mid] <= start) {
      k = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  for (; k >= 0; k = spans.outer[k]) {
    if (spans.end[k] >= end && spans.nodes[k].id !== node.id) return spans.nodes[k];
  }
  return null;
}

const MAIN_GUARD = /__name__\s*==\s*['"]__main__['"]|['"]__main__['"]\s*==\s*__name__/;

/** Inside an `if __name__ == "__main__":` block. */
export function inMainGuard(ctx: FileContext, node: Node): boolean {
  const idx = index(ctx);
  idx.mainGuards ??= spansOf(
    ctx.nodesOfType('if_statement').filter((n) => {
      const c = n.childForFieldName('condition');
      return !!c && MAIN_GUARD.test(c.text);
    }),
  );
  if (idx.mainGuards.nodes.length === 0) return false;
  if (node.startIndex === node.endIndex) return inMainGuardByParents(node);
  return innermostAround(idx.mainGuards, node) !== null;
}

function inMainGuardByParents(node: Node): boolean {
  for (let n = node.parent; n; n = n.parent) {
    if (n.type === 'if_statement') {
      const c = n.childForFieldName('condition');
      if (c && MAIN_GUARD.test(c.text)) return true;
    }
  }
  return false;
}

/** The innermost function_definition around a node, or null at module level. */
export function enclosingDef(ctx: FileContext, node: Node): Node | null {
  if (node.startIndex === node.endIndex) {
    for (let n = node.parent; n; n = n.parent) if (n.type === 'function_definition') return n;
    return null;
  }
  const idx = index(ctx);
  idx.defs ??= spansOf(ctx.nodesOfType('function_definition'));
  return innermostAround(idx.defs, node);
}

/** The decorator whose expression `call` is (`@app.exception_handler(E)`), or null. */
export function decoratorOf(ctx: FileContext, call: Node): Node | null {
  const idx = index(ctx);
  if (!idx.decoratorOf) {
    idx.decoratorOf = new Map();
    for (const d of ctx.nodesOfType('decorator')) {
      const e = d.namedChildren.find((c) => !!c && c.type !== 'comment');
      if (e) idx.decoratorOf.set(e.id, d);
    }
  }
  return idx.decoratorOf.get(call.id) ?? null;
}

/** The assignment a node is a side of (`app = FastAPI()`: the call's assignment), or null. */
export function assignmentOf(ctx: FileContext, node: Node): Node | null {
  const idx = index(ctx);
  if (!idx.assignmentOf) {
    idx.assignmentOf = new Map();
    for (const a of assignments(ctx))
      for (const c of a.children) if (c && c.isNamed) idx.assignmentOf.set(c.id, a);
  }
  return idx.assignmentOf.get(node.id) ?? null;
}

/** Decorator texts of a function_definition (empty when undecorated). */
export function decoratorsOf(def: Node): string[] {
  const parent = def.parent;
  if (!parent || parent.type !== 'decorated_definition') return [];
  return parent.namedChildren.filter((c) => !!c && c.type === 'decorator').map((c) => c!.text);
}

const ROUTE_DECORATOR =
  /\.(get|post|put|patch|delete|options|head|trace|api_route|route|websocket|websocket_route)\s*\(/;

/** A FastAPI path operation (decorated with `@app.get(...)`, `@router.post(...)`, ...). */
export function isRouteHandler(def: Node): boolean {
  return decoratorsOf(def).some((d) => ROUTE_DECORATOR.test(d));
}

/** The most recent module- or function-level `name = value` before `line` in `scope`. */
export function lastAssign(
  ctx: FileContext,
  name: string,
  scope: string,
  line: number,
): AssignFacts | null {
  const idx = index(ctx);
  if (!idx.assignsByTarget) {
    // Grouped once: asked for each of 10,000 statements, a scan of every assignment would be
    // quadratic.
    idx.assignsByTarget = new Map();
    for (const a of ctx.facts.assigns) {
      const list = idx.assignsByTarget.get(a.target);
      if (list) list.push(a);
      else idx.assignsByTarget.set(a.target, [a]);
    }
  }
  let best: AssignFacts | null = null;
  for (const a of idx.assignsByTarget.get(name) ?? []) {
    if (a.iter) continue;
    if (a.scope !== scope && a.scope !== '') continue;
    if (a.line > line) continue;
    if (!best || (a.scope === scope && best.scope !== scope) || a.line > best.line) best = a;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Edits

export function replaceNode(ctx: FileContext, node: Node, newText: string): TextEdit {
  return {
    file: ctx.file,
    line: node.startPosition.row + 1,
    column: node.startPosition.column,
    endLine: node.endPosition.row + 1,
    endColumn: node.endPosition.column,
    newText,
  };
}

export function insertAt(ctx: FileContext, row: number, column: number, text: string): TextEdit {
  return {
    file: ctx.file,
    line: row + 1,
    column,
    endLine: row + 1,
    endColumn: column,
    newText: text,
  };
}

/** Append keyword arguments after a call's last argument: `f(a)` -> `f(a, timeout=10)`. */
export function appendArgs(ctx: FileContext, call: Node, text: string): TextEdit | null {
  const args = call.childForFieldName('arguments');
  if (!args || args.type !== 'argument_list') return null;
  const items = args.namedChildren.filter((c): c is Node => !!c && c.type !== 'comment');
  const last = items[items.length - 1];
  if (!last) {
    // `f()`: insert inside the parentheses.
    const open = args.child(0);
    if (!open || open.type !== '(') return null;
    return insertAt(ctx, open.endPosition.row, open.endPosition.column, text);
  }
  return insertAt(ctx, last.endPosition.row, last.endPosition.column, `, ${text}`);
}

/**
 * An edit adding `import <module>` at module level, after the docstring and `__future__`
 * imports, before the first other statement.
 */
export function addImport(ctx: FileContext, statement: string): TextEdit {
  let target: Node | null = null;
  let after: Node | null = null;
  let first = true;
  for (const s of ctx.root.namedChildren) {
    if (!s || s.type === 'comment') continue;
    const isDocstring =
      first &&
      s.type === 'expression_statement' &&
      s.namedChildCount === 1 &&
      s.namedChild(0)?.type === 'string';
    first = false;
    if (isDocstring || s.type === 'future_import_statement') {
      after = s;
      continue;
    }
    target = s;
    break;
  }
  if (target) return insertAt(ctx, target.startPosition.row, 0, `${statement}\n`);
  if (after)
    return insertAt(ctx, after.endPosition.row, after.endPosition.column, `\n${statement}`);
  return insertAt(ctx, 0, 0, `${statement}\n`);
}

export function fix(title: string, safety: Fix['safety'], edits: TextEdit[]): Fix {
  return { title, safety, edits };
}

/** Short source text for messages: one line, at most 60 characters. */
export function snippet(node: Node | null, max = 60): string {
  if (!node) return '';
  const t = node.text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 3)}...` : t;
}
