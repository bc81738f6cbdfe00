import type { WorkspaceRule } from '../api';

/** Names in a body that show the token is decoded, verified or looked up. */
const VERIFY_WORDS =
  /decode|verify|validat|introspect|authenticat|check|get_user|user_from|from_token|lookup|query|select|filter|get_by|fetch|find|load|jwt|jose|session|db|hmac|compare_digest|secrets|crypt|hash|sign/i;

/** AUTH004: a dependency receives the scheme's token but never verifies it. */
export const rule: WorkspaceRule = {
  kind: 'workspace',
  reach: { warm: 'statement', cold: 'upstream' },
  meta: {
    code: 'AUTH004',
    slug: 'token-never-verified',
    title: 'Security scheme token is read but never verified',
    defaultSeverity: 'error',
    cwe: [287, 345],
    owasp: ['API2:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports dependencies that take the credential from a FastAPI security scheme (`OAuth2PasswordBearer`, `HTTPBearer`, `APIKeyHeader`, ...) and then neither decode, verify, compare nor look it up: the token is returned or used as-is.',
      whyIsThisBad:
        'Security schemes only extract the credential from the request: `OAuth2PasswordBearer` checks that an `Authorization: Bearer ...` header exists, not that the token is valid. A dependency that trusts it as-is accepts `Bearer anything`.',
      example: `oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

def get_current_user(token: str = Depends(oauth2_scheme)) -> str:
    return token`,
      useInstead: `def get_current_user(token: str = Depends(oauth2_scheme)) -> User:
    try:
        payload = jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(status_code=401, detail="Invalid token")
    return get_user(payload["sub"])`,
      fixSafety: 'No automatic fix: how to verify a token depends on the issuer.',
    },
  },
  checkWorkspace(ctx) {
    const { workspace, deps } = ctx.analysis;
    for (const file of ctx.analysis.files) {
      if (!file.facts.fastapiRelated && file.facts.funcs.every((f) => f.params.length === 0))
        continue;
      for (const fn of file.facts.funcs) {
        const scope = { file, scope: fn.scope };
        for (const p of fn.params) {
          const use = deps.paramUse(scope, p);
          if (!use || !deps.schemeInstance(use.value)) continue;
          const others = fn.mentions.filter((m) => m !== p.name);
          const used = fn.mentions.includes(p.name);
          const verified = others.some((m) => VERIFY_WORDS.test(m));
          // Passing the token on to another function counts as handing it to a verifier.
          if (verified || (used && fn.raises.length > 0)) continue;
          ctx.report({
            file: file.rel,
            line: fn.line,
            column: fn.col,
            message: `\`${fn.name}\` takes the token from \`${use.refName}\` but never decodes, verifies or looks it up: any value in the header is accepted.`,
          });
          void workspace;
        }
      }
    }
  },
};
