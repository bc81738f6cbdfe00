import type { FuncFacts } from './facts';
import type { DependencyAnalyzer, DepUse } from './dependencies';
import type { FastApiModel, MiddlewareReg, MountReg, RouteReg, RouterObj } from './model';
import type { AuthLevel, DependencyNode, Exposure, Route, RouteAuth } from './types';
import type { Workspace, WorkspaceFile } from './workspace';

/**
 * Route inventory: walks every app from the top (include_router chains, mounts), accumulating
 * prefixes and dependencies level by level, and decides each route's effective exposure.
 */

interface Walk {
  prefix: string;
  uses: { use: DepUse; level: AuthLevel }[];
  hidden: boolean;
  deprecated: boolean;
  cond: string[];
  routers: string[];
  middleware: MiddlewareReg[];
  app: string | null;
  seen: Set<string>;
  /** The root object and the include/mount registrations walked through (see RoutesReuse). */
  chain: object[];
  /** The same walk in the previous model, when everything on the way is unchanged. */
  old: object[] | null;
}

/** A route with the engine objects behind it, for rules and editor features. */
export interface RouteRecord {
  route: Route;
  reg: RouteReg | null;
  handler: { file: WorkspaceFile; fn: FuncFacts } | null;
}

/**
 * The routes of the previous analysis that still hold (incremental/combine.ts): a record is
 * taken over when its registration was replayed, the walk to it is the previous one through
 * unchanged objects and registrations, and its handler reads nothing the edit changed.
 */
export interface RoutesReuse {
  model: FastApiModel;
  /** The handler's parameters and decorators evaluate as before. */
  handlerClean(handler: { file: WorkspaceFile; fn: FuncFacts }): boolean;
  /** The file's comments are those the previous records read (publicReason). */
  commentsSame(file: WorkspaceFile): boolean;
}

/** One walk through an object: the way there (root object, registrations), its records. */
export interface ObjectVisit {
  chain: object[];
  /** Records of the object's routes, in order. */
  routes: RouteRecord[];
  /** Records of its mounts that are not FastAPI apps, in order, with the mount. */
  mounts: { reg: MountReg; record: RouteRecord }[];
}

/** The visits of each object of a model, by the last buildRoutes over it. */
const visitsOf = new WeakMap<FastApiModel, Map<RouterObj, ObjectVisit[]>>();

function sameChain(a: object[], b: object[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameList<T>(a: T[], b: T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function buildRoutes(
  ws: Workspace,
  model: FastApiModel,
  deps: DependencyAnalyzer,
  reuse?: RoutesReuse,
): RouteRecord[] {
  const out: RouteRecord[] = [];
  const objects = [...model.objects.values()];
  const roots = objects.filter((o) => o.parents === 0 && o.kind === 'app');
  const orphans = objects.filter((o) => o.parents === 0 && o.kind === 'router');
  const visits = new Map<RouterObj, ObjectVisit[]>();
  if (model.keepEvents) visitsOf.set(model, visits);
  const oldVisits = reuse ? visitsOf.get(reuse.model) : undefined;
  /** The previous object for an object taken over with the same middleware. */
  const sameObj = (obj: RouterObj): RouterObj | null => {
    const old = model.adopted.get(obj);
    if (!old) return null;
    if (obj.kind === 'app' && !sameList(obj.middleware, old.middleware)) return null;
    return old;
  };
  /** The previous visit of an object by the same way. */
  const previous = (obj: RouterObj, old: object[] | null): ObjectVisit | null => {
    if (!old || !oldVisits) return null;
    const was = model.adopted.get(obj);
    for (const v of (was && oldVisits.get(was)) ?? []) if (sameChain(v.chain, old)) return v;
    return null;
  };

  const walk = (obj: RouterObj, w: Walk): void => {
    if (w.seen.has(obj.id)) return;
    const seen = new Set(w.seen).add(obj.id);
    const level: AuthLevel = obj.kind === 'app' ? (w.routers.length ? 'mount' : 'app') : 'router';
    const here: Walk = {
      ...w,
      seen,
      uses: [...w.uses, ...obj.dependencies.map((use) => ({ use, level }))],
      hidden: w.hidden || obj.hidden,
      deprecated: w.deprecated || obj.deprecated,
      routers: [...w.routers, obj.name],
      middleware: obj.kind === 'app' ? [...w.middleware, ...obj.middleware] : w.middleware,
    };
    const ownPrefix = here.prefix + obj.prefix.text;
    const was = reuse ? previous(obj, here.old) : null;
    const visit: ObjectVisit = { chain: here.chain, routes: [], mounts: [] };
    if (model.keepEvents) {
      const list = visits.get(obj);
      if (list) list.push(visit);
      else visits.set(obj, [visit]);
    }
    obj.routes.forEach((reg, i) => {
      const before = was?.routes[i];
      const r =
        before &&
        before.reg === reg &&
        model.replayed.has(reg) &&
        (reuse as RoutesReuse).commentsSame(reg.file) &&
        (!reg.handler ||
          ((reuse as RoutesReuse).commentsSame(reg.handler.file) &&
            (reuse as RoutesReuse).handlerClean(reg.handler)))
          ? before
          : routeRecord(ws, deps, reg, here, ownPrefix, obj);
      visit.routes.push(r);
      out.push(r);
    });
    for (const inc of obj.includes) {
      const oldInc = here.old ? model.replayed.get(inc) : undefined;
      const oldChild = oldInc ? sameObj(inc.child) : null;
      walk(inc.child, {
        ...here,
        prefix: ownPrefix + inc.prefix.text,
        uses: [
          ...here.uses,
          ...inc.dependencies.map((use) => ({ use, level: 'include' as const })),
        ],
        hidden: here.hidden || inc.hidden,
        deprecated: here.deprecated || inc.deprecated,
        cond: inc.cond ? [...here.cond, inc.cond] : here.cond,
        chain: [...here.chain, inc],
        old: here.old && oldInc && oldChild ? [...here.old, oldInc] : null,
      });
    }
    for (const m of obj.mounts) {
      const oldMount = here.old ? model.replayed.get(m) : undefined;
      const oldSub = oldMount && m.subApp ? sameObj(m.subApp) : null;
      const mountWalk: Walk = {
        ...here,
        prefix: ownPrefix + m.path.text,
        // A mounted app is its own ASGI app: the parent's dependencies do not reach it,
        // but the parent's middleware wraps it.
        uses: [],
        cond: m.cond ? [...here.cond, m.cond] : here.cond,
        chain: [...here.chain, m],
        old: here.old && oldMount && (!m.subApp || oldSub) ? [...here.old, oldMount] : null,
      };
      if (m.subApp) walk(m.subApp, mountWalk);
      else {
        const before = was?.mounts[visit.mounts.length];
        const r =
          before &&
          oldMount &&
          mountWalk.old &&
          before.reg === oldMount &&
          (reuse as RoutesReuse).commentsSame(m.file)
            ? before.record
            : mountRecord(deps, m, mountWalk, obj);
        visit.mounts.push({ reg: m, record: r });
        out.push(r);
      }
    }
  };

  const start = (obj: RouterObj, app: string | null): Walk => {
    const old = reuse ? sameObj(obj) : null;
    return {
      prefix: '',
      uses: [],
      hidden: false,
      deprecated: false,
      cond: [],
      routers: [],
      middleware: [],
      app,
      seen: new Set(),
      chain: [obj],
      old: old && old.parents === 0 ? [old] : null,
    };
  };
  for (const app of roots) walk(app, start(app, app.name));
  for (const router of orphans) walk(router, start(router, null));

  out.sort(
    (a, b) =>
      a.route.path.localeCompare(b.route.path) ||
      a.route.methods.join(',').localeCompare(b.route.methods.join(',')) ||
      a.route.file.localeCompare(b.route.file) ||
      a.route.line - b.route.line,
  );
  return out;
}

function publicReason(file: WorkspaceFile, lines: number[]): string | null {
  for (const c of file.facts.comments) {
    if (!lines.includes(c.line)) continue;
    const m = /fastapi-lens:\s*public\b\s*(.*)$/.exec(c.text);
    if (m) return m[1].trim() || 'marked public';
  }
  return null;
}

function routeRecord(
  ws: Workspace,
  deps: DependencyAnalyzer,
  reg: RouteReg,
  w: Walk,
  prefix: string,
  owner: RouterObj,
): RouteRecord {
  void owner;
  const uses = [
    ...w.uses,
    ...reg.dependencies.map((use) => ({ use, level: 'decorator' as const })),
  ];
  const handler = reg.handler;
  if (handler) {
    const ctx = { file: handler.file, scope: handler.fn.scope };
    for (const p of handler.fn.params) {
      const use = deps.paramUse(ctx, p);
      if (use) uses.push({ use, level: 'parameter' });
    }
  }
  const { auth, nodes, unresolved } = judge(deps, uses);
  if (handler) auth.push(...requiresDecorators(ws, handler));
  const cond = reg.cond ? [...w.cond, reg.cond] : w.cond;
  const middleware = reg.kind === 'http' ? w.middleware.filter(isAuthMiddleware) : [];
  auth.push(...middleware.map(middlewareAuth));
  const route: Route = {
    methods: reg.methods,
    path: prefix + reg.path.text,
    kind: reg.kind,
    file: reg.file.rel,
    line: reg.line,
    column: reg.col,
    function: handler ? handler.fn.name : reg.handlerName,
    exposure: exposureOf(auth, unresolved),
    auth,
    hidden: w.hidden || reg.hidden,
    conditional: cond.length ? cond.join(' / ') : null,
    deprecated: w.deprecated || reg.deprecated,
    app: w.app,
    routers: w.routers,
    handlerLine: handler ? handler.fn.line : null,
    unresolved: [...reg.path.unresolved.map(pathPartReason), ...unresolved],
    middleware: middleware.map((m) => m.name),
    publicReason: publicReason(reg.file, [reg.line, reg.line - 1, handler?.fn.line ?? -1]),
    dependencies: nodes,
  };
  return { route, reg, handler };
}

function mountRecord(
  deps: DependencyAnalyzer,
  m: RouterObj['mounts'][number],
  w: Walk,
  owner: RouterObj,
): RouteRecord {
  void owner;
  void deps;
  const auth: RouteAuth[] = w.middleware.filter(isAuthMiddleware).map(middlewareAuth);
  const route: Route = {
    methods: [],
    path: w.prefix,
    kind: 'mount',
    file: m.file.rel,
    line: m.line,
    column: m.col,
    function: null,
    exposure: exposureOf(auth, []),
    auth,
    hidden: w.hidden,
    conditional: w.cond.length ? w.cond.join(' / ') : null,
    deprecated: w.deprecated,
    app: w.app,
    routers: w.routers,
    handlerLine: null,
    unresolved: m.path.unresolved.map(pathPartReason),
    middleware: auth.map((a) => a.dependency),
    publicReason: publicReason(m.file, [m.line, m.line - 1]),
    dependencies: [],
    target: m.targetText,
  };
  return { route, reg: null, handler: null };
}

/** The `unresolved` reason of a path part we could not evaluate (does not change exposure). */
export function pathPartReason(part: string): string {
  return `path part ${part} not resolved`;
}

export function isPathPartReason(reason: string): boolean {
  return /^path part .* not resolved$/.test(reason);
}

/** Middleware that rejects anonymous callers, or only identifies them (listed, not protection). */
function isAuthMiddleware(m: MiddlewareReg): boolean {
  return m.auth || m.authenticates;
}

function middlewareAuth(m: MiddlewareReg): RouteAuth {
  return {
    dependency: m.name,
    level: 'middleware',
    file: m.file.rel,
    line: m.line,
    scopes: [],
    // Starlette's AuthenticationMiddleware sets request.user and lets anonymous callers through.
    enforcing: m.auth,
    chain: [m.name],
    basis: m.kind === 'class' ? 'library' : 'rejects',
    roleCheck: false,
    confidence: 'high',
    conditional: m.cond,
  };
}

function judge(
  deps: DependencyAnalyzer,
  uses: { use: DepUse; level: AuthLevel }[],
): { auth: RouteAuth[]; nodes: DependencyNode[]; unresolved: string[] } {
  const auth: RouteAuth[] = [];
  const nodes: DependencyNode[] = [];
  const unresolved: string[] = [];
  for (const { use, level } of uses) {
    const a = deps.analyze(use, level);
    nodes.push(a.node);
    unresolved.push(...a.unresolved);
    if (!a.verdict) continue;
    auth.push({
      dependency: use.refName,
      level,
      file: a.node.file,
      line: a.node.line,
      scopes: a.verdict.scopes,
      enforcing: a.verdict.enforcing,
      chain: a.verdict.chain,
      basis: a.verdict.basis,
      roleCheck: a.verdict.roleCheck,
      confidence: a.verdict.confidence,
    });
  }
  return { auth, nodes, unresolved: [...new Set(unresolved)] };
}

/** Starlette's `@requires("authenticated", ...)` on a handler. */
function requiresDecorators(
  ws: Workspace,
  handler: { file: WorkspaceFile; fn: FuncFacts },
): RouteAuth[] {
  const out: RouteAuth[] = [];
  for (const d of handler.fn.decorators) {
    if (d.expr.k !== 'call') continue;
    const v = ws.eval({ file: handler.file, scope: handler.fn.scope }, d.expr.fn);
    if (v.t !== 'external' || !/^starlette\.authentication\.requires$/.test(v.qname)) continue;
    const first = d.expr.args[0] ?? d.expr.kw.scopes;
    const scopes = !first
      ? []
      : first.k === 'str'
        ? [first.v]
        : first.k === 'list'
          ? first.items.flatMap((i) => (i.k === 'str' ? [i.v] : []))
          : [];
    out.push({
      dependency: 'requires',
      level: 'decorator',
      file: handler.file.rel,
      line: d.line,
      scopes: scopes.filter((s) => s !== 'authenticated'),
      enforcing: true,
      chain: ['requires'],
      basis: 'library',
      roleCheck: false,
      confidence: 'high',
    });
  }
  return out;
}

export function exposureOf(auth: RouteAuth[], unresolved: string[]): Exposure {
  const enforcing = auth.filter((a) => a.enforcing && a.level !== 'middleware');
  if (enforcing.some((a) => a.scopes.length > 0 || a.roleCheck)) return 'scoped';
  if (enforcing.length) return 'authenticated';
  if (auth.some((a) => a.level === 'middleware' && a.enforcing)) return 'middleware';
  if (unresolved.length) return 'unknown';
  return 'public';
}
