import type { Node } from 'web-tree-sitter';
import type { TextEdit } from '../../server/src/engine/findings';
import type { FileContext, FileRule } from '../api';
import { positionalArgs } from '../api';
import {
  appendArgs,
  callsNamed,
  fix,
  hasSplat,
  isFalse,
  isTrue,
  keywordNode,
  lastAssign,
  qualifyNode,
  replaceNode,
  snippet,
  stringValue,
  unparen,
  words,
} from './util';

const SESSION_WORDS = /session|token|jwt|refresh|access|auth(?!or)|remember|login|credential/;

/** The cookie name shown in messages when it is session-like (literal or constant), else null. */
function sessionLike(ctx: FileContext, node: Node | null): string | null {
  const n = unparen(node);
  if (!n) return null;
  const literal = stringValue(n);
  const candidates: string[] = [];
  if (literal !== null) candidates.push(literal);
  else if (n.type === 'identifier' || n.type === 'attribute') {
    candidates.push(n.text);
    if (n.type === 'identifier') {
      // `COOKIE_NAME = "session"` in this module or function.
      const a = lastAssign(ctx, n.text, ctx.enclosingFunction(n) ?? '', n.startPosition.row + 1);
      if (a?.value.k === 'str') candidates.push(a.value.v);
    }
  } else return null;
  for (const text of candidates) {
    const lower = text.toLowerCase();
    // CSRF cookies are read by JavaScript on purpose (double-submit pattern).
    if (/csrf|xsrf/.test(lower)) return null;
  }
  const hit = candidates.some(
    (text) => SESSION_WORDS.test(text.toLowerCase()) || words(text).includes('sid'),
  );
  if (!hit) return null;
  return literal !== null ? JSON.stringify(literal) : `\`${n.text}\``;
}

type Flag = { node: Node | null; state: 'missing' | 'false' | 'true' | 'other' };

function flag(call: Node, name: string): Flag {
  const kw = keywordNode(call, name);
  if (!kw) return { node: null, state: 'missing' };
  const v = kw.childForFieldName('value');
  return { node: kw, state: isTrue(v) ? 'true' : isFalse(v) ? 'false' : 'other' };
}

/** COOKIE001: session-like cookies without HttpOnly / Secure. */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'COOKIE001',
    slug: 'insecure-cookie',
    title: 'Session cookie without HttpOnly or Secure',
    defaultSeverity: 'warning',
    cwe: [1004, 614],
    owasp: ['API8:2023'],
    fix: 'safe',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports `response.set_cookie(...)` for cookies whose name (a literal, or the constant holding it) looks like a session or credential (`session`, `token`, `auth`, `jwt`, `sid`, `refresh`, `access`, `remember`, `login`) when `httponly=True` or `secure=True` is missing or `False`, or when `samesite="none"` is set without `secure=True`. A value read from settings (`secure=settings.COOKIE_SECURE`) counts as set. Starlette\'s default `samesite="lax"` is fine. CSRF cookies (`csrftoken`, `XSRF-TOKEN`) are skipped: JavaScript must read them. Also reports `SessionMiddleware` without `https_only=True`, whose session cookie is otherwise sent over plain HTTP.',
      whyIsThisBad:
        'Without `HttpOnly` any XSS on the site can read the session cookie and hijack the account from anywhere; without `Secure` the browser also sends it over plain HTTP, where anyone on the network path can copy it. `SameSite=None` without `Secure` is rejected by modern browsers and otherwise sends the cookie on cross-site requests.',
      example: `response.set_cookie("access_token", token)`,
      useInstead: `response.set_cookie("access_token", token, httponly=True, secure=True, samesite="lax")`,
      fixSafety:
        'The fix adds the missing `httponly=True` / `secure=True` (or `https_only=True`): safe, marked so when only adding. When a flag is explicitly `False`, the fix turns it to `True` and is marked unsafe, since someone wrote `False` on purpose (for example for local HTTP development, where browsers still accept `Secure` cookies on `localhost`).',
    },
  },
  checkFile(ctx) {
    if (!/set_cookie|SessionMiddleware/.test(ctx.source)) return;
    for (const site of callsNamed(ctx, ['set_cookie'])) {
      const call = site.node;
      if (site.callee === 'set_cookie' || hasSplat(call)) continue;
      const nameNode =
        keywordNode(call, 'key')?.childForFieldName('value') ?? positionalArgs(call)[0] ?? null;
      const cookie = sessionLike(ctx, nameNode);
      if (!cookie) continue;
      const httponly = flag(call, 'httponly');
      const secure = flag(call, 'secure');
      const samesite = stringValue(
        keywordNode(call, 'samesite')?.childForFieldName('value') ?? null,
      );
      const problems: string[] = [];
      const add: string[] = [];
      const edits: TextEdit[] = [];
      let unsafe = false;
      const sameSiteNone = samesite?.toLowerCase() === 'none';
      for (const [name, f] of [
        ['httponly', httponly],
        ['secure', secure],
      ] as const) {
        if (f.state === 'missing') {
          problems.push(
            name === 'secure' && sameSiteNone
              ? '`samesite="none"` but no `secure=True`'
              : `no \`${name}=True\``,
          );
          add.push(`${name}=True`);
        } else if (f.state === 'false') {
          problems.push(`\`${name}=False\``);
          const v = f.node?.childForFieldName('value');
          if (v) edits.push(replaceNode(ctx, v, 'True'));
          unsafe = true;
        }
      }
      if (!problems.length) continue;
      if (add.length) {
        const e = appendArgs(ctx, call, add.join(', '));
        if (e) edits.push(e);
      }
      ctx.report({
        node: call,
        message: `Cookie ${cookie} is set with ${problems.join(' and ')}: ${
          httponly.state === 'true' || httponly.state === 'other'
            ? 'it is also sent over plain HTTP'
            : 'scripts injected into the page can steal it'
        }.`,
        fix: edits.length
          ? fix(
              `Set ${[...add, ...(unsafe ? ['the False flags to True'] : [])].join(', ')}`,
              unsafe ? 'unsafe' : 'safe',
              edits,
            )
          : undefined,
      });
    }

    // `app.add_middleware(SessionMiddleware, secret_key=...)` without `https_only=True`.
    for (const site of callsNamed(ctx, ['add_middleware', 'Middleware'])) {
      const call = site.node;
      const cls = positionalArgs(call)[0] ?? null;
      const q = qualifyNode(ctx, cls);
      if (!q || !/^(starlette|fastapi)(\.[\w.]+)?\.SessionMiddleware$/.test(q)) continue;
      if (hasSplat(call)) continue;
      const https = flag(call, 'https_only');
      if (https.state === 'true' || https.state === 'other') continue;
      const edit =
        https.state === 'false'
          ? replaceNode(ctx, https.node!.childForFieldName('value')!, 'True')
          : appendArgs(ctx, call, 'https_only=True');
      ctx.report({
        node: call,
        message: `\`${snippet(cls)}\` without \`https_only=True\`: the session cookie is also sent over plain HTTP, where it can be intercepted.`,
        fix: edit
          ? fix('Set https_only=True', https.state === 'false' ? 'unsafe' : 'safe', [edit])
          : undefined,
      });
    }
  },
};
