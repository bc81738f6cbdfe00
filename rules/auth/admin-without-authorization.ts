import { routeSummary } from '../../server/src/engine/scan';
import type { WorkspaceRule } from '../api';
import { routeLabel } from './util';

const ADMIN =
  /(^|[/_-])(admin|superuser|staff|internal|manage|management|backoffice|sudo)([/_{-]|s?$)/i;

/** AUTH009: admin-looking route that only checks "logged in". */
export const rule: WorkspaceRule = {
  kind: 'workspace',
  reach: { warm: 'route', cold: 'route', routes: (r) => r.route.exposure === 'authenticated' },
  meta: {
    code: 'AUTH009',
    slug: 'admin-without-authorization',
    title: 'Admin route authenticated but without a role or scope check',
    defaultSeverity: 'warning',
    cwe: [285, 862],
    owasp: ['API5:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports routes that look administrative (an `admin`, `superuser`, `internal` or `management` path segment, tag or handler name) whose authentication never checks a role, a superuser flag or OAuth2 scopes.',
      whyIsThisBad:
        'Broken function-level authorization: any signed-up user can call the admin endpoint because the route only asks "is somebody logged in?", not "is this an administrator?".',
      example: `@router.delete("/admin/users/{user_id}")
def delete_user(user_id: int, user: User = Depends(get_current_user)): ...`,
      useInstead: `def get_current_superuser(user: User = Depends(get_current_user)) -> User:
    if not user.is_superuser:
        raise HTTPException(status_code=403, detail="Not enough privileges")
    return user

@router.delete("/admin/users/{user_id}")
def delete_user(user_id: int, user: User = Depends(get_current_superuser)): ...`,
      fixSafety: 'No automatic fix.',
    },
  },
  checkWorkspace(ctx) {
    for (const record of ctx.routes) {
      const route = record.route;
      if (route.exposure !== 'authenticated' || route.kind === 'mount') continue;
      const call = record.reg?.call;
      const tags = call?.kw.tags;
      const tagText =
        tags && tags.k === 'list'
          ? tags.items.map((t) => (t.k === 'str' ? t.v : '')).join(' ')
          : '';
      const admin =
        ADMIN.test(route.path) ||
        ADMIN.test(`/${route.function ?? ''}`) ||
        /\badmin\b/i.test(tagText) ||
        route.routers.some((r) => ADMIN.test(`/${r.split(':').pop() ?? ''}`));
      if (!admin) continue;
      // The handler checks the role itself (`if not user.is_owner(org): raise 403`).
      const h = record.handler;
      if (h && ctx.analysis.deps.roleCheck(h.file, h.fn) && ctx.analysis.deps.rejects(h.file, h.fn))
        continue;
      const a = route.auth.find((x) => x.enforcing);
      ctx.report({
        file: route.file,
        line: route.line,
        column: route.column,
        message: `${routeLabel(route)} looks administrative but \`${a?.dependency ?? 'its auth'}\` only checks that someone is logged in: no role, superuser or scope check.`,
        route: routeSummary(record),
      });
    }
  },
};
