import type { Node } from 'web-tree-sitter';
import type { FileContext, FileRule } from '../api';
import { positionalArgs } from '../api';
import {
  calleeLastName,
  callsNamed,
  compact,
  decoratorOf,
  dottedText,
  enclosingDef,
  isRouteHandler,
  keywordNode,
  qualify,
  snippet,
} from './util';

/**
 * Exceptions whose text is internal: catch-alls, and the families raised by databases,
 * drivers, the OS, HTTP clients and programming errors. Exception types an application
 * raises with a message for the user (`ValueError`, `UserNotFound`, `HTTPException`,
 * `ValidationError`) are not.
 */
const INTERNAL =
  /^(Exception|BaseException|\w*(SQLAlchemy|Integrity|Operational|Database|DB|Programming|Interface|Data|Driver|Psycopg|PyMongo|Mongo|Redis|Connection|Connect|Timeout|OS|IO|Runtime|Type|Attribute|Key|Index|Lookup|Name|Assertion|Unicode|Request|HTTP|HTTPStatus|Client|Boto|BotoCore|Transport|Protocol|Socket|SSL|Environment|Permission|FileNotFound|Subprocess|CalledProcess|Asyncpg|Postgres|MySQL|Sqlite|Decode|JSONDecode|Recursion|Memory|Overflow|ZeroDivision|Import|NotImplemented)(Error|Exception))$/;
const CLIENT_FACING = new Set([
  'HTTPException',
  'WebSocketException',
  'RequestValidationError',
  'ValidationError',
  'WebSocketRequestValidationError',
  'ResponseValidationError',
]);

/** Attributes of a caught exception meant for the client (`exc.detail`, `exc.status_code`). */
const SAFE_ATTRS = new Set(['detail', 'status_code', 'headers', 'code', 'reason', 'title']);

function isInternalType(text: string): boolean {
  const last = compact(text).split('.').pop() ?? '';
  if (CLIENT_FACING.has(last)) return false;
  return INTERNAL.test(last);
}

function typeNames(node: Node | null): string[] {
  if (!node) return [];
  if (node.type === 'tuple' || node.type === 'parenthesized_expression' || node.type === 'list')
    return node.namedChildren.flatMap((c) => (c ? typeNames(c) : []));
  return [node.text];
}

/** `var`, or `var.orig` / `var.args` (not `var.detail`), as the root of an expression. */
function rootedAt(node: Node | null, v: string): boolean {
  if (!node) return false;
  if (node.type === 'identifier') return node.text === v;
  if (node.type === 'attribute') {
    let base: Node = node;
    let first = '';
    while (base.type === 'attribute') {
      first = base.childForFieldName('attribute')?.text ?? '';
      const obj = base.childForFieldName('object');
      if (!obj) return false;
      base = obj;
    }
    return base.type === 'identifier' && base.text === v && !SAFE_ATTRS.has(first);
  }
  return false;
}

const TRACEBACK =
  /^traceback\.(format_exc|format_exception|format_exception_only|format_tb|format_stack|extract_tb)$/;

/** The sub-expression that puts exception text into a value, or null. */
function leakIn(ctx: FileContext, expr: Node, v: string | null): Node | null {
  const stack: Node[] = [expr];
  let budget = 300;
  while (stack.length && budget-- > 0) {
    const n = stack.pop() as Node;
    switch (n.type) {
      case 'call': {
        const fn = n.childForFieldName('function');
        const fnText = fn ? compact(fn.text) : '';
        const args = positionalArgs(n);
        if (
          v &&
          (fnText === 'str' || fnText === 'repr' || fnText === 'format') &&
          rootedAt(args[0] ?? null, v)
        )
          return n;
        if (
          v &&
          fn?.type === 'attribute' &&
          fn.childForFieldName('attribute')?.text === 'format' &&
          args.some((a) => rootedAt(a, v))
        )
          return n;
        if (TRACEBACK.test(qualify(ctx, fnText) ?? '')) return n;
        break;
      }
      case 'interpolation': {
        const e = n.childForFieldName('expression');
        if (v && rootedAt(e, v)) return n;
        break;
      }
      case 'attribute':
        if (
          v &&
          n.childForFieldName('attribute')?.text === 'args' &&
          rootedAt(n.childForFieldName('object'), v)
        )
          return n;
        break;
      case 'binary_operator':
        if (
          v &&
          n.childForFieldName('operator')?.type === '%' &&
          rootedAt(n.childForFieldName('right'), v)
        )
          return n;
        break;
      case 'lambda':
      case 'function_definition':
        continue;
      default:
        break;
    }
    for (const c of n.namedChildren) if (c) stack.push(c);
  }
  return null;
}

interface Region {
  body: Node;
  variable: string | null;
  /** For messages: `a caught \`Exception\``, `the exception handler for \`Exception\``. */
  origin: string;
  handler: boolean;
}

/** LEAK001: internal exception text sent to the client. */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'LEAK001',
    slug: 'exception-detail-leak',
    title: 'Exception details leaked to the client',
    defaultSeverity: 'warning',
    cwe: [209],
    owasp: ['API8:2023'],
    fix: 'none',
    exposureSensitive: true,
    docs: {
      whatItDoes:
        'Reports exception text sent in a response: `str(e)`, `repr(e)`, `f"...{e}"`, `e.args`, `"%s" % e`, `"{}".format(e)` (also `str(e.orig)`) and `traceback.format_exc()` placed in `HTTPException(detail=...)`, `WebSocketException(reason=...)`, a response object (`JSONResponse({"error": str(e)})`), a WebSocket `send_text`/`send_json`, or returned from a path operation, when `e` was caught as a catch-all (`except Exception`, bare `except`) or as an internal error (database, driver, OS, HTTP client and programming errors: `SQLAlchemyError`, `IntegrityError`, `OSError`, `httpx.HTTPError`, `KeyError`, ...), or is the exception of an exception handler registered for such a type (`@app.exception_handler(Exception)`, `add_exception_handler(Exception, ...)`, status 500). Not reported: exceptions the application raises with a message meant for the user (`except ValueError as e`, custom domain errors), validation errors and `HTTPException` (`exc.errors()`, `exc.detail`, `str(exc)` of a `RequestValidationError` are client-facing by design), and plain functions returning the text (logging helpers).',
      whyIsThisBad:
        'Internal error messages describe the system: SQL statements and table names, file paths, hostnames and ports of internal services, library versions, sometimes data from other users (a unique-constraint violation quotes the duplicate value). Tracebacks add source code. Attackers use this to fingerprint the stack and tune injection payloads.',
      example: `@router.post("/orders")
def create_order(order: OrderIn, db: Session = Depends(get_db)):
    try:
        return crud.create_order(db, order)
    except Exception as e:
        raise HTTPException(status_code=500, detail=str(e))`,
      useInstead: `@router.post("/orders")
def create_order(order: OrderIn, db: Session = Depends(get_db)):
    try:
        return crud.create_order(db, order)
    except Exception:
        logger.exception("creating order failed")
        raise HTTPException(status_code=500, detail="Could not create the order")`,
      fixSafety: 'No automatic fix: the message for the client has to be written.',
    },
  },
  checkFile(ctx) {
    if (!/\bexcept\b|exception_handler/.test(ctx.source)) return;
    if (
      !/HTTPException|Response|[Ww]eb[Ss]ocket|send_(text|json|bytes)|\.(get|post|put|patch|delete|api_route)\(/.test(
        ctx.source,
      )
    )
      return;
    const regions: Region[] = [];

    for (const ex of ctx.nodesOfType('except_clause')) {
      const body = ex.namedChildren.find((c) => c?.type === 'block') ?? null;
      if (!body) continue;
      const value = ex.childForFieldName('value');
      let typeNode: Node | null = value;
      let variable: string | null = null;
      if (value?.type === 'as_pattern') {
        typeNode = value.namedChildren[0] ?? null;
        const alias = value.childForFieldName('alias');
        variable =
          alias?.namedChildren.find((c) => c?.type === 'identifier')?.text ?? alias?.text ?? null;
      }
      const types = typeNames(typeNode);
      const internal = types.filter(isInternalType);
      if (types.length && !internal.length) continue;
      regions.push({
        body,
        variable,
        origin: types.length ? `a caught \`${compact(internal[0])}\`` : 'a bare `except`',
        handler: false,
      });
    }

    // Exception handlers: `@app.exception_handler(Exception)` and `add_exception_handler(...)`.
    const handlerDefs: { def: Node; type: string }[] = [];
    for (const site of callsNamed(ctx, ['exception_handler'])) {
      const dec = decoratorOf(ctx, site.node);
      if (!dec) continue;
      const def = dec.parent?.childForFieldName('definition');
      if (def?.type === 'function_definition')
        handlerDefs.push({ def, type: positionalArgs(site.node)[0]?.text ?? '' });
    }
    const registered = callsNamed(ctx, ['add_exception_handler']);
    if (registered.length) {
      const defs = ctx.nodesOfType('function_definition');
      for (const site of registered) {
        const [typeArg, fnArg] = positionalArgs(site.node);
        if (!typeArg || fnArg?.type !== 'identifier') continue;
        const def = defs.find((d) => d.childForFieldName('name')?.text === fnArg.text);
        if (def) handlerDefs.push({ def, type: typeArg.text });
      }
    }
    for (const { def, type } of handlerDefs) {
      const status = /^\d+$/.test(type) ? Number(type) : null;
      if (status !== null ? status < 500 : !isInternalType(type)) continue;
      const params =
        def.childForFieldName('parameters')?.namedChildren.filter((p): p is Node => !!p) ?? [];
      const exc = params[1];
      const name =
        exc?.type === 'identifier'
          ? exc.text
          : (exc?.childForFieldName('name')?.text ??
            exc?.namedChildren.find((c) => c?.type === 'identifier')?.text ??
            null);
      const body = def.childForFieldName('body');
      if (body)
        regions.push({
          body,
          variable: name,
          origin: `the exception handler for \`${compact(type)}\``,
          handler: true,
        });
    }

    const reported = new Set<number>();
    const report = (leak: Node, where: string, r: Region): void => {
      if (reported.has(leak.id)) return;
      reported.add(leak.id);
      const origin = r.origin;
      ctx.report({
        node: leak,
        // An exception handler answers for every route, public ones included, but it is not a
        // route itself, so the scan would weigh it as "outside any route" (one level lower).
        // Raising the occurrence by one level makes it land on the rule's default.
        severity: r.handler ? 'error' : undefined,
        message: `\`${snippet(leak, 40)}\` from ${origin} is sent to the client in ${where}: internal error text (SQL, paths, hosts) leaks to callers.`,
      });
    };

    for (const r of regions) {
      // Calls first: a leak inside `return JSONResponse(...)` is named after the response.
      for (const n of ctx.nodesIn(r.body, 'call')) {
        const fn = n.childForFieldName('function');
        if (!fn) continue;
        // The last name from the source, the whole callee only for the few names that count:
        // in a chain of calls each callee is the chain before it.
        const last = calleeLastName(ctx, fn);
        let arg: Node | null = null;
        let where = '';
        if (last === 'HTTPException' || last === 'WebSocketException') {
          const q = qualify(ctx, dottedText(ctx, fn) ?? '');
          if (!q || !/^(fastapi|starlette)\b/.test(q)) continue;
          const kwName = last === 'HTTPException' ? 'detail' : 'reason';
          arg = keywordNode(n, kwName)?.childForFieldName('value') ?? positionalArgs(n)[1] ?? null;
          where = `the ${last} ${kwName}`;
        } else if (last.endsWith('Response')) {
          const q = qualify(ctx, dottedText(ctx, fn) ?? '');
          if (!q || !/^(fastapi|starlette)\b/.test(q)) continue;
          arg =
            keywordNode(n, 'content')?.childForFieldName('value') ?? positionalArgs(n)[0] ?? null;
          where = `the \`${last}\` body`;
        } else if (/^(send_text|send_json|send_bytes)$/.test(last) && fn.type === 'attribute') {
          arg = positionalArgs(n)[0] ?? null;
          where = 'a WebSocket message';
        }
        if (!arg) continue;
        const leak = leakIn(ctx, arg, r.variable);
        if (leak) report(leak, where, r);
      }
      for (const n of ctx.nodesIn(r.body, 'return_statement')) {
        const value = n.namedChildren.find((c) => c && c.type !== 'comment');
        if (!value) continue;
        const def = enclosingDef(ctx, n);
        if (!r.handler && !(def && isRouteHandler(def))) continue;
        const leak = leakIn(ctx, value, r.variable);
        if (leak)
          report(leak, r.handler ? 'the error response' : 'the response of this endpoint', r);
      }
    }
  },
};
