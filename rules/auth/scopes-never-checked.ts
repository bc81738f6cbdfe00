import type { DependencyNode } from '../../server/src/engine/types';
import { dottedName } from '../../server/src/engine/facts';
import { routeSummary } from '../../server/src/engine/scan';
import type { WorkspaceRule } from '../api';
import { routeLabel } from './util';

/** AUTH010: `Security(..., scopes=[...])` that nothing enforces. */
export const rule: WorkspaceRule = {
  kind: 'workspace',
  reach: { warm: 'graph', cold: 'route' },
  meta: {
    code: 'AUTH010',
    slug: 'scopes-never-checked',
    title: 'Security scopes declared but never checked',
    defaultSeverity: 'error',
    cwe: [285, 863],
    owasp: ['API5:2023', 'API1:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        "Reports routes that declare OAuth2 scopes with `Security(dependency, scopes=[...])` when no dependency in the route's tree takes a `SecurityScopes` parameter to compare them with the token's scopes.",
      whyIsThisBad:
        'FastAPI only collects the declared scopes; it never checks them. Without a dependency that reads `SecurityScopes` and rejects tokens that lack them, `scopes=["admin"]` is documentation, and every authenticated user passes.',
      example: `def get_current_user(token: str = Depends(oauth2_scheme)) -> User: ...

@app.delete("/items/{id}")
def delete(user: User = Security(get_current_user, scopes=["items:delete"])): ...`,
      useInstead: `def get_current_user(security_scopes: SecurityScopes,
                     token: str = Depends(oauth2_scheme)) -> User:
    payload = decode(token)
    for scope in security_scopes.scopes:
        if scope not in payload.get("scopes", []):
            raise HTTPException(status_code=403, detail="Not enough permissions")
    ...`,
      fixSafety: 'No automatic fix.',
    },
  },
  checkWorkspace(ctx) {
    const files = new Map(ctx.analysis.files.map((f) => [f.rel, f]));
    const readsScopes = (node: DependencyNode): boolean => {
      if (node.file && node.line) {
        const f = files.get(node.file);
        const fns = f?.facts.funcs.filter(
          (fn) =>
            fn.line === node.line ||
            (fn.className &&
              f.facts.classes.some(
                (c) => c.line === node.line && fn.qualname.startsWith(`${c.qualname}.`),
              )),
        );
        if (
          fns?.some((fn) =>
            fn.params.some(
              (p) =>
                p.annotation !== null &&
                /(^|\.)SecurityScopes$/.test(dottedName(p.annotation) ?? ''),
            ),
          )
        )
          return true;
      }
      return node.children.some(readsScopes);
    };
    for (const record of ctx.routes) {
      const route = record.route;
      const scoped = route.auth.filter(
        (a) => a.scopes.length > 0 && a.level !== 'middleware' && a.dependency !== 'requires',
      );
      if (scoped.length === 0) continue;
      if (route.dependencies.some(readsScopes)) continue;
      ctx.report({
        file: route.file,
        line: route.line,
        column: route.column,
        message: `${routeLabel(route)} declares scopes ${scoped
          .flatMap((a) => a.scopes)
          .map((s) => `\`${s}\``)
          .join(', ')} but no dependency reads \`SecurityScopes\`: the scopes are never enforced.`,
        route: routeSummary(record),
      });
    }
  },
};
