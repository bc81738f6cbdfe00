import { routeSummary } from '../../server/src/engine/scan';
import type { WorkspaceRule } from '../api';
import {
  capabilityUrl,
  conventionallyPublic,
  handlerRejects,
  intentionallyPublic,
  isWrite,
  routeLabel,
} from './util';

/** AUTH008: a public route left out of the OpenAPI schema. */
export const rule: WorkspaceRule = {
  kind: 'workspace',
  reach: { warm: 'graph', cold: 'route' },
  meta: {
    code: 'AUTH008',
    slug: 'hidden-public-route',
    title: 'Public route hidden from the OpenAPI schema',
    defaultSeverity: 'error',
    cwe: [306, 912],
    owasp: ['API9:2023', 'API5:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports routes that are excluded from the OpenAPI schema (`include_in_schema=False` on the route, its router or its `include_router`) and that anyone can call.',
      whyIsThisBad:
        'Hidden routes are a shadow API: they do not show up in the docs, in API gateways fed from the schema, or in security reviews that start from `/docs`. Hiding is not protecting: the route still answers to anyone who guesses the path.',
      example: `@app.post("/internal/reindex", include_in_schema=False)
def reindex(): ...`,
      useInstead: `@app.post("/internal/reindex", include_in_schema=False,
          dependencies=[Depends(require_admin)])
def reindex(): ...`,
      fixSafety: 'No automatic fix.',
    },
  },
  checkWorkspace(ctx) {
    for (const record of ctx.routes) {
      const route = record.route;
      if (!route.hidden || route.kind === 'mount' || route.exposure !== 'public') continue;
      if (intentionallyPublic(record, ctx)) continue;
      ctx.report({
        file: route.file,
        line: route.line,
        column: route.column,
        message: `${routeLabel(route)} is hidden from the OpenAPI schema but public: hiding a route does not protect it.`,
        severity:
          conventionallyPublic(route) || capabilityUrl(route) || handlerRejects(ctx, record)
            ? 'info'
            : isWrite(route) || route.kind === 'websocket'
              ? 'error'
              : 'warning',
        route: routeSummary(record),
      });
    }
  },
};
