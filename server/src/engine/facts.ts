import type { Node, Tree } from 'web-tree-sitter';
import { CODE_FILE, type FileRole } from './discovery';
import type { LocalFinding } from './findings';
import type { TaintFacts } from './taint/types';

/**
 * Per-file facts: everything the workspace passes need from one Python file, extracted in a
 * single walk of its syntax tree. Facts are plain data so they can be cached per file, computed
 * in worker threads, and recomputed for one edited file alone.
 */

/** A small expression IR: enough to evaluate FastAPI objects, dependencies and aliases. */
export type Expr =
  | { k: 'name'; id: string; line: number; col: number }
  | { k: 'attr'; obj: Expr; attr: string; line: number; col: number }
  | {
      k: 'call';
      fn: Expr;
      args: Expr[];
      kw: Record<string, Expr>;
      /** `**kwargs` / `*args` present: the call may carry more than we see. */
      splat: boolean;
      line: number;
      col: number;
      text: string;
    }
  | { k: 'str'; v: string; fstring: boolean }
  | { k: 'num'; v: number }
  | { k: 'bool'; v: boolean }
  | { k: 'none' }
  | { k: 'list'; items: Expr[] }
  | { k: 'sub'; obj: Expr; idx: Expr[]; line: number; col: number }
  | { k: 'binop'; op: string; l: Expr; r: Expr }
  | { k: 'other'; text: string };

export interface ParamFacts {
  name: string;
  annotation: Expr | null;
  default: Expr | null;
  /** `*args` / `**kwargs` are never dependencies. */
  variadic: boolean;
}

export interface ReturnFacts {
  value: Expr;
  line: number;
}

/** An `if` test whose body raises or returns an error response: the basis of auth checks. */
export interface GuardFacts {
  condition: string;
  line: number;
}

export interface FuncFacts {
  name: string;
  /** Python `__qualname__`: `Outer.method`, `factory.<locals>.inner`. */
  qualname: string;
  /** Qualname of the enclosing scope ('' for module level). */
  scope: string;
  line: number;
  col: number;
  endLine: number;
  isAsync: boolean;
  params: ParamFacts[];
  /** The `-> T` annotation, if any. */
  returnType: Expr | null;
  decorators: { expr: Expr; line: number; col: number; text: string }[];
  returns: ReturnFacts[];
  /** Expressions raised (`raise X(...)`, `raise exc`). */
  raises: { expr: Expr; line: number }[];
  /** Calls anywhere in the body, used to find error responses (`JSONResponse(status_code=401)`). */
  responseCalls: Expr[];
  /** `if` conditions whose block raises or returns: guard clauses. */
  guards: GuardFacts[];
  /** Names of identifiers read in the body (for `SecurityScopes` reads, None checks, ...). */
  mentions: string[];
  /** Condition text when the def itself sits in an `if`/`try`. */
  cond: string | null;
  /** Class that owns this method, if any (qualname). */
  className: string | null;
}

export interface ClassFacts {
  name: string;
  qualname: string;
  scope: string;
  line: number;
  col: number;
  bases: Expr[];
  /** Method qualnames, by simple name. */
  methods: Record<string, string>;
  /** Class-level assignments (`x = APIRouter()`), by name. */
  attrs: Record<string, Expr>;
  /** Class-level names declared with an annotation or assigned: model fields, columns. */
  fields: string[];
}

export interface AssignFacts {
  /** Dotted target: `app`, `self.router`. */
  target: string;
  value: Expr;
  scope: string;
  line: number;
  cond: string | null;
  /** True for `for target in value:` (value is the iterable). */
  iter?: boolean;
}

export interface ImportFacts {
  /** Local name bound in the scope (for `import a.b` that is `a`). */
  local: string;
  /** Absolute dotted module (`a.b`), or the part after the dots for relative imports. */
  module: string;
  /** Number of leading dots (0 = absolute). */
  level: number;
  /** Imported member (`from m import name`), or null for `import m`. */
  name: string | null;
  /** `import a.b` binds `a` but makes `a.b` reachable: the full dotted module. */
  fullModule?: string;
  scope: string;
  line: number;
}

/** A call at statement level: `app.include_router(...)`, `app.get("/p")(h)`, `app.mount(...)`. */
export interface StatementCall {
  call: Expr & { k: 'call' };
  scope: string;
  line: number;
  col: number;
  cond: string | null;
}

/** `x[...] = ...` assignments to subscripts, e.g. `app.dependency_overrides[dep] = fake`. */
export interface SubscriptAssign {
  target: Expr;
  value: Expr;
  scope: string;
  line: number;
}

export interface Comment {
  line: number;
  text: string;
}

export interface ModuleFacts {
  /** Absolute path of the file. */
  file: string;
  imports: ImportFacts[];
  assigns: AssignFacts[];
  funcs: FuncFacts[];
  classes: ClassFacts[];
  calls: StatementCall[];
  subscriptAssigns: SubscriptAssign[];
  /** `# fastapi-lens: ...` comments and other comments worth keeping. */
  comments: Comment[];
  /** Names in `__all__`, when given as a literal list. */
  exportsAll: string[] | null;
  /** The file imports fastapi/starlette or mentions `Depends`: worth analysing further. */
  fastapiRelated: boolean;
  /** Test code (discovery.ts isTestFile): never served. */
  test: boolean;
  /** Documentation examples (discovery.ts isDocsFile). */
  docs: boolean;
  lineCount: number;
  parseErrors: number;
  /** Findings of the file rules, computed while the tree was alive. */
  local: LocalFinding[];
  /** Per-function taint summaries (sources, sinks, calls), computed while the tree was alive. */
  taint?: TaintFacts;
}

/**
 * Node types that the per-file passes (facts, file rules, taint) look up by type. Each
 * `descendantsOfType` call is a search of the whole tree on the WASM side, which costs about a
 * sixth of parsing the file; the union is searched once per file and bucketed by type here.
 */
const SHARED_TYPES = [
  'call',
  'assignment',
  'keyword_argument',
  'comparison_operator',
  'except_clause',
  'function_definition',
  'class_definition',
  'raise_statement',
  'return_statement',
  'if_statement',
  'elif_clause',
];

/**
 * How the per-file passes read syntax nodes. Every property of a web-tree-sitter `Node` is a
 * call into WebAssembly (and `childForFieldName` / `namedChildren` build new `Node` objects);
 * the passes read the same nodes many times (facts, then rules and taint, and within each), so
 * `FileNodes` remembers what was read, per node id, for the life of one tree. `DIRECT` reads
 * without remembering, for callers that have no `FileNodes`.
 */
export interface SyntaxReader {
  type(n: Node): string;
  type(n: Node | null | undefined): string | undefined;
  text(n: Node): string;
  text(n: Node | null | undefined): string | undefined;
  /** Named children (never null). */
  named(n: Node): Node[];
  named(n: Node | null | undefined): Node[] | undefined;
  field(n: Node | null | undefined, name: string): Node | null;
}

export const DIRECT: SyntaxReader = {
  type: ((n: Node | null | undefined) => n?.type) as SyntaxReader['type'],
  text: ((n: Node | null | undefined) => n?.text) as SyntaxReader['text'],
  named: ((n: Node | null | undefined) =>
    n?.namedChildren as Node[] | undefined) as SyntaxReader['named'],
  field: (n: Node | null | undefined, name: string) => (n ? n.childForFieldName(name) : null),
};

/** The reader of the file being extracted (set by extractFacts). */
let S: SyntaxReader = DIRECT;
/** The same when texts may be read from the source by their shape (see FileNodes.plain). */
let PLAIN: FileNodes | null = null;

const WORD = /[A-Za-z_][A-Za-z0-9_]*/y;
const LONE_CR = /\r(?!\n)/;
/** A decimal integer literal that is not the start of a float or a complex number. */
const DECIMAL = /[0-9](?:_?[0-9])*(?![0-9A-Za-z_.])/y;
/** An attribute chain of plain names: `a.b.c` (whitespace allowed around the dots). */
const DOTTED_CHAIN = /^[A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)+$/;
/** Prefix and opening quote of a string literal. */
const STRING_OPEN = /^([A-Za-z]*)('''|"""|'|")/;

/**
 * One file's tree as the per-file passes read it: every node of the shared types in document
 * order, collected by one search, and a memo of the node properties read (see SyntaxReader).
 * Node ids are unique within a tree, and the memo lives as long as one pass over one tree.
 */
export class FileNodes implements SyntaxReader {
  private readonly byType = new Map<string, Node[]>();
  /** The definition node of each function and class of the facts (for the taint pass). */
  readonly funcNodes = new Map<FuncFacts, Node>();
  readonly classNodes = new Map<ClassFacts, Node>();
  private collected = false;
  private clean: boolean | undefined;
  private readonly types = new Map<number, string>();
  private readonly ends = new Map<number, number>();
  private readonly kids = new Map<number, Node[]>();
  private readonly fieldIds = new Map<string, number>();
  private readonly fields: Map<number, Node | null>[] = [];

  /**
   * `source` is the text the tree was parsed from (node indices are offsets into it); without
   * it, text is read from the tree.
   */
  readonly source: string | undefined;

  constructor(
    readonly root: Node,
    source?: string,
  ) {
    // parseSource gives the parser lone CRs as newlines (parser.ts): then the text the tree was
    // made from is not `source`, and texts are read from the tree.
    this.source = source !== undefined && LONE_CR.test(source) ? undefined : source;
    const names = root.tree.language.fields;
    for (let i = 1; i < names.length; i++) {
      const name = names[i];
      if (name) this.fieldIds.set(name, i);
    }
  }

  /** The one search for every shared type, on first use. */
  private collect(): void {
    this.collected = true;
    for (const t of SHARED_TYPES) this.byType.set(t, []);
    for (const n of this.root.descendantsOfType(SHARED_TYPES)) {
      if (!n) continue;
      const type = n.type;
      this.types.set(n.id, type);
      this.byType.get(type)?.push(n);
    }
  }

  type(n: Node): string;
  type(n: Node | null | undefined): string | undefined;
  type(n: Node | null | undefined): string | undefined {
    if (!n) return undefined;
    const id = n.id;
    let t = this.types.get(id);
    if (t === undefined) {
      t = n.type;
      this.types.set(id, t);
    }
    return t;
  }

  /** End offset of a node (same units as `startIndex`). */
  end(n: Node): number {
    const id = n.id;
    let e = this.ends.get(id);
    if (e === undefined) {
      e = n.endIndex;
      this.ends.set(id, e);
    }
    return e;
  }

  text(n: Node): string;
  text(n: Node | null | undefined): string | undefined;
  text(n: Node | null | undefined): string | undefined {
    if (!n) return undefined;
    if (this.source === undefined) return n.text;
    // An identifier already known as one is read from the source by its shape.
    if (this.types.get(n.id) === 'identifier' && this.plain()) {
      const w = this.wordAt(n.startIndex);
      if (w !== null) return w;
    }
    return this.source.slice(n.startIndex, this.end(n));
  }

  /**
   * Whether node texts may be read from the source by their shape (an identifier is the name
   * at its start, a string is its quotes and what they hold): the source is known and the tree
   * has no syntax errors (error recovery makes zero-width and partial nodes).
   */
  plain(): boolean {
    if (this.clean === undefined) this.clean = this.source !== undefined && !this.root.hasError;
    return this.clean;
  }

  /** The ASCII name starting at `index` (an identifier's text), or null when unsure. */
  wordAt(index: number): string | null {
    const src = this.source as string;
    WORD.lastIndex = index;
    const m = WORD.exec(src);
    if (!m) return null;
    // A non-ASCII character right after may continue the name: read the tree instead.
    if (src.charCodeAt(index + m[0].length) >= 0x80) return null;
    return m[0];
  }

  named(n: Node): Node[];
  named(n: Node | null | undefined): Node[] | undefined;
  named(n: Node | null | undefined): Node[] | undefined {
    if (!n) return undefined;
    const id = n.id;
    let k = this.kids.get(id);
    if (k === undefined) {
      k = n.namedChildren.filter((c): c is Node => !!c);
      this.kids.set(id, k);
    }
    return k;
  }

  field(n: Node | null | undefined, name: string): Node | null {
    if (!n) return null;
    const fid = this.fieldIds.get(name);
    if (fid === undefined) return null;
    let memo = this.fields[fid];
    if (!memo) memo = this.fields[fid] = new Map();
    const id = n.id;
    let c = memo.get(id);
    if (c === undefined) {
      c = n.childForFieldId(fid);
      memo.set(id, c);
    }
    return c;
  }

  /** All nodes of a type, in document order (types outside the shared set are searched once). */
  ofType(type: string): Node[] {
    if (!this.collected) this.collect();
    let list = this.byType.get(type);
    if (!list) {
      list = this.root.descendantsOfType(type).filter((n): n is Node => !!n);
      this.byType.set(type, list);
    }
    return list;
  }

  /**
   * Nodes of a type inside `node` (document order): from the file's search when it was made,
   * else by a search of that subtree alone.
   */
  inside(node: Node, type: string): Node[] {
    if (this.collected) return this.within(type, node.startIndex, this.end(node));
    const list = node.descendantsOfType(type).filter((n): n is Node => !!n);
    for (const n of list) this.types.set(n.id, type);
    return list;
  }

  /** Nodes of a type that start in `[start, end)`: the descendants of the node spanning it. */
  within(type: string, start: number, end: number): Node[] {
    const list = this.ofType(type);
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].startIndex < start) lo = mid + 1;
      else hi = mid;
    }
    let stop = lo;
    while (stop < list.length && list[stop].startIndex < end) stop++;
    return list.slice(lo, stop);
  }
}

const MAX_EXPR_DEPTH = 64;
/** The statements body facts are made of (see collectBodyFacts). */
const BODY_STATEMENTS = ['raise_statement', 'return_statement', 'if_statement', 'elif_clause'];
const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/g;
const STATUS_401_403 = /\b40[13]\b/;
const STATUS_401_403_ALL = /\b40[13]\b/g;
const RESPONSE_CALL = /Response\s*\(|abort\s*\(/;
const MAX_BLOCK_DEPTH = 200;

function pos(node: Node): { line: number; col: number } {
  return { line: node.startPosition.row + 1, col: node.startPosition.column };
}

/** String literal value (without prefixes/quotes); f-strings keep their text with `{...}`. */
/**
 * A string literal without `f`/`t` prefix read from its text: the children it is made of
 * (`string_content` holding any escape sequences) span exactly what the quotes enclose.
 */
function plainString(node: Node): { v: string; fstring: boolean } | null {
  const text = S.text(node);
  const m = STRING_OPEN.exec(text);
  if (!m || /[fFtT]/.test(m[1])) return null;
  const quote = m[2];
  if (text.length < m[0].length + quote.length || !text.endsWith(quote)) return null;
  return { v: text.slice(m[0].length, text.length - quote.length), fstring: false };
}

function stringValue(node: Node): { v: string; fstring: boolean } {
  if (PLAIN && S.type(node) === 'string') {
    const fast = plainString(node);
    if (fast) return fast;
  }
  if (S.type(node) === 'concatenated_string') {
    let v = '';
    let fstring = false;
    for (const part of S.named(node)) {
      if (!part) continue;
      const s = stringValue(part);
      v += s.v;
      fstring ||= s.fstring;
    }
    return { v, fstring };
  }
  let v = '';
  let fstring = false;
  for (const child of S.named(node)) {
    if (!child) continue;
    if (S.type(child) === 'string_content') v += S.text(child);
    else if (S.type(child) === 'interpolation') {
      fstring = true;
      v += S.text(child);
    } else if (S.type(child) === 'escape_sequence') v += S.text(child);
  }
  return { v, fstring };
}

/**
 * Words that are not plain names: a keyword changes the grammar (`lambda`, `not`, `await`,
 * `x if c else y`, `for` of a generator argument), and `print`/`exec` have statement forms.
 */
const NOT_A_NAME = new Set(
  (
    'False None True and as assert async await break class continue def del elif else except ' +
    'exec finally for from global if import in is lambda match nonlocal not or pass print ' +
    'raise return try type while with yield case'
  ).split(' '),
);

/**
 * The Expr of a call read from its source text, as toExpr builds it from the tree, for calls
 * made of the simplest parts only: names, attribute chains, calls, plain strings, decimal
 * integers, True/False/None and keyword or `*`/`**` arguments. Anything else (operators,
 * brackets, comments, f-strings, line continuations, non-ASCII text) gives null and the tree
 * is read instead. Most calls in real code qualify, and one WebAssembly call (the call's end)
 * replaces a dozen.
 */
function callFromText(node: Node, depth: number): Expr | null {
  const src = (PLAIN as FileNodes).source as string;
  const start = node.startIndex;
  const end = (PLAIN as FileNodes).end(node);
  const at = node.startPosition;
  const r = new TextExpr(src, start, end, at.row, at.column);
  const e = r.primary(0);
  // toExpr gives up below MAX_EXPR_DEPTH: only expressions that stay above it qualify.
  if (!e || e.k !== 'call' || !r.atEnd() || depth + exprDepth(e) > MAX_EXPR_DEPTH) return null;
  return e;
}

/** How deep toExpr recurses to build an Expr (0 for a leaf). */
function exprDepth(e: Expr): number {
  switch (e.k) {
    case 'attr':
      return 1 + exprDepth(e.obj);
    case 'call': {
      let d = exprDepth(e.fn);
      for (const a of e.args) d = Math.max(d, exprDepth(a));
      for (const v of Object.values(e.kw)) d = Math.max(d, exprDepth(v));
      return 1 + d;
    }
    default:
      return 0;
  }
}

class TextExpr {
  private i: number;
  private row: number;
  private col: number;

  constructor(
    private readonly src: string,
    start: number,
    private readonly end: number,
    row: number,
    col: number,
  ) {
    this.i = start;
    this.row = row;
    this.col = col;
  }

  atEnd(): boolean {
    return this.i === this.end;
  }

  /** Skip blanks (newlines only inside brackets, which is where they can be). */
  private blank(newlines: boolean): void {
    for (; this.i < this.end; this.i++) {
      const c = this.src.charCodeAt(this.i);
      if (c === 32 || c === 9 || c === 12) this.col++;
      else if (newlines && c === 10) {
        this.row++;
        this.col = 0;
      } else if (newlines && c === 13 && this.src.charCodeAt(this.i + 1) === 10) this.col++;
      else return;
    }
  }

  private peek(): number {
    return this.i < this.end ? this.src.charCodeAt(this.i) : -1;
  }

  private take(n: number): void {
    this.i += n;
    this.col += n;
  }

  private word(): string | null {
    WORD.lastIndex = this.i;
    const m = WORD.exec(this.src);
    if (!m || this.i + m[0].length > this.end) return null;
    const next = this.src.charCodeAt(this.i + m[0].length);
    if (next >= 0x80) return null;
    return m[0];
  }

  /** atom trailer*: names, attributes and calls built on them. */
  primary(nest: number, inBrackets = false): Expr | null {
    if (nest > MAX_EXPR_DEPTH) return null;
    const line = this.row + 1;
    const col = this.col;
    const from = this.i;
    let e = this.atom();
    if (!e) return null;
    // Each trailer wraps what came before, one level deeper in toExpr's counting.
    const chain: {
      kind: 'attr' | 'call';
      attr?: string;
      args?: Expr[];
      kw?: Record<string, Expr>;
      splat?: boolean;
      to?: number;
    }[] = [];
    for (;;) {
      const save = { i: this.i, row: this.row, col: this.col };
      this.blank(inBrackets);
      const c = this.peek();
      if (c === 46 /* . */) {
        this.take(1);
        this.blank(inBrackets);
        const w = this.word();
        if (!w || NOT_A_NAME.has(w)) return null;
        this.take(w.length);
        chain.push({ kind: 'attr', attr: w });
      } else if (c === 40 /* ( */) {
        this.take(1);
        const call = {
          kind: 'call' as const,
          args: [] as Expr[],
          kw: {} as Record<string, Expr>,
          splat: false,
          to: 0,
        };
        if (!this.args(call, nest + chain.length + 1)) return null;
        call.to = this.i;
        chain.push(call);
      } else {
        this.i = save.i;
        this.row = save.row;
        this.col = save.col;
        break;
      }
      // Deeper than toExpr goes (long method chains): leave it to the tree.
      if (nest + chain.length > MAX_EXPR_DEPTH) return null;
    }
    if (e.k !== 'name' && chain.length) return null;
    // Rebuild from the inside out: the atom is the deepest node.
    for (const t of chain) {
      if (t.kind === 'attr') e = { k: 'attr', obj: e, attr: t.attr as string, line, col };
      else {
        const text = this.src.slice(from, t.to);
        e = {
          k: 'call',
          fn: e,
          args: t.args as Expr[],
          kw: t.kw as Record<string, Expr>,
          splat: t.splat as boolean,
          line,
          col,
          text: text.length > 300 ? text.slice(0, 300) : text,
        };
      }
    }
    return e;
  }

  /** `(` seen: arguments up to the closing `)`. */
  private args(
    call: { args: Expr[]; kw: Record<string, Expr>; splat: boolean },
    nest: number,
  ): boolean {
    for (;;) {
      this.blank(true);
      const c = this.peek();
      if (c === 41 /* ) */) {
        this.take(1);
        return true;
      }
      if (c === 42 /* * */) {
        this.take(this.src.charCodeAt(this.i + 1) === 42 ? 2 : 1);
        this.blank(true);
        if (!this.primary(nest, true)) return false;
        call.splat = true;
      } else {
        const w = this.word();
        let named = false;
        if (w !== null && !NOT_A_NAME.has(w)) {
          // `name=value` (not `name==value`).
          const save = { i: this.i, row: this.row, col: this.col };
          this.take(w.length);
          this.blank(true);
          if (this.peek() === 61 && this.src.charCodeAt(this.i + 1) !== 61) {
            this.take(1);
            this.blank(true);
            const v = this.primary(nest, true);
            if (!v) return false;
            call.kw[w] = v;
            named = true;
          } else {
            this.i = save.i;
            this.row = save.row;
            this.col = save.col;
          }
        }
        if (!named) {
          const v = this.primary(nest, true);
          if (!v) return false;
          call.args.push(v);
        }
      }
      this.blank(true);
      const d = this.peek();
      if (d === 44 /* , */) this.take(1);
      else if (d !== 41) return false;
    }
  }

  /** A name, a plain string, a decimal integer, True/False/None. */
  private atom(): Expr | null {
    const line = this.row + 1;
    const col = this.col;
    const c = this.peek();
    if (c >= 48 && c <= 57) {
      DECIMAL.lastIndex = this.i;
      const m = DECIMAL.exec(this.src);
      if (!m || this.i + m[0].length > this.end) return null;
      this.take(m[0].length);
      const v = Number(m[0].replace(/_/g, ''));
      return Number.isFinite(v) ? { k: 'num', v } : null;
    }
    const w = this.word();
    const q = w === null ? c : this.src.charCodeAt(this.i + w.length);
    if (q === 34 || q === 39) return this.string(w ?? '');
    if (w === null) return null;
    if (w === 'True' || w === 'False') {
      this.take(w.length);
      return { k: 'bool', v: w === 'True' };
    }
    if (w === 'None') {
      this.take(w.length);
      return { k: 'none' };
    }
    if (NOT_A_NAME.has(w)) return null;
    this.take(w.length);
    return { k: 'name', id: w, line, col };
  }

  /** A string literal without `f`/`t` prefix, alone (not concatenated), on one line. */
  private string(prefix: string): Expr | null {
    if (!/^[rRbBuU]{0,2}$/.test(prefix)) return null;
    const open = this.i + prefix.length;
    const quote = this.src[open];
    if (this.src.startsWith(quote.repeat(3), open)) return null;
    let j = open + 1;
    for (; j < this.end; j++) {
      const ch = this.src.charCodeAt(j);
      if (ch === 92 /* \ */) {
        // An escaped line break continues the string on the next line: leave it to the tree.
        const next = this.src.charCodeAt(j + 1);
        if (next === 10 || next === 13 || next >= 0x80) return null;
        j++;
        continue;
      }
      if (ch === 10 || ch === 13 || ch >= 0x80) return null;
      if (this.src[j] === quote) break;
    }
    if (j >= this.end) return null;
    const v = this.src.slice(open + 1, j);
    this.take(j + 1 - this.i);
    // Another string right after would make a concatenated string: leave those to the tree.
    const save = { i: this.i, row: this.row, col: this.col };
    this.blank(true);
    const n = this.peek();
    const w = this.word();
    const after = w === null ? n : this.src.charCodeAt(this.i + w.length);
    this.i = save.i;
    this.row = save.row;
    this.col = save.col;
    if (n === 34 || n === 39 || ((after === 34 || after === 39) && w !== null)) return null;
    return { k: 'str', v, fstring: false };
  }
}

export function toExpr(node: Node | null, depth = 0): Expr {
  if (!node) return { k: 'other', text: '' };
  if (depth > MAX_EXPR_DEPTH) return { k: 'other', text: '' };
  switch (S.type(node)) {
    case 'identifier':
      return { k: 'name', id: S.text(node), ...pos(node) };
    case 'attribute': {
      if (PLAIN) {
        // `a.b.c`: every level starts where the chain starts; names come from the text.
        const text = S.text(node);
        if (DOTTED_CHAIN.test(text)) {
          const parts = text.split('.');
          if (depth + parts.length <= MAX_EXPR_DEPTH) {
            const at = pos(node);
            let e: Expr = { k: 'name', id: parts[0].trim(), ...at };
            for (let i = 1; i < parts.length; i++)
              e = { k: 'attr', obj: e, attr: parts[i].trim(), ...at };
            return e;
          }
        }
      }
      const attr = S.field(node, 'attribute');
      return {
        k: 'attr',
        obj: toExpr(S.field(node, 'object'), depth + 1),
        attr: attr ? S.text(attr) : '',
        ...pos(node),
      };
    }
    case 'call': {
      if (PLAIN) {
        const e = callFromText(node, depth);
        if (e) return e;
      }
      const fn = toExpr(S.field(node, 'function'), depth + 1);
      const args: Expr[] = [];
      const kw: Record<string, Expr> = {};
      let splat = false;
      const argList = S.field(node, 'arguments');
      if (argList && S.type(argList) === 'argument_list') {
        for (const a of S.named(argList)) {
          if (!a) continue;
          if (S.type(a) === 'keyword_argument') {
            // The name is the identifier the argument starts with.
            const name = PLAIN ? PLAIN.wordAt(a.startIndex) : null;
            if (name !== null) kw[name] = toExpr(S.field(a, 'value'), depth + 1);
            else {
              const n = S.field(a, 'name');
              if (n) kw[S.text(n)] = toExpr(S.field(a, 'value'), depth + 1);
            }
          } else if (S.type(a) === 'list_splat' || S.type(a) === 'dictionary_splat') {
            splat = true;
          } else if (S.type(a) !== 'comment') {
            args.push(toExpr(a, depth + 1));
          }
        }
      }
      const text = S.text(node);
      return {
        k: 'call',
        fn,
        args,
        kw,
        splat,
        ...pos(node),
        text: text.length > 300 ? text.slice(0, 300) : text,
      };
    }
    case 'string':
    case 'concatenated_string': {
      const s = stringValue(node);
      return { k: 'str', v: s.v, fstring: s.fstring };
    }
    case 'integer': {
      const v = Number(S.text(node).replace(/_/g, ''));
      return Number.isFinite(v) ? { k: 'num', v } : { k: 'other', text: S.text(node) };
    }
    case 'true':
      return { k: 'bool', v: true };
    case 'false':
      return { k: 'bool', v: false };
    case 'none':
      return { k: 'none' };
    case 'list':
    case 'tuple':
    case 'set':
    case 'expression_list':
      return {
        k: 'list',
        items: S.named(node)
          .filter((c): c is Node => !!c && S.type(c) !== 'comment')
          .map((c) => toExpr(c, depth + 1)),
      };
    case 'parenthesized_expression':
    case 'type': {
      const inner = S.named(node).find((c) => c && S.type(c) !== 'comment');
      return toExpr(inner ?? null, depth + 1);
    }
    case 'subscript': {
      const obj = toExpr(S.field(node, 'value'), depth + 1);
      const idx = node
        .childrenForFieldName('subscript')
        .filter((c): c is Node => !!c)
        .map((c) => toExpr(c, depth + 1));
      return { k: 'sub', obj, idx, ...pos(node) };
    }
    case 'generic_type': {
      // In annotations `Annotated[User, Depends(f)]` parses as generic_type(identifier, type_parameter).
      const children = S.named(node).filter((c): c is Node => !!c);
      const head = children[0];
      const params = children.find((c) => S.type(c) === 'type_parameter');
      const idx = params
        ? S.named(params)
            .filter((c): c is Node => !!c)
            .map((c) => toExpr(c, depth + 1))
        : [];
      return { k: 'sub', obj: toExpr(head ?? null, depth + 1), idx, ...pos(node) };
    }
    case 'binary_operator': {
      const op = S.field(node, 'operator');
      return {
        k: 'binop',
        op: op ? S.text(op) : '',
        l: toExpr(S.field(node, 'left'), depth + 1),
        r: toExpr(S.field(node, 'right'), depth + 1),
      };
    }
    case 'keyword_argument':
      return toExpr(S.field(node, 'value'), depth + 1);
    default: {
      const text = S.text(node);
      return { k: 'other', text: text.length > 200 ? text.slice(0, 200) : text };
    }
  }
}

/** `a.b.c` for a chain of names/attributes, else null. */
export function dottedName(e: Expr): string | null {
  if (e.k === 'name') return e.id;
  if (e.k === 'attr') {
    const base = dottedName(e.obj);
    return base === null ? null : `${base}.${e.attr}`;
  }
  return null;
}

interface ScopeCtx {
  /** Qualname of the current scope ('' for module). */
  qualname: string;
  /** Prefix for qualnames of defs inside this scope. */
  childPrefix: string;
  cond: string[];
  className: string | null;
  classFacts: ClassFacts | null;
  func: FuncFacts | null;
  depth: number;
}

/** The same scope with a different condition stack and depth (no object spread: hot path). */
function withScope(ctx: ScopeCtx, cond: string[], depth: number): ScopeCtx {
  return {
    qualname: ctx.qualname,
    childPrefix: ctx.childPrefix,
    cond,
    className: ctx.className,
    classFacts: ctx.classFacts,
    func: ctx.func,
    depth,
  };
}

function headerText(node: Node | null): string {
  if (!node) return '';
  const t = S.text(node).replace(/\s+/g, ' ').trim();
  return t.length > 120 ? `${t.slice(0, 117)}...` : t;
}

export function extractFacts(
  file: string,
  tree: Tree,
  source?: string,
  shared?: FileNodes,
  role: FileRole = CODE_FILE,
): ModuleFacts {
  const nodes = shared ?? new FileNodes(tree.rootNode, source);
  const outer = S;
  const outerPlain = PLAIN;
  S = nodes;
  PLAIN = nodes.plain() ? nodes : null;
  try {
    const facts = extractWith(file, tree, source, nodes);
    facts.test = role.test;
    facts.docs = role.docs;
    return facts;
  } finally {
    S = outer;
    PLAIN = outerPlain;
  }
}

function extractWith(
  file: string,
  tree: Tree,
  source: string | undefined,
  nodes: FileNodes,
): ModuleFacts {
  const root = tree.rootNode;
  const src = source ?? root.text;
  /**
   * The raise, return, if and elif statements the walk meets, in document order: what a
   * search of the tree for them would give when the walk sees every block (see
   * collectBodyFacts), so the file's node search is left to the rules that need it.
   */
  const met = { raises: [] as Node[], returns: [] as Node[], tests: [] as Node[] };
  const metIds = new Set<number>();
  let walkedAll = true;
  const meet = (list: Node[], n: Node): void => {
    // `match` blocks can be walked twice (see visitStatement): count each statement once.
    if (metIds.has(n.id)) return;
    metIds.add(n.id);
    list.push(n);
  };
  /** The statements of a block the walk does not enter (`for`/`while` ... `else:`). */
  const meetIn = (block: Node | null): void => {
    if (!block) return;
    for (const n of block.descendantsOfType(BODY_STATEMENTS)) {
      if (!n) continue;
      const t = S.type(n);
      meet(
        t === 'raise_statement' ? met.raises : t === 'return_statement' ? met.returns : met.tests,
        n,
      );
    }
  };
  /** Function bodies, for the body-facts pass after the statement walk. */
  const bodies: { fn: FuncFacts; body: Node; start: number; end: number }[] = [];
  const facts: ModuleFacts = {
    file,
    imports: [],
    assigns: [],
    funcs: [],
    classes: [],
    calls: [],
    subscriptAssigns: [],
    comments: [],
    exportsAll: null,
    fastapiRelated: false,
    test: false,
    docs: false,
    lineCount: root.endPosition.row + 1,
    parseErrors: 0,
    local: [],
  };

  const moduleCtx: ScopeCtx = {
    qualname: '',
    childPrefix: '',
    cond: [],
    className: null,
    classFacts: null,
    func: null,
    depth: 0,
  };

  const condText = (ctx: ScopeCtx): string | null =>
    ctx.cond.length ? ctx.cond.join(' / ') : null;

  function visitImport(node: Node, ctx: ScopeCtx): void {
    const line = pos(node).line;
    if (S.type(node) === 'import_statement') {
      for (const n of node.childrenForFieldName('name')) {
        if (!n) continue;
        if (S.type(n) === 'aliased_import') {
          const name = S.field(n, 'name');
          const alias = S.field(n, 'alias');
          if (name && alias)
            facts.imports.push({
              local: S.text(alias),
              module: S.text(name),
              level: 0,
              name: null,
              scope: ctx.qualname,
              line,
            });
        } else {
          const full = S.text(n);
          facts.imports.push({
            local: full.split('.')[0],
            module: full.split('.')[0],
            level: 0,
            name: null,
            fullModule: full,
            scope: ctx.qualname,
            line,
          });
        }
      }
      return;
    }
    // import_from_statement
    const moduleNode = S.field(node, 'module_name');
    let level = 0;
    let module = '';
    if (moduleNode) {
      if (S.type(moduleNode) === 'relative_import') {
        for (const c of S.named(moduleNode)) {
          if (!c) continue;
          if (S.type(c) === 'import_prefix') level = S.text(c).length;
          else if (S.type(c) === 'dotted_name') module = S.text(c);
        }
      } else module = S.text(moduleNode);
    }
    if (/^(fastapi|starlette)\b/.test(module)) facts.fastapiRelated = true;
    const wildcard = S.named(node).some((c) => c && S.type(c) === 'wildcard_import');
    if (wildcard) {
      facts.imports.push({ local: '*', module, level, name: '*', scope: ctx.qualname, line });
      return;
    }
    for (const n of node.childrenForFieldName('name')) {
      if (!n) continue;
      if (S.type(n) === 'aliased_import') {
        const name = S.field(n, 'name');
        const alias = S.field(n, 'alias');
        if (name && alias)
          facts.imports.push({
            local: S.text(alias),
            module,
            level,
            name: S.text(name),
            scope: ctx.qualname,
            line,
          });
      } else {
        facts.imports.push({
          local: S.text(n),
          module,
          level,
          name: S.text(n),
          scope: ctx.qualname,
          line,
        });
      }
    }
  }

  function visitParams(node: Node | null): ParamFacts[] {
    const params: ParamFacts[] = [];
    if (!node) return params;
    for (const p of S.named(node)) {
      if (!p) continue;
      switch (S.type(p)) {
        case 'identifier':
          params.push({ name: S.text(p), annotation: null, default: null, variadic: false });
          break;
        case 'typed_parameter': {
          const id = S.named(p).find((c) => c && S.type(c) === 'identifier');
          const variadic = S.named(p).some(
            (c) =>
              !!c &&
              (S.type(c) === 'list_splat_pattern' || S.type(c) === 'dictionary_splat_pattern'),
          );
          params.push({
            name: id ? S.text(id) : S.text(p),
            annotation: toExpr(S.field(p, 'type')),
            default: null,
            variadic,
          });
          break;
        }
        case 'default_parameter':
        case 'typed_default_parameter': {
          const n = S.field(p, 'name');
          const t = S.field(p, 'type');
          params.push({
            name: n ? S.text(n) : '',
            annotation: t ? toExpr(t) : null,
            default: toExpr(S.field(p, 'value')),
            variadic: false,
          });
          break;
        }
        case 'list_splat_pattern':
        case 'dictionary_splat_pattern':
          params.push({
            name: S.text(p).replace(/^\*+/, ''),
            annotation: null,
            default: null,
            variadic: true,
          });
          break;
        default:
          break;
      }
    }
    return params;
  }

  function blockRaisesOrReturns(block: Node | null): boolean {
    if (!block) return false;
    for (const s of S.named(block)) {
      if (!s) continue;
      if (S.type(s) === 'raise_statement' || S.type(s) === 'return_statement') return true;
    }
    return false;
  }

  function visitFunction(node: Node, decorators: Node[], ctx: ScopeCtx): void {
    const nameNode = S.field(node, 'name');
    if (!nameNode) return;
    const name = S.text(nameNode);
    const qualname = ctx.childPrefix + name;
    const fn: FuncFacts = {
      name,
      qualname,
      scope: ctx.qualname,
      line: pos(nameNode).line,
      col: pos(node).col,
      endLine: node.endPosition.row + 1,
      isAsync: S.text(node).startsWith('async'),
      params: visitParams(S.field(node, 'parameters')),
      returnType: S.field(node, 'return_type') ? toExpr(S.field(node, 'return_type')) : null,
      decorators: decorators.map((d) => {
        const exprNode = S.named(d).find((c) => c && S.type(c) !== 'comment') ?? null;
        return { expr: toExpr(exprNode), ...pos(d), text: headerText(d) };
      }),
      returns: [],
      raises: [],
      responseCalls: [],
      guards: [],
      mentions: [],
      cond: condText(ctx),
      className: ctx.className,
    };
    facts.funcs.push(fn);
    nodes.funcNodes.set(fn, node);
    if (ctx.classFacts) ctx.classFacts.methods[name] = qualname;
    const inner: ScopeCtx = {
      qualname,
      childPrefix: `${qualname}.<locals>.`,
      cond: [],
      className: null,
      classFacts: null,
      func: fn,
      depth: ctx.depth + 1,
    };
    const body = S.field(node, 'body');
    if (body) {
      visitBlock(body, inner);
      bodies.push({ fn, body, start: body.startIndex, end: body.endIndex });
    }
  }

  /**
   * Body facts for every function in two cheap passes instead of a JS walk of every node:
   * names read come from the body's source text, and raise/return/if statements from one
   * tree-sitter-side search, each given to the innermost function that contains it.
   */
  function collectBodyFacts(): void {
    if (bodies.length === 0) return;
    const sorted = [...bodies].sort((a, b) => a.start - b.start || b.end - a.end);
    /** Innermost body around each of `nodes` (ascending starts), by one sweep over the bodies. */
    function innermost(nodes: Node[]): ((typeof bodies)[number] | null)[] {
      const out: ((typeof bodies)[number] | null)[] = new Array(nodes.length);
      const stack: (typeof bodies)[number][] = [];
      let next = 0;
      for (let i = 0; i < nodes.length; i++) {
        const index = nodes[i].startIndex;
        while (next < sorted.length && sorted[next].start <= index) {
          const b = sorted[next++];
          while (stack.length && stack[stack.length - 1].end <= b.start) stack.pop();
          stack.push(b);
        }
        while (stack.length && stack[stack.length - 1].end <= index) stack.pop();
        out[i] = stack.length ? stack[stack.length - 1] : null;
      }
      return out;
    }
    // The names in the file, scanned once: a body's names are those starting inside it
    // (nested bodies would otherwise be scanned once per enclosing function).
    const wordAt: number[] = [];
    const words: string[] = [];
    const first = sorted[0].start;
    // Up to the end of the last body only (one statement's facts need not scan the file).
    let last = 0;
    for (const b of bodies) if (b.end > last) last = b.end;
    IDENTIFIER.lastIndex = first;
    for (let m = IDENTIFIER.exec(src); m && m.index < last; m = IDENTIFIER.exec(src)) {
      wordAt.push(m.index);
      words.push(m[0]);
    }
    for (const b of bodies) {
      const text = src.slice(b.start, b.end);
      const mentions = new Set<string>();
      let lo = 0;
      let hi = wordAt.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (wordAt[mid] < b.start) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < wordAt.length && wordAt[i] < b.end; i++) mentions.add(words[i]);
      if (STATUS_401_403.test(text)) {
        for (const m of text.match(STATUS_401_403_ALL) ?? []) mentions.add(m);
      }
      b.fn.mentions = [...mentions];
      if (RESPONSE_CALL.test(text)) {
        const calls = nodes.inside(b.body, 'call');
        const owners = innermost(calls);
        calls.forEach((c, i) => {
          if (owners[i] !== b) return;
          const f = S.field(c, 'function');
          if (f && /Response$|^abort$|\.abort$/.test(S.text(f))) b.fn.responseCalls.push(toExpr(c));
        });
      }
    }
    const walked = walkedAll && nodes.plain();
    const raises = walked ? met.raises : nodes.ofType('raise_statement');
    innermost(raises).forEach((b, i) => {
      if (!b) return;
      const n = raises[i];
      const e = S.named(n).find((c) => c && S.type(c) !== 'comment');
      if (e) b.fn.raises.push({ expr: toExpr(e), line: pos(n).line });
    });
    const returns = walked ? met.returns : nodes.ofType('return_statement');
    innermost(returns).forEach((b, i) => {
      if (!b) return;
      const n = returns[i];
      const e = S.named(n).find((c) => c && S.type(c) !== 'comment');
      if (e) b.fn.returns.push({ value: toExpr(e), line: pos(n).line });
    });
    let tests = met.tests;
    if (!walked) {
      const ifs = nodes.ofType('if_statement');
      const elifs = nodes.ofType('elif_clause');
      tests = [];
      for (let i = 0, j = 0; i < ifs.length || j < elifs.length;) {
        if (j >= elifs.length || (i < ifs.length && ifs[i].startIndex < elifs[j].startIndex))
          tests.push(ifs[i++]);
        else tests.push(elifs[j++]);
      }
    }
    innermost(tests).forEach((b, i) => {
      if (!b) return;
      const n = tests[i];
      const c = S.field(n, 'condition');
      if (c && blockRaisesOrReturns(S.field(n, 'consequence')))
        b.fn.guards.push({ condition: headerText(c), line: pos(c).line });
    });
  }

  function visitClass(node: Node, decorators: Node[], ctx: ScopeCtx): void {
    void decorators;
    const nameNode = S.field(node, 'name');
    if (!nameNode) return;
    const name = S.text(nameNode);
    const qualname = ctx.childPrefix + name;
    const bases: Expr[] = [];
    const sup = S.field(node, 'superclasses');
    if (sup) {
      for (const b of S.named(sup)) {
        if (!b || S.type(b) === 'keyword_argument' || S.type(b) === 'comment') continue;
        bases.push(toExpr(b));
      }
    }
    const cls: ClassFacts = {
      name,
      qualname,
      scope: ctx.qualname,
      ...pos(nameNode),
      bases,
      methods: {},
      attrs: {},
      fields: [],
    };
    facts.classes.push(cls);
    nodes.classNodes.set(cls, node);
    const body = S.field(node, 'body');
    if (body)
      visitBlock(body, {
        qualname: ctx.qualname,
        childPrefix: `${qualname}.`,
        cond: [],
        className: qualname,
        classFacts: cls,
        func: null,
        depth: ctx.depth + 1,
      });
  }

  function assignTargets(left: Node): string[] {
    if (S.type(left) === 'identifier' || S.type(left) === 'attribute')
      return [S.text(left).replace(/\s+/g, '')];
    if (
      S.type(left) === 'pattern_list' ||
      S.type(left) === 'tuple_pattern' ||
      S.type(left) === 'list_pattern'
    )
      return [];
    return [];
  }

  function visitAssignment(node: Node, ctx: ScopeCtx): void {
    const left = S.field(node, 'left');
    let right = S.field(node, 'right');
    if (left && ctx.classFacts && S.type(left) === 'identifier')
      ctx.classFacts.fields.push(S.text(left));
    if (!left || !right) return;
    // Chained `a = b = FastAPI()`: the right side is another assignment.
    const targets: Node[] = [left];
    while (right && S.type(right) === 'assignment') {
      const l = S.field(right, 'left');
      if (l) targets.push(l);
      right = S.field(right, 'right');
    }
    if (!right) return;
    const value = toExpr(right);
    for (const t of targets) {
      if (S.type(t) === 'subscript') {
        facts.subscriptAssigns.push({
          target: toExpr(t),
          value,
          scope: ctx.qualname,
          line: pos(node).line,
        });
        continue;
      }
      for (const target of assignTargets(t)) {
        if (ctx.classFacts && !target.includes('.')) ctx.classFacts.attrs[target] = value;
        else
          facts.assigns.push({
            target,
            value,
            scope: ctx.qualname,
            line: pos(node).line,
            cond: condText(ctx),
          });
        if (target === '__all__' && ctx.qualname === '' && value.k === 'list') {
          facts.exportsAll = value.items.flatMap((i) => (i.k === 'str' ? [i.v] : []));
        }
      }
    }
  }

  function visitStatement(node: Node, ctx: ScopeCtx): void {
    switch (S.type(node)) {
      case 'import_statement':
      case 'import_from_statement':
        visitImport(node, ctx);
        return;
      case 'future_import_statement':
        return;
      case 'function_definition':
        visitFunction(node, [], ctx);
        return;
      case 'class_definition':
        visitClass(node, [], ctx);
        return;
      case 'decorated_definition': {
        const decorators = S.named(node).filter((c): c is Node => !!c && S.type(c) === 'decorator');
        const def = S.field(node, 'definition');
        if (def && S.type(def) === 'function_definition') visitFunction(def, decorators, ctx);
        else if (def && S.type(def) === 'class_definition') visitClass(def, decorators, ctx);
        return;
      }
      case 'expression_statement': {
        for (const e of S.named(node)) {
          if (!e) continue;
          if (S.type(e) === 'assignment') visitAssignment(e, ctx);
          else if (S.type(e) === 'call') {
            const call = toExpr(e);
            if (call.k === 'call')
              facts.calls.push({ call, scope: ctx.qualname, ...pos(e), cond: condText(ctx) });
          } else if (S.type(e) === 'await') {
            const inner = S.named(e).find((c) => c && S.type(c) === 'call');
            if (inner) {
              const call = toExpr(inner);
              if (call.k === 'call')
                facts.calls.push({ call, scope: ctx.qualname, ...pos(inner), cond: condText(ctx) });
            }
          }
        }
        return;
      }
      case 'raise_statement':
        meet(met.raises, node);
        return;
      case 'return_statement':
        meet(met.returns, node);
        return;
      case 'if_statement': {
        meet(met.tests, node);
        const c = S.field(node, 'condition');
        const cText = headerText(c);
        const cons = S.field(node, 'consequence');
        if (cons) visitBlock(cons, withScope(ctx, [...ctx.cond, `if ${cText}`], ctx.depth));
        for (const alt of node.childrenForFieldName('alternative')) {
          if (!alt) continue;
          if (S.type(alt) === 'elif_clause') {
            meet(met.tests, alt);
            const ec = headerText(S.field(alt, 'condition'));
            const b = S.field(alt, 'consequence');
            if (b) visitBlock(b, withScope(ctx, [...ctx.cond, `elif ${ec}`], ctx.depth));
          } else if (S.type(alt) === 'else_clause') {
            const b = S.field(alt, 'body');
            if (b) visitBlock(b, withScope(ctx, [...ctx.cond, 'else'], ctx.depth));
          }
        }
        return;
      }
      case 'try_statement': {
        const body = S.field(node, 'body');
        if (body) visitBlock(body, withScope(ctx, [...ctx.cond, 'try'], ctx.depth));
        for (const c of S.named(node)) {
          if (!c) continue;
          if (S.type(c) === 'except_clause' || S.type(c) === 'except_group_clause') {
            const typeNode = S.named(c).find(
              (x) => x && S.type(x) !== 'block' && S.type(x) !== 'comment',
            );
            const label = typeNode ? `except ${headerText(typeNode)}` : 'except';
            const b = S.named(c).find((x) => x && S.type(x) === 'block');
            if (b) visitBlock(b, withScope(ctx, [...ctx.cond, label], ctx.depth));
          } else if (S.type(c) === 'else_clause') {
            const b = S.field(c, 'body');
            if (b) visitBlock(b, withScope(ctx, [...ctx.cond, 'try-else'], ctx.depth));
          } else if (S.type(c) === 'finally_clause') {
            const b = S.named(c).find((x) => x && S.type(x) === 'block');
            if (b) visitBlock(b, ctx);
          }
        }
        return;
      }
      case 'for_statement': {
        const left = S.field(node, 'left');
        const right = S.field(node, 'right');
        if (left && right && S.type(left) === 'identifier') {
          facts.assigns.push({
            target: S.text(left),
            value: toExpr(right),
            scope: ctx.qualname,
            line: pos(node).line,
            cond: condText(ctx),
            iter: true,
          });
        }
        const body = S.field(node, 'body');
        if (body) visitBlock(body, ctx);
        meetIn(S.field(S.field(node, 'alternative'), 'body'));
        return;
      }
      case 'with_statement':
      case 'while_statement': {
        const body = S.field(node, 'body');
        if (body) visitBlock(body, ctx);
        if (S.type(node) === 'while_statement')
          meetIn(S.field(S.field(node, 'alternative'), 'body'));
        return;
      }
      case 'match_statement': {
        for (const c of node.descendantsOfType('block')) if (c) visitBlock(c, ctx);
        return;
      }
      default:
        return;
    }
  }

  function visitBlock(node: Node, ctx: ScopeCtx): void {
    if (ctx.depth > MAX_BLOCK_DEPTH) {
      walkedAll = false;
      return;
    }
    const deeper = withScope(ctx, ctx.cond, ctx.depth + 1);
    for (const s of S.named(node)) if (s) visitStatement(s, deeper);
  }

  visitBlock(root, moduleCtx);
  collectBodyFacts();

  // Comments and error counts in one cheap pass over the whole tree.
  if (root.hasError) facts.parseErrors = root.descendantsOfType('ERROR').length || 1;
  // Only our own comments matter; most files have none, so skip the tree walk for them.
  const mayHaveOurComments = source === undefined || source.includes('fastapi-lens');
  for (const c of mayHaveOurComments ? root.descendantsOfType('comment') : []) {
    if (!c) continue;
    const text = S.text(c);
    if (text.includes('fastapi-lens')) facts.comments.push({ line: pos(c).line, text });
  }
  if (!facts.fastapiRelated) {
    facts.fastapiRelated = facts.imports.some((i) => /^(fastapi|starlette)\b/.test(i.module));
  }
  return facts;
}
