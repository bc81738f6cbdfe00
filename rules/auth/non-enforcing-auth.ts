import { isNameOnlyReason } from '../../server/src/engine/dependencies';
import { isPathPartReason } from '../../server/src/engine/routes';
import { routeSummary } from '../../server/src/engine/scan';
import type { RouteAuth } from '../../server/src/engine/types';
import type { WorkspaceRule } from '../api';
import { intentionallyPublic, routeLabel } from './util';

export const OPTIONAL_NAME = /optional|maybe|anonymous|try_|_or_none|if_present/i;

/** AUTH003: an auth dependency that never rejects anyone. */
export const rule: WorkspaceRule = {
  kind: 'workspace',
  reach: { warm: 'graph', cold: 'route' },
  meta: {
    code: 'AUTH003',
    slug: 'non-enforcing-auth',
    title: 'Auth dependency present but never rejects anonymous callers',
    defaultSeverity: 'error',
    cwe: [287, 306],
    owasp: ['API2:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        "Reports routes whose only authentication dependencies do not enforce: a security scheme created with `auto_error=False` whose `None` result is never checked, or a dependency that never raises 401/403 and falls back to a default user (error). A dependency that is auth by its name only (`get_current_user` with no scheme, no auth library and no 401/403 in it or its sub-dependencies) does not count as protection either: the route's exposure is `unknown` and it is reported as a warning, since a function it calls may still reject (name it in `auth-dependencies` if so). Dependencies whose name says they are optional (`get_optional_user`) are left alone, and so is middleware (AUTH001 explains Starlette's `AuthenticationMiddleware`).",
      whyIsThisBad:
        'The route looks protected in review (`Depends(get_current_user)` is right there) but an anonymous request gets through with `token=None` or a default user. This is worse than an obviously public route because nobody looks at it twice.',
      example: `oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)

def get_current_user(token: str | None = Depends(oauth2_scheme)):
    return decode_user(token)  # token may be None`,
      useInstead: `oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)

def get_current_user(token: str | None = Depends(oauth2_scheme)):
    if token is None:
        raise HTTPException(status_code=401, detail="Not authenticated")
    return decode_user(token)`,
      fixSafety: "No automatic fix: where to reject depends on the dependency's logic.",
    },
  },
  checkWorkspace(ctx) {
    for (const record of ctx.routes) {
      const route = record.route;
      if (route.kind === 'mount' || route.auth.length === 0) continue;
      // Middleware that only identifies callers (Starlette's AuthenticationMiddleware) is
      // AUTH001's to explain; this rule is about dependencies.
      const weak = route.auth.filter(
        (a) =>
          !a.enforcing && a.level !== 'middleware' && !a.chain.some((n) => OPTIONAL_NAME.test(n)),
      );
      if (weak.length === 0) continue;
      if (intentionallyPublic(record, ctx)) continue;
      let a: RouteAuth;
      let why: string;
      let severity: 'error' | 'warning' = 'error';
      if (route.exposure === 'public') {
        a = weak[0];
        why =
          'which never rejects anonymous callers: the scheme does not raise (auto_error=False) and nothing checks for a missing token';
      } else if (
        route.exposure === 'unknown' &&
        // Unknown only because of auth-like names: nothing opaque could be the real check.
        route.unresolved.every((u) => isNameOnlyReason(u) || isPathPartReason(u)) &&
        weak.some((w) => w.basis === 'name')
      ) {
        a = weak.find((w) => w.basis === 'name') ?? weak[0];
        why =
          'which is named like an auth dependency but shows no rejection: nothing in it or its sub-dependencies raises 401/403, so FastAPI serves anonymous requests unless a function it calls rejects them (then name it in `auth-dependencies`)';
        // A function it calls may still reject: the name is all we have either way.
        severity = 'warning';
      } else continue;
      ctx.report({
        file: route.file,
        line: route.line,
        column: route.column,
        message: `${routeLabel(route)} relies on \`${a.dependency}\` (${a.chain.join(' → ')}), ${why}.`,
        severity,
        route: routeSummary(record),
        related:
          a.file && a.line
            ? [
                {
                  file: a.file,
                  line: a.line,
                  column: 0,
                  message: `\`${a.dependency}\` is defined here`,
                },
              ]
            : [],
      });
    }
  },
};
