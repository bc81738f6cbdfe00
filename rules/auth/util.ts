import type { Expr, ModuleFacts } from '../../server/src/engine/facts';
import type { Route } from '../../server/src/engine/types';
import type { RouteRecord } from '../../server/src/engine/routes';
import type { WorkspaceContext } from '../api';

/** Shared helpers of the AUTH rules. */

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function isWrite(route: Route): boolean {
  return route.methods.some((m) => WRITE_METHODS.has(m));
}

/** `*` matches within one path segment, `**` across segments; the rest is literal. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function matchesPublicGlob(path: string, globs: string[]): boolean {
  return globs.some((g) => globToRegExp(g).test(path));
}

/** Public on purpose: `# fastapi-lens: public reason`, `public-routes`, or a route in a test file. */
export function intentionallyPublic(record: RouteRecord, ctx: WorkspaceContext): boolean {
  return (
    record.route.publicReason !== null ||
    matchesPublicGlob(record.route.path, ctx.settings.publicRoutes) ||
    // Apps built inside tests are scaffolding, not endpoints anyone can reach.
    isTestFile(ctx, record.route.file)
  );
}

/**
 * Paths and handlers that are public by nature (login flows, health checks, docs). They are
 * still reported, at `info`, so an inventory stays complete without crying wolf.
 */
const CONVENTIONALLY_PUBLIC =
  /(^|[/_-])(\.well-known|authenticate|login|logout|signin|sign-in|signup|sign-up|register|token|refresh|oauth|callback|authorize|password[-_]?(recovery|reset|forgot)|reset[-_]?password|forgot[-_]?password|verify[-_]?email|confirm|health|healthz|healthcheck|health-check|ping|status|ready|readiness|liveness|live|version|metrics|docs|openapi|robots\.txt|favicon\.ico|webhooks?)([/_{-]|$)/i;

export function conventionallyPublic(route: Route): boolean {
  return (
    CONVENTIONALLY_PUBLIC.test(route.path) ||
    (route.function !== null && CONVENTIONALLY_PUBLIC.test(`/${route.function}`)) ||
    route.path === '/' ||
    route.path === ''
  );
}

export function routeLabel(route: Route): string {
  const m =
    route.kind === 'websocket'
      ? 'WEBSOCKET'
      : route.kind === 'mount'
        ? 'MOUNT'
        : route.methods.join(',');
  return `${m} ${route.path || '/'}`;
}

/** The innermost router a route was registered on (`module:var`), or its file. */
export function groupKey(record: RouteRecord): string {
  const r = record.route;
  return r.routers.length ? `${r.routers[r.routers.length - 1]}` : r.file;
}

/** The auth dependency most routes in a group use, with how many use it. */
export function dominantAuth(records: RouteRecord[]): { name: string; count: number } | null {
  const counts = new Map<string, number>();
  for (const rec of records) {
    const names = new Set(rec.route.auth.filter((a) => a.enforcing).map((a) => a.dependency));
    for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  let best: { name: string; count: number } | null = null;
  for (const [name, count] of counts) if (!best || count > best.count) best = { name, count };
  return best;
}

export function isProtected(route: Route): boolean {
  return (
    route.exposure === 'authenticated' ||
    route.exposure === 'scoped' ||
    route.exposure === 'middleware'
  );
}

/** Relative paths of the test files of an analysis (discovery decides: facts.test). */
const testFiles = new WeakMap<object, { count: number; rels: Set<string> }>();

/** Test code (discovery.ts isTestFile): dependency overrides and test apps are fine there. */
export function isTestFile(ctx: WorkspaceContext, rel: string): boolean {
  const files = ctx.analysis.files;
  let known = testFiles.get(files);
  // The editor adds files to the list it keeps; a file's test-ness never changes.
  if (!known || known.count !== files.length) {
    known = {
      count: files.length,
      rels: new Set(files.filter((f) => f.facts.test).map((f) => f.rel)),
    };
    testFiles.set(files, known);
  }
  return known.rels.has(rel);
}

/** Statement-level calls and `x = call()` of each scope: callee expressions, calls first. */
const calleesByScope = new WeakMap<
  ModuleFacts['calls'],
  WeakMap<ModuleFacts['assigns'], Map<string, Expr[]>>
>();

/**
 * What a scope calls (memoized per facts: every route of a file asks, and files have many
 * routes).
 */
function calleesIn(facts: ModuleFacts, scope: string): Expr[] {
  let byAssigns = calleesByScope.get(facts.calls);
  if (!byAssigns) calleesByScope.set(facts.calls, (byAssigns = new WeakMap()));
  let byScope = byAssigns.get(facts.assigns);
  if (!byScope) {
    const calls = new Map<string, Expr[]>();
    const assigned = new Map<string, Expr[]>();
    const add = (m: Map<string, Expr[]>, scope: string, e: Expr) => {
      const list = m.get(scope);
      if (list) list.push(e);
      else m.set(scope, [e]);
    };
    for (const c of facts.calls) add(calls, c.scope, c.call.fn);
    for (const a of facts.assigns) if (a.value.k === 'call') add(assigned, a.scope, a.value.fn);
    byScope = new Map();
    for (const key of new Set([...calls.keys(), ...assigned.keys()]))
      byScope.set(key, [...(calls.get(key) ?? []), ...(assigned.get(key) ?? [])]);
    byAssigns.set(facts.assigns, byScope);
  }
  return byScope.get(scope) ?? [];
}

/**
 * The handler rejects callers itself: it raises 401/403, or calls a workspace function that
 * does (`handler = verify_signature(request)`). Checks like these protect the route but are
 * easy to lose in a refactor; they are not dependencies, so the route's exposure stays public.
 */
export function handlerRejects(ctx: WorkspaceContext, record: RouteRecord): string | null {
  const h = record.handler;
  if (!h) return null;
  const { deps, workspace } = ctx.analysis;
  if (deps.rejects(h.file, h.fn)) return h.fn.name;
  const scope = h.fn.qualname;
  for (const callee of calleesIn(h.file.facts, scope)) {
    const v = workspace.eval({ file: h.file, scope }, callee);
    if (v.t === 'func' && deps.rejects(v.file, v.fn)) return v.fn.name;
  }
  return null;
}

/**
 * A capability URL: a path parameter that is itself a secret (`/checkout/{client_secret}`,
 * `/invite/{token}`). Whoever holds the link may call the route; that is the design.
 */
export function capabilityUrl(route: Route): string | null {
  const m =
    /\{([^}:]*(secret|token|signature|hash|nonce|invite|invitation)[^}:]*)(:[^}]*)?\}/i.exec(
      route.path,
    );
  return m ? m[1] : null;
}
