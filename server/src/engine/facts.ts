import type { Node, Tree } from 'web-tree-sitter';
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
  lineCount: number;
  parseErrors: number;
  /** Findings of the file rules, computed while the tree was alive. */
  local: LocalFinding[];
  /** Per-function taint summaries (sources, sinks, calls), computed while the tree was alive. */
  taint?: TaintFacts;
}

const MAX_EXPR_DEPTH = 64;
const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/g;
const STATUS_401_403 = /\b40[13]\b/;
const STATUS_401_403_ALL = /\b40[13]\b/g;
const RESPONSE_CALL = /Response\s*\(|abort\s*\(/;
const MAX_BLOCK_DEPTH = 200;

function pos(node: Node): { line: number; col: number } {
  return { line: node.startPosition.row + 1, col: node.startPosition.column };
}

/** String literal value (without prefixes/quotes); f-strings keep their text with `{...}`. */
function stringValue(node: Node): { v: string; fstring: boolean } {
  if (node.type === 'concatenated_string') {
    let v = '';
    let fstring = false;
    for (const part of node.namedChildren) {
      if (!part) continue;
      const s = stringValue(part);
      v += s.v;
      fstring ||= s.fstring;
    }
    return { v, fstring };
  }
  let v = '';
  let fstring = false;
  for (const child of node.namedChildren) {
    if (!child) continue;
    if (child.type === 'string_content') v += child.text;
    else if (child.type === 'interpolation') {
      fstring = true;
      v += child.text;
    } else if (child.type === 'escape_sequence') v += child.text;
  }
  return { v, fstring };
}

export function toExpr(node: Node | null, depth = 0): Expr {
  if (!node) return { k: 'other', text: '' };
  if (depth > MAX_EXPR_DEPTH) return { k: 'other', text: '' };
  switch (node.type) {
    case 'identifier':
      return { k: 'name', id: node.text, ...pos(node) };
    case 'attribute': {
      const attr = node.childForFieldName('attribute');
      return {
        k: 'attr',
        obj: toExpr(node.childForFieldName('object'), depth + 1),
        attr: attr ? attr.text : '',
        ...pos(node),
      };
    }
    case 'call': {
      const fn = toExpr(node.childForFieldName('function'), depth + 1);
      const args: Expr[] = [];
      const kw: Record<string, Expr> = {};
      let splat = false;
      const argList = node.childForFieldName('arguments');
      if (argList && argList.type === 'argument_list') {
        for (const a of argList.namedChildren) {
          if (!a) continue;
          if (a.type === 'keyword_argument') {
            const n = a.childForFieldName('name');
            if (n) kw[n.text] = toExpr(a.childForFieldName('value'), depth + 1);
          } else if (a.type === 'list_splat' || a.type === 'dictionary_splat') {
            splat = true;
          } else if (a.type !== 'comment') {
            args.push(toExpr(a, depth + 1));
          }
        }
      }
      const text = node.text;
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
      const v = Number(node.text.replace(/_/g, ''));
      return Number.isFinite(v) ? { k: 'num', v } : { k: 'other', text: node.text };
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
        items: node.namedChildren
          .filter((c): c is Node => !!c && c.type !== 'comment')
          .map((c) => toExpr(c, depth + 1)),
      };
    case 'parenthesized_expression':
    case 'type': {
      const inner = node.namedChildren.find((c) => c && c.type !== 'comment');
      return toExpr(inner ?? null, depth + 1);
    }
    case 'subscript': {
      const obj = toExpr(node.childForFieldName('value'), depth + 1);
      const idx = node
        .childrenForFieldName('subscript')
        .filter((c): c is Node => !!c)
        .map((c) => toExpr(c, depth + 1));
      return { k: 'sub', obj, idx, ...pos(node) };
    }
    case 'generic_type': {
      // In annotations `Annotated[User, Depends(f)]` parses as generic_type(identifier, type_parameter).
      const children = node.namedChildren.filter((c): c is Node => !!c);
      const head = children[0];
      const params = children.find((c) => c.type === 'type_parameter');
      const idx = params
        ? params.namedChildren.filter((c): c is Node => !!c).map((c) => toExpr(c, depth + 1))
        : [];
      return { k: 'sub', obj: toExpr(head ?? null, depth + 1), idx, ...pos(node) };
    }
    case 'binary_operator': {
      const op = node.childForFieldName('operator');
      return {
        k: 'binop',
        op: op ? op.text : '',
        l: toExpr(node.childForFieldName('left'), depth + 1),
        r: toExpr(node.childForFieldName('right'), depth + 1),
      };
    }
    case 'keyword_argument':
      return toExpr(node.childForFieldName('value'), depth + 1);
    default: {
      const text = node.text;
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

function headerText(node: Node | null): string {
  if (!node) return '';
  const t = node.text.replace(/\s+/g, ' ').trim();
  return t.length > 120 ? `${t.slice(0, 117)}...` : t;
}

export function extractFacts(file: string, tree: Tree, source?: string): ModuleFacts {
  const root = tree.rootNode;
  const src = source ?? root.text;
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
    if (node.type === 'import_statement') {
      for (const n of node.childrenForFieldName('name')) {
        if (!n) continue;
        if (n.type === 'aliased_import') {
          const name = n.childForFieldName('name');
          const alias = n.childForFieldName('alias');
          if (name && alias)
            facts.imports.push({
              local: alias.text,
              module: name.text,
              level: 0,
              name: null,
              scope: ctx.qualname,
              line,
            });
        } else {
          const full = n.text;
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
    const moduleNode = node.childForFieldName('module_name');
    let level = 0;
    let module = '';
    if (moduleNode) {
      if (moduleNode.type === 'relative_import') {
        for (const c of moduleNode.namedChildren) {
          if (!c) continue;
          if (c.type === 'import_prefix') level = c.text.length;
          else if (c.type === 'dotted_name') module = c.text;
        }
      } else module = moduleNode.text;
    }
    if (/^(fastapi|starlette)\b/.test(module)) facts.fastapiRelated = true;
    const wildcard = node.namedChildren.some((c) => c && c.type === 'wildcard_import');
    if (wildcard) {
      facts.imports.push({ local: '*', module, level, name: '*', scope: ctx.qualname, line });
      return;
    }
    for (const n of node.childrenForFieldName('name')) {
      if (!n) continue;
      if (n.type === 'aliased_import') {
        const name = n.childForFieldName('name');
        const alias = n.childForFieldName('alias');
        if (name && alias)
          facts.imports.push({
            local: alias.text,
            module,
            level,
            name: name.text,
            scope: ctx.qualname,
            line,
          });
      } else {
        facts.imports.push({
          local: n.text,
          module,
          level,
          name: n.text,
          scope: ctx.qualname,
          line,
        });
      }
    }
  }

  function visitParams(node: Node | null): ParamFacts[] {
    const params: ParamFacts[] = [];
    if (!node) return params;
    for (const p of node.namedChildren) {
      if (!p) continue;
      switch (p.type) {
        case 'identifier':
          params.push({ name: p.text, annotation: null, default: null, variadic: false });
          break;
        case 'typed_parameter': {
          const id = p.namedChildren.find((c) => c && c.type === 'identifier');
          const variadic = p.namedChildren.some(
            (c) =>
              !!c && (c.type === 'list_splat_pattern' || c.type === 'dictionary_splat_pattern'),
          );
          params.push({
            name: id ? id.text : p.text,
            annotation: toExpr(p.childForFieldName('type')),
            default: null,
            variadic,
          });
          break;
        }
        case 'default_parameter':
        case 'typed_default_parameter': {
          const n = p.childForFieldName('name');
          const t = p.childForFieldName('type');
          params.push({
            name: n ? n.text : '',
            annotation: t ? toExpr(t) : null,
            default: toExpr(p.childForFieldName('value')),
            variadic: false,
          });
          break;
        }
        case 'list_splat_pattern':
        case 'dictionary_splat_pattern':
          params.push({
            name: p.text.replace(/^\*+/, ''),
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
    for (const s of block.namedChildren) {
      if (!s) continue;
      if (s.type === 'raise_statement' || s.type === 'return_statement') return true;
    }
    return false;
  }

  function visitFunction(node: Node, decorators: Node[], ctx: ScopeCtx): void {
    const nameNode = node.childForFieldName('name');
    if (!nameNode) return;
    const name = nameNode.text;
    const qualname = ctx.childPrefix + name;
    const fn: FuncFacts = {
      name,
      qualname,
      scope: ctx.qualname,
      line: pos(nameNode).line,
      col: pos(node).col,
      endLine: node.endPosition.row + 1,
      isAsync: node.text.startsWith('async'),
      params: visitParams(node.childForFieldName('parameters')),
      returnType: node.childForFieldName('return_type')
        ? toExpr(node.childForFieldName('return_type'))
        : null,
      decorators: decorators.map((d) => {
        const exprNode = d.namedChildren.find((c) => c && c.type !== 'comment') ?? null;
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
    const body = node.childForFieldName('body');
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
    function innermost(index: number): (typeof bodies)[number] | null {
      let found: (typeof bodies)[number] | null = null;
      for (const b of sorted) {
        if (b.start > index) break;
        if (index < b.end) found = b; // later starts are nested deeper
      }
      return found;
    }
    for (const b of bodies) {
      const text = src.slice(b.start, b.end);
      const mentions = new Set(text.match(IDENTIFIER) ?? []);
      if (STATUS_401_403.test(text)) {
        for (const m of text.match(STATUS_401_403_ALL) ?? []) mentions.add(m);
      }
      b.fn.mentions = [...mentions];
      if (RESPONSE_CALL.test(text)) {
        for (const c of b.body.descendantsOfType('call')) {
          if (!c) continue;
          const f = c.childForFieldName('function');
          if (f && /Response$|^abort$|\.abort$/.test(f.text) && innermost(c.startIndex) === b)
            b.fn.responseCalls.push(toExpr(c));
        }
      }
    }
    const statements = root.descendantsOfType([
      'raise_statement',
      'return_statement',
      'if_statement',
      'elif_clause',
    ]);
    for (const n of statements) {
      if (!n) continue;
      const b = innermost(n.startIndex);
      if (!b) continue;
      const fn = b.fn;
      switch (n.type) {
        case 'raise_statement': {
          const e = n.namedChildren.find((c) => c && c.type !== 'comment');
          if (e) fn.raises.push({ expr: toExpr(e), line: pos(n).line });
          break;
        }
        case 'return_statement': {
          const e = n.namedChildren.find((c) => c && c.type !== 'comment');
          if (e) fn.returns.push({ value: toExpr(e), line: pos(n).line });
          break;
        }
        default: {
          const c = n.childForFieldName('condition');
          if (c && blockRaisesOrReturns(n.childForFieldName('consequence')))
            fn.guards.push({ condition: headerText(c), line: pos(c).line });
        }
      }
    }
  }

  function visitClass(node: Node, decorators: Node[], ctx: ScopeCtx): void {
    void decorators;
    const nameNode = node.childForFieldName('name');
    if (!nameNode) return;
    const name = nameNode.text;
    const qualname = ctx.childPrefix + name;
    const bases: Expr[] = [];
    const sup = node.childForFieldName('superclasses');
    if (sup) {
      for (const b of sup.namedChildren) {
        if (!b || b.type === 'keyword_argument' || b.type === 'comment') continue;
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
    const body = node.childForFieldName('body');
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
    if (left.type === 'identifier' || left.type === 'attribute')
      return [left.text.replace(/\s+/g, '')];
    if (
      left.type === 'pattern_list' ||
      left.type === 'tuple_pattern' ||
      left.type === 'list_pattern'
    )
      return [];
    return [];
  }

  function visitAssignment(node: Node, ctx: ScopeCtx): void {
    const left = node.childForFieldName('left');
    let right = node.childForFieldName('right');
    if (left && ctx.classFacts && left.type === 'identifier') ctx.classFacts.fields.push(left.text);
    if (!left || !right) return;
    // Chained `a = b = FastAPI()`: the right side is another assignment.
    const targets: Node[] = [left];
    while (right && right.type === 'assignment') {
      const l = right.childForFieldName('left');
      if (l) targets.push(l);
      right = right.childForFieldName('right');
    }
    if (!right) return;
    const value = toExpr(right);
    for (const t of targets) {
      if (t.type === 'subscript') {
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
    switch (node.type) {
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
        const decorators = node.namedChildren.filter(
          (c): c is Node => !!c && c.type === 'decorator',
        );
        const def = node.childForFieldName('definition');
        if (def?.type === 'function_definition') visitFunction(def, decorators, ctx);
        else if (def?.type === 'class_definition') visitClass(def, decorators, ctx);
        return;
      }
      case 'expression_statement': {
        for (const e of node.namedChildren) {
          if (!e) continue;
          if (e.type === 'assignment') visitAssignment(e, ctx);
          else if (e.type === 'call') {
            const call = toExpr(e);
            if (call.k === 'call')
              facts.calls.push({ call, scope: ctx.qualname, ...pos(e), cond: condText(ctx) });
          } else if (e.type === 'await') {
            const inner = e.namedChildren.find((c) => c && c.type === 'call');
            if (inner) {
              const call = toExpr(inner);
              if (call.k === 'call')
                facts.calls.push({ call, scope: ctx.qualname, ...pos(inner), cond: condText(ctx) });
            }
          }
        }
        return;
      }
      case 'if_statement': {
        const c = node.childForFieldName('condition');
        const cText = headerText(c);
        const cons = node.childForFieldName('consequence');
        if (cons) visitBlock(cons, { ...ctx, cond: [...ctx.cond, `if ${cText}`] });
        for (const alt of node.childrenForFieldName('alternative')) {
          if (!alt) continue;
          if (alt.type === 'elif_clause') {
            const ec = headerText(alt.childForFieldName('condition'));
            const b = alt.childForFieldName('consequence');
            if (b) visitBlock(b, { ...ctx, cond: [...ctx.cond, `elif ${ec}`] });
          } else if (alt.type === 'else_clause') {
            const b = alt.childForFieldName('body');
            if (b) visitBlock(b, { ...ctx, cond: [...ctx.cond, 'else'] });
          }
        }
        return;
      }
      case 'try_statement': {
        const body = node.childForFieldName('body');
        if (body) visitBlock(body, { ...ctx, cond: [...ctx.cond, 'try'] });
        for (const c of node.namedChildren) {
          if (!c) continue;
          if (c.type === 'except_clause' || c.type === 'except_group_clause') {
            const typeNode = c.namedChildren.find(
              (x) => x && x.type !== 'block' && x.type !== 'comment',
            );
            const label = typeNode ? `except ${headerText(typeNode)}` : 'except';
            const b = c.namedChildren.find((x) => x && x.type === 'block');
            if (b) visitBlock(b, { ...ctx, cond: [...ctx.cond, label] });
          } else if (c.type === 'else_clause') {
            const b = c.childForFieldName('body');
            if (b) visitBlock(b, { ...ctx, cond: [...ctx.cond, 'try-else'] });
          } else if (c.type === 'finally_clause') {
            const b = c.namedChildren.find((x) => x && x.type === 'block');
            if (b) visitBlock(b, ctx);
          }
        }
        return;
      }
      case 'for_statement': {
        const left = node.childForFieldName('left');
        const right = node.childForFieldName('right');
        if (left && right && left.type === 'identifier') {
          facts.assigns.push({
            target: left.text,
            value: toExpr(right),
            scope: ctx.qualname,
            line: pos(node).line,
            cond: condText(ctx),
            iter: true,
          });
        }
        const body = node.childForFieldName('body');
        if (body) visitBlock(body, ctx);
        return;
      }
      case 'with_statement':
      case 'while_statement': {
        const body = node.childForFieldName('body');
        if (body) visitBlock(body, ctx);
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
    if (ctx.depth > MAX_BLOCK_DEPTH) return;
    const deeper = { ...ctx, depth: ctx.depth + 1 };
    for (const s of node.namedChildren) if (s) visitStatement(s, deeper);
  }

  visitBlock(root, moduleCtx);
  collectBodyFacts();

  // Comments and error counts in one cheap pass over the whole tree.
  if (root.hasError) facts.parseErrors = root.descendantsOfType('ERROR').length || 1;
  // Only our own comments matter; most files have none, so skip the tree walk for them.
  const mayHaveOurComments = source === undefined || source.includes('fastapi-lens');
  for (const c of mayHaveOurComments ? root.descendantsOfType('comment') : []) {
    if (!c) continue;
    const text = c.text;
    if (text.includes('fastapi-lens')) facts.comments.push({ line: pos(c).line, text });
  }
  if (!facts.fastapiRelated) {
    facts.fastapiRelated = facts.imports.some((i) => /^(fastapi|starlette)\b/.test(i.module));
  }
  return facts;
}
