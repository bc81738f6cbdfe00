import type { Node } from 'web-tree-sitter';
import type { FileRule } from '../api';
import { positionalArgs } from '../api';
import { decodeChecks, jwtCalls } from './jwt';
import { hasSplat, keywordNode, snippet, stringValue, unparen } from './util';

/** `"none"` in an algorithm list or as the algorithm. */
function namesNone(node: Node | null): boolean {
  const v = unparen(node);
  if (!v) return false;
  const s = stringValue(v);
  if (s !== null) return s.toLowerCase() === 'none';
  if (v.type === 'list' || v.type === 'tuple' || v.type === 'set')
    return v.namedChildren.some((c) => !!c && (stringValue(c) ?? '').toLowerCase() === 'none');
  return false;
}

/** `algorithms=[header["alg"]]`: the token chooses its own algorithm. */
function fromTokenHeader(node: Node | null): boolean {
  if (!node) return false;
  return /\[\s*['"]alg['"]\s*\]|get\(\s*['"]alg['"]|get_unverified_header/.test(node.text);
}

/** JWT002: the verification algorithm is not fixed by the server. */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'JWT002',
    slug: 'jwt-algorithm-not-pinned',
    title: 'JWT algorithm not pinned',
    defaultSeverity: 'warning',
    cwe: [327, 347],
    owasp: ['API2:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports PyJWT and python-jose `jwt.decode(...)` calls without `algorithms=` (keyword or third positional argument) at warning, and at error: an algorithm list containing `"none"`, an algorithm list taken from the token\'s own header (`algorithms=[header["alg"]]`), and `jwt.encode(..., algorithm="none")`. Calls that switch signature verification off entirely are JWT001\'s, and calls forwarding `**kwargs` are skipped.',
      whyIsThisBad:
        "Without a fixed list the token's `alg` header chooses how it is checked. Old PyJWT and python-jose then accept `alg: none` (no signature at all) or verify an HMAC signature using the public RSA key as the secret (algorithm confusion), so anyone can mint tokens. Unsigned `none` tokens are never acceptable.",
      example: `payload = jwt.decode(token, settings.SECRET_KEY)
payload = jwt.decode(token, key, algorithms=["HS256", "none"])`,
      useInstead: `payload = jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"])`,
      fixSafety: 'No automatic fix: the right algorithm is the one the tokens are signed with.',
    },
  },
  checkFile(ctx) {
    for (const c of jwtCalls(ctx)) {
      const call = c.site.node;
      const args = positionalArgs(call);
      if (c.fn === 'encode') {
        const kw = keywordNode(call, 'algorithm');
        const alg = kw ? kw.childForFieldName('value') : (args[2] ?? null);
        if (namesNone(alg))
          ctx.report({
            node: kw ?? alg ?? call,
            severity: 'error',
            message: `\`${c.site.callee}\` signs with algorithm "none": the token carries no signature and anyone can forge it.`,
          });
        continue;
      }
      if (c.fn !== 'decode') continue;
      if (decodeChecks(ctx, call).unverified) continue;
      const kw = keywordNode(call, 'algorithms');
      const algs = kw ? kw.childForFieldName('value') : (args[2] ?? null);
      if (!algs) {
        if (hasSplat(call)) continue;
        ctx.report({
          node: call,
          message: `\`${c.site.callee}(${snippet(args[0] ?? null, 40)})\` does not pin \`algorithms=\`: the token's own \`alg\` header picks how it is verified (\`none\`, HMAC/RSA confusion).`,
        });
      } else if (namesNone(algs)) {
        ctx.report({
          node: kw ?? algs,
          severity: 'error',
          message: `\`${c.site.callee}\` accepts algorithm "none" (\`${snippet(algs)}\`): unsigned tokens pass verification.`,
        });
      } else if (fromTokenHeader(algs)) {
        ctx.report({
          node: kw ?? algs,
          severity: 'error',
          message: `\`${c.site.callee}\` takes its algorithm from the token header (\`${snippet(algs)}\`): the attacker chooses how the token is verified.`,
        });
      }
    }
  },
};
