import type { Node } from 'web-tree-sitter';
import type { FileContext } from '../api';
import {
  callsNamed,
  enclosingDef,
  importsAny,
  isFalse,
  keywordNode,
  lastAssign,
  qualify,
  stringValue,
  unparen,
  type CallSite,
} from './util';

/** Shared by JWT001 and JWT002: calls into PyJWT and python-jose, resolved through imports. */

export type JwtLib = 'PyJWT' | 'python-jose';

export interface JwtCall {
  site: CallSite;
  lib: JwtLib;
  /** `decode`, `encode`, `get_unverified_claims`, `get_unverified_header`. */
  fn: string;
}

const FNS = ['decode', 'encode', 'get_unverified_claims', 'get_unverified_header'];
const MEMO = new WeakMap<FileContext, JwtCall[]>();

export function jwtCalls(ctx: FileContext): JwtCall[] {
  const memo = MEMO.get(ctx);
  if (memo) return memo;
  const out: JwtCall[] = [];
  MEMO.set(ctx, out);
  if (!importsAny(ctx, ['jwt', 'jose'])) return out;
  for (const site of callsNamed(ctx, FNS)) {
    const q = qualify(ctx, site.callee);
    if (!q) continue;
    const m = /^(jose\.jwt|jwt|jwt\.api_jwt)\.(\w+)$/.exec(q);
    if (!m || !FNS.includes(m[2])) continue;
    out.push({ site, lib: m[1] === 'jose.jwt' ? 'python-jose' : 'PyJWT', fn: m[2] });
  }
  return out;
}

/** `{"verify_signature": False}` / `dict(verify_signature=False)`: the option nodes set to False. */
function falseOptions(ctx: FileContext, value: Node | null, scope: string): Set<string> {
  const off = new Set<string>();
  const v = unparen(value);
  if (!v) return off;
  if (v.type === 'dictionary') {
    for (const pair of v.namedChildren) {
      if (!pair || pair.type !== 'pair') continue;
      const key = stringValue(pair.childForFieldName('key'));
      if (key && isFalse(pair.childForFieldName('value'))) off.add(key);
    }
  } else if (v.type === 'call' && v.childForFieldName('function')?.text === 'dict') {
    const args = v.childForFieldName('arguments');
    for (const a of args?.namedChildren ?? []) {
      if (a?.type !== 'keyword_argument') continue;
      const name = a.childForFieldName('name')?.text;
      if (name && isFalse(a.childForFieldName('value'))) off.add(name);
    }
  } else if (v.type === 'identifier') {
    // `options = {"verify_signature": False}` earlier in the function or module.
    const a = lastAssign(ctx, v.text, scope, v.startPosition.row + 1);
    const text =
      a && a.value.k === 'other' ? a.value.text : a?.value.k === 'call' ? a.value.text : '';
    const re = /["']?(verify_\w+)["']?\s*[:=]\s*False\b/g;
    for (let m = re.exec(text); m; m = re.exec(text)) off.add(m[1]);
  }
  return off;
}

export interface DecodeChecks {
  /** The argument that switches signature verification off, if any. */
  unverified: Node | null;
  /** The `options=` argument that switches expiry checks off, if any. */
  expiryOff: Node | null;
}

export function decodeChecks(ctx: FileContext, call: Node): DecodeChecks {
  const scope = ctx.enclosingFunction(call) ?? '';
  const verify = keywordNode(call, 'verify');
  if (verify && isFalse(verify.childForFieldName('value')))
    return { unverified: verify, expiryOff: null };
  const options = keywordNode(call, 'options');
  if (!options) return { unverified: null, expiryOff: null };
  const off = falseOptions(ctx, options.childForFieldName('value'), scope);
  return {
    unverified: off.has('verify_signature') ? options : null,
    expiryOff: off.has('verify_exp') ? options : null,
  };
}

/**
 * Peek-then-verify: reading claims unverified (to pick a key by `iss`/`kid`) is fine when the
 * same function then verifies the token with `jwt.decode` and a key.
 */
export function verifiedInSameFunction(ctx: FileContext, call: Node): boolean {
  const def = enclosingDef(ctx, call);
  if (!def) return false;
  return (verifyingDecodes(ctx).get(def.id) ?? []).some((n) => n.id !== call.id);
}

const VERIFYING = new WeakMap<FileContext, Map<number, Node[]>>();

/**
 * The `decode` calls that verify, by enclosing function (computed once per file: a file with
 * thousands of unverified reads would otherwise look at every call for each of them).
 */
function verifyingDecodes(ctx: FileContext): Map<number, Node[]> {
  let byDef = VERIFYING.get(ctx);
  if (byDef) return byDef;
  byDef = new Map();
  VERIFYING.set(ctx, byDef);
  for (const c of jwtCalls(ctx)) {
    if (c.fn !== 'decode') continue;
    const d = enclosingDef(ctx, c.site.node);
    if (!d || decodeChecks(ctx, c.site.node).unverified) continue;
    const list = byDef.get(d.id);
    if (list) list.push(c.site.node);
    else byDef.set(d.id, [c.site.node]);
  }
  return byDef;
}
