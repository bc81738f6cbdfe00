import { lowerSeverity, type Severity } from '../../server/src/engine/findings';
import { routeSummary, severityFor } from '../../server/src/engine/scan';
import type { WorkspaceRule } from '../api';
import {
  capabilityUrl,
  conventionallyPublic,
  handlerRejects,
  intentionallyPublic,
  isWrite,
  routeLabel,
} from './util';
import { inconsistentWith } from './inconsistent-router-auth';
import { OPTIONAL_NAME } from './non-enforcing-auth';

/** AUTH001: a route that anyone can call. */
export const rule: WorkspaceRule = {
  kind: 'workspace',
  reach: {
    warm: 'group',
    cold: 'group',
    routes: (r) => r.route.kind === 'http' && r.route.exposure === 'public',
  },
  meta: {
    code: 'AUTH001',
    slug: 'public-route',
    title: 'Route reachable without authentication',
    defaultSeverity: 'error',
    cwe: [306, 862],
    owasp: ['API2:2023', 'API5:2023'],
    fix: 'unsafe',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        "Reports HTTP routes that no authentication applies to at any level: not the app, not an `include_router` call, not the router, not the decorator (including Starlette's `@requires(...)`), not a handler parameter (including `Annotated` aliases and sub-dependencies), and no middleware that rejects anonymous requests. Starlette's `AuthenticationMiddleware` alone does not protect a route: it sets `request.user` (an `UnauthenticatedUser` for anonymous callers) and lets the request through, so such routes are reported with a note saying so. State-changing methods (POST, PUT, PATCH, DELETE) are errors; read-only methods are warnings; paths that are public by nature (login, token, sign-up, password reset, health checks) are reported as info. Routes marked `# fastapi-lens: public <reason>` or matched by `public-routes` are not reported.",
      whyIsThisBad:
        'FastAPI routes are public unless a dependency rejects the request. One forgotten `Depends(get_current_user)` exposes the data or action to the whole internet; a public `DELETE /users/{id}` is a breach waiting for a crawler.',
      example: `router = APIRouter(prefix="/users")

@router.delete("/{user_id}")
def delete_user(user_id: int, db: Session = Depends(get_db)):
    db.delete(db.get(User, user_id))`,
      useInstead: `router = APIRouter(prefix="/users", dependencies=[Depends(get_current_user)])

@router.delete("/{user_id}")
def delete_user(user_id: int, db: Session = Depends(get_db)):
    db.delete(db.get(User, user_id))`,
      fixSafety:
        "The quick fixes add the project's most used auth dependency to the route or its router, or mark the route public with a reason. Adding authentication changes who can call the route, so the fix is unsafe and never part of fix-all.",
    },
  },
  checkWorkspace(ctx) {
    const inconsistent = inconsistentWith(ctx);
    for (const record of ctx.routes) {
      const route = record.route;
      if (route.kind !== 'http' || route.exposure !== 'public') continue;
      if (route.hidden) continue; // AUTH008 reports hidden public routes
      if (inconsistent.has(record)) continue; // AUTH002 says more
      if (intentionallyPublic(record, ctx)) continue;
      // A dependency that looks like auth but lets callers through: AUTH003 says more.
      if (
        route.auth.some(
          (a) => !a.enforcing && a.level !== 'middleware' && !OPTIONAL_NAME.test(a.chain.join(' ')),
        )
      )
        continue;
      const checker = handlerRejects(ctx, record);
      const weak =
        route.auth.find((a) => !a.enforcing && a.level !== 'middleware') ??
        route.auth.find((a) => !a.enforcing);
      const capability = capabilityUrl(route);
      const conventional = conventionallyPublic(route) || capability !== null;
      // A route that only exists in some environments (`if settings.DEBUG:`) is one level lower.
      const base: Severity = conventional ? 'info' : isWrite(route) ? 'error' : 'warning';
      // Lower when something may still stop callers: an environment switch, a check inside
      // the handler, or an include we could not see (a router no app includes).
      let severity: Severity = checker ? 'info' : base;
      if (!checker && !conventional && (route.conditional || route.app === null))
        severity = lowerSeverity(base);
      const onlyIf = route.conditional ? ` (registered only under \`${route.conditional}\`)` : '';
      const why = capability
        ? `no auth dependency applies; the path parameter \`${capability}\` acts as the credential (a capability URL)`
        : checker
          ? `no auth dependency applies; \`${checker}\` rejects requests inside the handler instead (a dependency cannot be forgotten in a refactor)`
          : weak?.level === 'middleware'
            ? `\`${weak.dependency}\` identifies callers but lets anonymous ones through (nothing requires an authenticated \`request.user\`: add \`@requires("authenticated")\` or a dependency that rejects anonymous users)`
            : weak
              ? `its only auth dependency \`${weak.dependency}\` lets anonymous callers through`
              : 'no authentication dependency or middleware applies to it';
      ctx.report({
        file: route.file,
        line: route.line,
        column: route.column,
        message: `${routeLabel(route)} is public${onlyIf}: ${why}${conventional ? ' (looks intentionally public: mark it with `# fastapi-lens: public <reason>`)' : ''}.`,
        severity: severityFor(severity, false, route.exposure),
        route: routeSummary(record),
      });
    }
  },
};
