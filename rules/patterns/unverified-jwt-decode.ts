import type { FileRule } from '../api';
import { positionalArgs } from '../api';
import { decodeChecks, jwtCalls, verifiedInSameFunction } from './jwt';
import { snippet } from './util';

/** JWT001: token claims used without checking the signature (or the expiry). */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'JWT001',
    slug: 'unverified-jwt-decode',
    title: 'JWT decoded without verifying its signature',
    defaultSeverity: 'error',
    cwe: [347],
    owasp: ['API2:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports PyJWT and python-jose calls that read a token without checking it: `jwt.decode(token, options={"verify_signature": False})` (also through an `options` variable or `dict(...)`), `jwt.decode(token, verify=False)` (PyJWT 1.x), and python-jose\'s `jwt.get_unverified_claims(token)`. `options={"verify_exp": False}` is reported at warning: the signature is checked but stolen tokens never expire. A function that peeks at unverified claims (to choose a key by `iss` or `kid`) and then verifies the token with `jwt.decode` in the same function is not reported; `get_unverified_header` (used to find the `kid`) is never reported. The import decides the library: `import jwt` is PyJWT, `from jose import jwt` is python-jose.',
      whyIsThisBad:
        'The signature is the only thing that makes a JWT trustworthy: its payload is base64 that anyone can write. Without verification a client becomes any user by editing `sub` or `role`, and with `verify_exp` off a leaked token works forever.',
      example: `def get_current_user(token: str = Depends(oauth2_scheme)):
    payload = jwt.decode(token, options={"verify_signature": False})
    return users[payload["sub"]]`,
      useInstead: `def get_current_user(token: str = Depends(oauth2_scheme)):
    payload = jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"])
    return users[payload["sub"]]`,
      fixSafety: 'No automatic fix: verifying needs the right key and algorithm.',
    },
  },
  checkFile(ctx) {
    for (const c of jwtCalls(ctx)) {
      const call = c.site.node;
      const token = snippet(positionalArgs(call)[0] ?? null, 40) || 'the token';
      if (c.fn === 'get_unverified_claims') {
        if (verifiedInSameFunction(ctx, call)) continue;
        ctx.report({
          node: call,
          message: `\`${c.site.callee}(${token})\` reads the claims without checking the signature: a client can forge any identity in the token.`,
        });
        continue;
      }
      if (c.fn !== 'decode') continue;
      const checks = decodeChecks(ctx, call);
      if (checks.unverified) {
        if (verifiedInSameFunction(ctx, call)) continue;
        ctx.report({
          node: checks.unverified,
          message: `\`${c.site.callee}(${token})\` with \`${snippet(checks.unverified)}\` skips signature verification: a client can forge any identity in the token.`,
        });
      } else if (checks.expiryOff) {
        ctx.report({
          node: checks.expiryOff,
          severity: 'warning',
          message: `\`${c.site.callee}(${token})\` turns off the expiry check (\`verify_exp\`): a leaked token stays valid forever.`,
        });
      }
    }
  },
};
