import type { Node } from 'web-tree-sitter';
import type { Expr } from '../../server/src/engine/facts';
import type { FileContext } from '../api';
import { positionalArgs } from '../api';
import {
  callsNamed,
  importsAny,
  isTrue,
  keywordNode,
  lastAssign,
  qualify,
  qualifyNode,
  snippet,
  stringValue,
  unparen,
} from './util';

/** Shared by CORS001 and CORS002: CORS middleware configurations that accept any origin. */

export interface CorsWildcard {
  /** The `allow_origins=` / `allow_origin_regex=` keyword argument. */
  node: Node;
  kind: 'origins' | 'regex';
  credentials: boolean;
  /** How the wildcard was written, for messages. */
  shown: string;
}

const MEMO = new WeakMap<FileContext, CorsWildcard[]>();

function isCorsClass(ctx: FileContext, node: Node | null): boolean {
  const q = qualifyNode(ctx, node);
  return q !== null && /^(fastapi|starlette)(\.[\w.]+)?\.CORSMiddleware$/.test(q);
}

function exprHasStar(e: Expr): boolean {
  if (e.k === 'str') return e.v === '*';
  if (e.k === 'list') return e.items.some((i) => i.k === 'str' && i.v === '*');
  return false;
}

/** `["*"]`, `"*"`, `("*",)`, or a name assigned one of those in this module/function. */
function originsWildcard(ctx: FileContext, value: Node, scope: string): boolean {
  const v = unparen(value);
  if (!v) return false;
  if (v.type === 'string' || v.type === 'concatenated_string') return stringValue(v) === '*';
  if (v.type === 'list' || v.type === 'tuple' || v.type === 'set')
    return v.namedChildren.some((c) => !!c && stringValue(c) === '*');
  if (v.type === 'identifier') {
    const a = lastAssign(ctx, v.text, scope, v.startPosition.row + 1);
    return a !== null && exprHasStar(a.value);
  }
  return false;
}

/** Regexes that accept every origin: `.*`, `.+`, `^.*$`, `https?://.*`, `(.*)`. */
export function matchesEverything(re: string): boolean {
  let r = re.trim().replace(/^\^/, '').replace(/\$$/, '');
  // An optional scheme prefix (`https?://`, `(http|https)://`, `http`) in front of a catch-all.
  r = r.replace(
    /^(?:https?\??|\(https?\??\)|\(https?\|https?\))?(?::|\\:)?(?:\/\/|\\\/\\\/)?/i,
    '',
  );
  return /^\(?(?:\.\*|\.\+|\.\*\?|\.\+\?|\[\^\/\]\*|\[\^\/\]\+|\\S\*|\\S\+)\)?$/.test(r);
}

export function corsWildcards(ctx: FileContext): CorsWildcard[] {
  const memo = MEMO.get(ctx);
  if (memo) return memo;
  const out: CorsWildcard[] = [];
  MEMO.set(ctx, out);
  // Test apps are never deployed.
  if (ctx.facts.test || !importsAny(ctx, ['fastapi', 'starlette'])) return out;
  for (const site of callsNamed(ctx, ['add_middleware', 'Middleware', 'CORSMiddleware'])) {
    const call = site.node;
    let isCors: boolean;
    if (site.name === 'add_middleware') {
      isCors = isCorsClass(ctx, positionalArgs(call)[0] ?? null);
    } else if (site.name === 'Middleware') {
      const q = qualify(ctx, site.callee);
      isCors =
        q !== null &&
        /^(fastapi|starlette)(\.[\w.]+)?\.Middleware$/.test(q) &&
        isCorsClass(ctx, positionalArgs(call)[0] ?? null);
    } else {
      isCors = isCorsClass(ctx, call.childForFieldName('function'));
    }
    if (!isCors) continue;
    const scope = ctx.enclosingFunction(call) ?? '';
    const cred = keywordNode(call, 'allow_credentials');
    const credentials = isTrue(cred?.childForFieldName('value') ?? null);
    const origins = keywordNode(call, 'allow_origins');
    const originsValue = origins?.childForFieldName('value') ?? null;
    if (origins && originsValue && originsWildcard(ctx, originsValue, scope)) {
      out.push({ node: origins, kind: 'origins', credentials, shown: snippet(originsValue) });
      continue;
    }
    const regex = keywordNode(call, 'allow_origin_regex');
    const re = stringValue(regex?.childForFieldName('value') ?? null);
    if (regex && re !== null && matchesEverything(re))
      out.push({ node: regex, kind: 'regex', credentials, shown: JSON.stringify(re) });
  }
  return out;
}
