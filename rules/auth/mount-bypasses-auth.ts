import { routeSummary } from '../../server/src/engine/scan';
import type { WorkspaceRule } from '../api';
import type { RouterObj } from '../../server/src/engine/model';

/** AUTH006: a mount escapes the parent app's dependencies. */
export const rule: WorkspaceRule = {
  kind: 'workspace',
  reach: { warm: 'graph', cold: 'global' },
  meta: {
    code: 'AUTH006',
    slug: 'mount-bypasses-auth',
    title: "Mounted app does not inherit the parent's auth dependencies",
    defaultSeverity: 'error',
    cwe: [306, 862],
    owasp: ['API5:2023', 'API8:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports `app.mount(path, sub_app)` on an app that enforces authentication through `FastAPI(dependencies=[...])` when the mounted app (a FastAPI sub-app, `StaticFiles`, or any ASGI app) serves routes that are not protected on their own.',
      whyIsThisBad:
        "A mounted application is a separate ASGI app: FastAPI hands it the request before any of the parent's dependencies run. Teams protect the whole API with an app-level dependency and then mount `/v2` or `/files` under it, assuming it is covered. It is not.",
      example: `app = FastAPI(dependencies=[Depends(verify_token)])
v2 = FastAPI()
app.mount("/v2", v2)`,
      useInstead: `app = FastAPI(dependencies=[Depends(verify_token)])
v2 = FastAPI(dependencies=[Depends(verify_token)])
app.mount("/v2", v2)`,
      fixSafety: 'No automatic fix.',
    },
  },
  checkWorkspace(ctx) {
    const { model, deps } = ctx.analysis;
    for (const app of model.objects.values()) {
      if (app.kind !== 'app' || app.mounts.length === 0) continue;
      const parentAuth = enforcingAppAuth(app, deps);
      if (!parentAuth) continue;
      for (const m of app.mounts) {
        const mountPath = m.path.text;
        const exposed = ctx.routes.filter(
          (r) =>
            r.route.routers.includes(app.name) &&
            r.route.path.startsWith(mountPath) &&
            (m.subApp
              ? r.route.routers.includes(m.subApp.name)
              : r.route.kind === 'mount' && r.route.line === m.line) &&
            (r.route.exposure === 'public' || r.route.exposure === 'unknown'),
        );
        if (exposed.length === 0) continue;
        const what = m.subApp
          ? `${exposed.length} route(s) of \`${m.targetText}\``
          : `\`${m.targetText}\``;
        ctx.report({
          file: m.file.rel,
          line: m.line,
          column: m.col,
          message: `\`${app.name.split(':').pop()}\` requires \`${parentAuth}\` for its own routes, but the app mounted at \`${mountPath}\` does not inherit it: ${what} are public.`,
          route: exposed[0] ? routeSummary(exposed[0]) : null,
          related: exposed.slice(0, 10).map((r) => ({
            file: r.route.file,
            line: r.route.line,
            column: r.route.column,
            message: `public: ${r.route.methods.join(',') || r.route.kind} ${r.route.path}`,
          })),
        });
      }
    }
  },
};

function enforcingAppAuth(
  app: RouterObj,
  deps: import('../../server/src/engine/dependencies').DependencyAnalyzer,
): string | null {
  for (const use of app.dependencies) {
    const a = deps.analyze(use, 'app');
    if (a.verdict && a.verdict.enforcing) return use.refName;
  }
  return null;
}
