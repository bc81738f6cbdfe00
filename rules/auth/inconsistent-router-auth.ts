import type { RouteRecord } from '../../server/src/engine/routes';
import { routeSummary } from '../../server/src/engine/scan';
import type { WorkspaceContext, WorkspaceRule } from '../api';
import {
  conventionallyPublic,
  dominantAuth,
  groupKey,
  intentionallyPublic,
  isProtected,
  routeLabel,
} from './util';

/** Public routes whose siblings are mostly protected, with the evidence. */
export function inconsistentWith(ctx: WorkspaceContext): Map<RouteRecord, string> {
  const groups = new Map<string, RouteRecord[]>();
  for (const r of ctx.routes) {
    if (r.route.kind === 'mount') continue;
    const key = groupKey(r);
    const list = groups.get(key);
    if (list) list.push(r);
    else groups.set(key, [r]);
  }
  const out = new Map<RouteRecord, string>();
  for (const [key, members] of groups) {
    const protectedOnes = members.filter((m) => isProtected(m.route));
    const publicOnes = members.filter(
      (m) =>
        m.route.kind === 'http' &&
        m.route.exposure === 'public' &&
        !intentionallyPublic(m, ctx) &&
        // Sign-up, login and health routes sit among protected siblings by design (AUTH001
        // still lists them at info).
        !conventionallyPublic(m.route),
    );
    // Mostly protected: at least two protected routes and at least 2/3 of the group.
    if (protectedOnes.length < 2 || protectedOnes.length * 3 < members.length * 2) continue;
    const dominant = dominantAuth(protectedOnes);
    const groupName = key.includes(':') ? `router \`${key}\`` : `\`${key}\``;
    for (const m of publicOnes) {
      const evidence = dominant
        ? `${dominant.count} of ${members.length} routes in ${groupName} require \`${dominant.name}\``
        : `${protectedOnes.length} of ${members.length} routes in ${groupName} are protected`;
      out.set(m, evidence);
    }
  }
  return out;
}

/** AUTH002: an unprotected route among protected siblings. */
export const rule: WorkspaceRule = {
  kind: 'workspace',
  reach: { warm: 'graph', cold: 'group' },
  meta: {
    code: 'AUTH002',
    slug: 'inconsistent-router-auth',
    title: 'Unprotected route in a router whose other routes require authentication',
    defaultSeverity: 'error',
    cwe: [306, 862],
    owasp: ['API5:2023'],
    fix: 'unsafe',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports a public route when at least two thirds of the routes registered on the same router (and at least two) require authentication, naming the dependency the others use.',
      whyIsThisBad:
        'When most routes of a router are protected per route, the odd one out is almost always a forgotten dependency rather than a decision. Attackers look for exactly these gaps: the one endpoint of `/admin` that skipped the check.',
      example: `@router.get("/items/{item_id}")
def read_item(item_id: int, user: User = Depends(get_current_user)): ...

@router.delete("/items/{item_id}")
def delete_item(item_id: int): ...`,
      useInstead: `@router.delete("/items/{item_id}")
def delete_item(item_id: int, user: User = Depends(get_current_user)): ...`,
      fixSafety:
        'The quick fix adds the dependency the sibling routes use. It changes who may call the route, so it is unsafe and not part of fix-all.',
    },
  },
  checkWorkspace(ctx) {
    for (const [record, evidence] of inconsistentWith(ctx)) {
      const route = record.route;
      if (route.hidden) continue; // AUTH008
      ctx.report({
        file: route.file,
        line: route.line,
        column: route.column,
        message: `${routeLabel(route)} is public while ${evidence}; this one does not.`,
        route: routeSummary(record),
      });
    }
  },
};
