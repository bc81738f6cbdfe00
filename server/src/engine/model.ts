import type { Expr, FuncFacts, ModuleFacts, StatementCall } from './facts';
import { dottedName } from './facts';
import { exprText, type DependencyAnalyzer, type DepUse } from './dependencies';
import type { CallExpr, EvalCtx, Value, Workspace, WorkspaceFile } from './workspace';

/**
 * The FastAPI model: which objects are apps and routers, and what is registered on each
 * (routes, include_router edges, mounts, middleware). Only receivers that evaluate to a
 * FastAPI/APIRouter instance count, so `@click.get` or `cache.get(...)` never become routes.
 */

export const HTTP_ROUTE_METHODS: Record<string, string[]> = {
  get: ['GET'],
  post: ['POST'],
  put: ['PUT'],
  patch: ['PATCH'],
  delete: ['DELETE'],
  head: ['HEAD'],
  options: ['OPTIONS'],
  trace: ['TRACE'],
};

export interface Location {
  file: WorkspaceFile;
  line: number;
  col: number;
}

export interface RouteReg extends Location {
  kind: 'http' | 'websocket';
  methods: string[];
  path: PathText;
  handler: { file: WorkspaceFile; fn: FuncFacts } | null;
  handlerName: string | null;
  dependencies: DepUse[];
  hidden: boolean;
  deprecated: boolean;
  cond: string | null;
  /** Source text of the registration (decorator or call), for rules and hovers. */
  call: CallExpr;
}

export interface IncludeReg extends Location {
  child: RouterObj;
  prefix: PathText;
  dependencies: DepUse[];
  hidden: boolean;
  deprecated: boolean;
  cond: string | null;
}

export interface MountReg extends Location {
  path: PathText;
  /** The mounted FastAPI sub-app, when it is one. */
  subApp: RouterObj | null;
  targetText: string;
  target: Value;
  cond: string | null;
}

export interface MiddlewareReg extends Location {
  name: string;
  /** Rejects unauthenticated HTTP requests: protection (exposure `middleware`). */
  auth: boolean;
  /**
   * Identifies callers without rejecting anonymous ones (Starlette's `AuthenticationMiddleware`
   * sets `request.user` to `UnauthenticatedUser`): listed on the routes it covers, not protection.
   */
  authenticates: boolean;
  /** The `if`/`try` clause the registration sits in: protection that may be switched off. */
  cond: string | null;
  kind: 'class' | 'function';
}

export interface PathText {
  text: string;
  /** Parts we could not evaluate (e.g. `{settings.PREFIX}`). */
  unresolved: string[];
}

export interface RouterObj extends Location {
  id: string;
  kind: 'app' | 'router';
  /** `module:variable` when known, else `module:<line>`. */
  name: string;
  prefix: PathText;
  dependencies: DepUse[];
  hidden: boolean;
  deprecated: boolean;
  routes: RouteReg[];
  includes: IncludeReg[];
  mounts: MountReg[];
  middleware: MiddlewareReg[];
  /** Times it is included into another router or mounted. */
  parents: number;
  call: CallExpr;
  ctx: EvalCtx;
}

/**
 * What visiting one source (a function's decorators, a statement call) did, in order: the
 * router objects it reached and what it registered on them. Kept so that the next analysis
 * can replay the sources an edit cannot reach instead of evaluating them again.
 */
export type ModelEvent =
  | { k: 'touch'; obj: RouterObj }
  | { k: 'route'; obj: RouterObj; reg: RouteReg }
  | { k: 'include'; obj: RouterObj; reg: IncludeReg }
  | { k: 'mount'; obj: RouterObj; reg: MountReg }
  | { k: 'middleware'; obj: RouterObj; reg: MiddlewareReg };

/** The previous model, and which of its sources an edit cannot have changed. */
export interface ModelReuse {
  model: FastApiModel;
  /** Nothing in the file evaluates differently than it did for `model`. */
  fileClean(file: WorkspaceFile): boolean;
  /** The source (in `file`) evaluates as it did for `model`. */
  clean(file: WorkspaceFile, source: FuncFacts | StatementCall): boolean;
}

/** Registration helpers were found: the model cannot be built from a previous one. */
export class ModelReuseFailed extends Error {}

const NO_EVENTS: ModelEvent[] = [];

/** A file's sources in the order they were visited, and what each did. */
interface FileEvents {
  facts: ModuleFacts;
  sources: object[];
  events: ModelEvent[][];
}

export class FastApiModel {
  readonly objects = new Map<string, RouterObj>();
  /** What every source of each file did (see ModelEvent). */
  readonly fileEvents = new Map<WorkspaceFile, FileEvents>();
  private current: ModelEvent[] | null = null;
  /** Objects taken over from the previous model (header unchanged): new -> old. */
  readonly adopted = new Map<RouterObj, RouterObj>();
  /** Registrations replayed from the previous model: new -> old (the same for routes). */
  readonly replayed = new Map<object, object>();
  /** Files in which objects were made (not taken over). */
  private readonly freshFiles = new Set<WorkspaceFile>();

  /**
   * `keepEvents`: note what each source did (`fileEvents`, and the route walk's visits), for
   * the next analysis to build from this one (the editor's; not the one-shot CLI's).
   */
  constructor(
    private readonly ws: Workspace,
    private readonly deps: DependencyAnalyzer,
    readonly keepEvents = false,
  ) {}

  build(reuse?: ModelReuse): void {
    /** Sources evaluated again that registered something before: [now, before]. */
    const revisited: [ModelEvent[], ModelEvent[]][] = [];
    for (const file of this.ws.files.values()) {
      if (!this.keepEvents && !reuse) {
        for (const fn of file.facts.funcs) this.visitDecorators(file, fn);
        for (const c of file.facts.calls) this.visitCall(file, c.call, c.scope, c.cond);
        continue;
      }
      const old = reuse?.model.fileEvents.get(file);
      if (reuse && old && old.facts === file.facts && reuse.fileClean(file)) {
        // Nothing the file's sources read changed: what they did, again.
        for (const e of old.events) if (e.length) this.replay(e);
        this.fileEvents.set(file, old);
        continue;
      }
      // Per source: the previous events by source (a source not found is visited).
      let before: ((source: object, i: number) => ModelEvent[] | undefined) | null = null;
      if (reuse && old) {
        if (old.facts === file.facts) before = (_, i) => old.events[i];
        else {
          const bySource = new Map<object, ModelEvent[]>();
          old.sources.forEach((src, i) => bySource.set(src, old.events[i]));
          before = (src) => bySource.get(src);
        }
      }
      const sources: object[] = [];
      const events: ModelEvent[][] = [];
      const visit = (source: FuncFacts | StatementCall, run: () => void): void => {
        const was = before ? before(source, sources.length) : undefined;
        sources.push(source);
        if (was && reuse?.clean(file, source)) {
          events.push(was.length ? this.replay(was) : NO_EVENTS);
          return;
        }
        const now: ModelEvent[] = [];
        this.current = now;
        try {
          run();
        } finally {
          this.current = null;
        }
        events.push(now.length ? now : NO_EVENTS);
        if (was?.length && now.length) revisited.push([now, was]);
      };
      // Registrations only happen in files that import FastAPI, or that use objects from files
      // that do (`from app.main import app`): cheap filter first, exact check on evaluation.
      for (const fn of file.facts.funcs) visit(fn, () => this.visitDecorators(file, fn));
      for (const c of file.facts.calls)
        visit(c, () => this.visitCall(file, c.call, c.scope, c.cond));
      this.fileEvents.set(file, { facts: file.facts, sources, events });
    }
    if (reuse && this.helpers.size) throw new ModelReuseFailed('registration helpers');
    this.expandHelpers();
    // Name objects after the variable that holds them, for display (objects taken over keep
    // the name they had: the same statement names them).
    for (const file of reuse ? this.freshFiles : this.ws.files.values()) {
      for (const a of file.facts.assigns) {
        if (a.value.k !== 'call') continue;
        const id = `${file.rel}:${a.value.line}:${a.value.col}`;
        const obj = this.objects.get(id);
        if (obj && obj.name.endsWith('>')) obj.name = `${file.module}:${a.target}`;
      }
    }
    if (reuse) this.pairAgain(reuse.model, revisited);
  }

  /**
   * What sources evaluated again found equal to what they found before counts as unchanged:
   * objects made again with the same header are taken over, registrations equal to the
   * previous ones stand for them (routes and middleware by the previous objects themselves).
   */
  private pairAgain(previous: FastApiModel, revisited: [ModelEvent[], ModelEvent[]][]): void {
    for (const obj of this.objects.values()) {
      if (this.adopted.has(obj)) continue;
      const old = previous.objects.get(obj.id);
      if (old && sameHeader(obj, old)) this.adopted.set(obj, old);
    }
    const same = (obj: RouterObj, old: RouterObj) => this.adopted.get(obj) === old;
    for (const [now, was] of revisited) {
      if (now.length !== was.length) continue;
      now.forEach((e, i) => {
        const o = was[i];
        if (e.k !== o.k || !same(e.obj, o.obj)) return;
        if (e.k === 'route' && o.k === 'route' && sameRouteReg(e.reg, o.reg)) {
          const at = e.obj.routes.indexOf(e.reg);
          if (at >= 0) e.obj.routes[at] = o.reg;
          e.reg = o.reg;
          this.replayed.set(o.reg, o.reg);
        } else if (e.k === 'include' && o.k === 'include') {
          if (same(e.reg.child, o.reg.child) && sameIncludeReg(e.reg, o.reg))
            this.replayed.set(e.reg, o.reg);
        } else if (e.k === 'mount' && o.k === 'mount') {
          const sub = e.reg.subApp;
          const subSame =
            sub === null ? o.reg.subApp === null : !!o.reg.subApp && same(sub, o.reg.subApp);
          if (subSame && sameMountReg(e.reg, o.reg)) this.replayed.set(e.reg, o.reg);
        } else if (e.k === 'middleware' && o.k === 'middleware' && sameMiddleware(e.reg, o.reg)) {
          const at = e.obj.middleware.indexOf(e.reg);
          if (at >= 0) e.obj.middleware[at] = o.reg;
          e.reg = o.reg;
          this.replayed.set(o.reg, o.reg);
        }
      });
    }
  }

  /** The object of this model for an object of the previous one (same id, same header). */
  private adopt(old: RouterObj): RouterObj {
    const existing = this.objects.get(old.id);
    if (existing) return existing;
    const obj: RouterObj = {
      ...old,
      routes: [],
      includes: [],
      mounts: [],
      middleware: [],
      parents: 0,
    };
    this.objects.set(obj.id, obj);
    this.adopted.set(obj, old);
    return obj;
  }

  /**
   * Do again what a source of the previous model did. Its events are moved over to this
   * model's objects in place (the previous model is not built from again).
   */
  private replay(events: ModelEvent[]): ModelEvent[] {
    for (const e of events) {
      const obj = this.adopt(e.obj);
      e.obj = obj;
      switch (e.k) {
        case 'touch':
          break;
        case 'route':
          obj.routes.push(e.reg);
          this.replayed.set(e.reg, e.reg);
          break;
        case 'include': {
          const child = this.adopt(e.reg.child);
          child.parents++;
          const reg: IncludeReg = { ...e.reg, child };
          obj.includes.push(reg);
          this.replayed.set(reg, e.reg);
          e.reg = reg;
          break;
        }
        case 'mount': {
          const subApp = e.reg.subApp ? this.adopt(e.reg.subApp) : null;
          if (subApp) subApp.parents++;
          const reg: MountReg = { ...e.reg, subApp };
          obj.mounts.push(reg);
          this.replayed.set(reg, e.reg);
          e.reg = reg;
          break;
        }
        case 'middleware':
          obj.middleware.push(e.reg);
          this.replayed.set(e.reg, e.reg);
          break;
      }
    }
    return events;
  }

  /** Note what the source being visited did. */
  private note(e: ModelEvent): void {
    this.current?.push(e);
  }

  /** The router object a value denotes, creating it on first sight. */
  routerOf(v: Value): RouterObj | null {
    const obj = this.routerOfValue(v);
    if (obj) this.note({ k: 'touch', obj });
    return obj;
  }

  private routerOfValue(v: Value): RouterObj | null {
    if (v.t !== 'instance') return null;
    const existing = this.objects.get(v.id);
    if (existing) return existing;
    const ancestors = this.ws.externalAncestors(v.of);
    let kind: 'app' | 'router' | null = null;
    for (const q of ancestors) {
      if (!/^fastapi\b/.test(q)) continue;
      if (/(^|\.)FastAPI$/.test(q)) kind = 'app';
      else if (/(^|\.)APIRouter$/.test(q)) kind = kind ?? 'router';
    }
    if (!kind) return null;
    const ctx: EvalCtx = { file: v.file, scope: v.scope };
    const call = v.call;
    const obj: RouterObj = {
      id: v.id,
      kind,
      name: `${v.file.module}:<line ${call.line}>`,
      file: v.file,
      line: call.line,
      col: call.col,
      prefix: kind === 'router' ? this.pathText(ctx, call.kw.prefix) : { text: '', unresolved: [] },
      dependencies: this.deps.listUses(ctx, call.kw.dependencies),
      hidden: isFalse(call.kw.include_in_schema),
      deprecated: isTrue(call.kw.deprecated),
      routes: [],
      includes: [],
      mounts: [],
      middleware: [],
      parents: 0,
      call,
      ctx,
    };
    this.objects.set(v.id, obj);
    this.freshFiles.add(v.file);
    return obj;
  }

  private receiver(ctx: EvalCtx, e: Expr): RouterObj | null {
    if (e.k !== 'name' && e.k !== 'attr' && e.k !== 'call') return null;
    const v = this.ws.eval(ctx, e);
    if (v.t === 'param' && !ctx.bindings)
      this.helpers.set(`${v.file.abs}#${v.fn.qualname}`, { file: v.file, fn: v.fn });
    return this.routerOf(v);
  }

  /** Functions that register on a router they receive as a parameter. */
  private readonly helpers = new Map<string, { file: WorkspaceFile; fn: FuncFacts }>();

  /**
   * `def add_routers(app, router): app.include_router(router)`, called as
   * `add_routers(app, api_router)`: evaluate the helper's registrations once per call site, with
   * its parameters bound to the call's arguments.
   */
  private expandHelpers(): void {
    const done = new Set<string>();
    for (let round = 0; round < 3 && this.helpers.size > done.size; round++) {
      for (const [key, { file, fn }] of [...this.helpers]) {
        if (done.has(key)) continue;
        done.add(key);
        for (const site of this.callSites(fn)) {
          const bindings = this.bindArguments(fn, site.call, site.ctx);
          const cond = site.cond;
          for (const inner of file.facts.funcs)
            if (inner.scope === fn.qualname) this.visitDecorators(file, inner, bindings, cond);
          for (const c of file.facts.calls)
            if (c.scope === fn.qualname)
              this.visitCall(file, c.call, c.scope, joinCond(cond, c.cond), bindings);
        }
      }
    }
  }

  private callSites(fn: FuncFacts): { call: CallExpr; ctx: EvalCtx; cond: string | null }[] {
    const sites: { call: CallExpr; ctx: EvalCtx; cond: string | null }[] = [];
    for (const file of this.ws.files.values()) {
      for (const c of file.facts.calls) {
        const callee = c.call.fn;
        const last = callee.k === 'name' ? callee.id : callee.k === 'attr' ? callee.attr : null;
        if (last !== fn.name) continue;
        const ctx: EvalCtx = { file, scope: c.scope };
        const v = this.ws.eval(ctx, callee);
        if (v.t === 'func' && v.fn === fn) sites.push({ call: c.call, ctx, cond: c.cond });
      }
    }
    return sites;
  }

  private bindArguments(fn: FuncFacts, call: CallExpr, ctx: EvalCtx): Map<string, Value> {
    const bindings = new Map<string, Value>();
    const params = fn.className && call.fn.k === 'attr' ? fn.params.slice(1) : fn.params;
    call.args.forEach((arg, i) => {
      const p = params[i];
      if (p && !p.variadic) bindings.set(p.name, this.ws.eval(ctx, arg));
    });
    for (const [name, arg] of Object.entries(call.kw))
      if (params.some((p) => p.name === name)) bindings.set(name, this.ws.eval(ctx, arg));
    return bindings;
  }

  /** Evaluate a path / prefix argument to text; unknown parts become `{expr}`. */
  pathText(ctx: EvalCtx, e: Expr | undefined): PathText {
    if (!e) return { text: '', unresolved: [] };
    const unresolved: string[] = [];
    const text = this.stringOf(ctx, e, unresolved, 0);
    return { text, unresolved };
  }

  private stringOf(ctx: EvalCtx, e: Expr, unresolved: string[], depth: number): string {
    if (depth > 20) return '';
    switch (e.k) {
      case 'str':
        if (e.fstring) {
          // Interpolations: `{settings.API_V1_STR}` evaluated when we can.
          return e.v.replace(/\{([^{}]+)\}/g, (m, inner: string) => {
            const name = inner.trim();
            if (!/^[A-Za-z_][\w.]*$/.test(name)) {
              unresolved.push(name);
              return m;
            }
            const parts = name.split('.');
            let expr: Expr = { k: 'name', id: parts[0], line: 0, col: 0 };
            for (const p of parts.slice(1))
              expr = { k: 'attr', obj: expr, attr: p, line: 0, col: 0 };
            const v = this.constString(ctx, expr, depth + 1);
            if (v === null) {
              unresolved.push(name);
              return m;
            }
            return v;
          });
        }
        return e.v;
      case 'binop':
        if (e.op === '+')
          return (
            this.stringOf(ctx, e.l, unresolved, depth + 1) +
            this.stringOf(ctx, e.r, unresolved, depth + 1)
          );
        break;
      case 'name':
      case 'attr': {
        const v = this.constString(ctx, e, depth + 1);
        if (v !== null) return v;
        break;
      }
      default:
        break;
    }
    const text = exprText(e);
    unresolved.push(text);
    return `{${text}}`;
  }

  /** A name or attribute bound to a string constant (settings classes included). */
  private constString(ctx: EvalCtx, e: Expr, depth: number): string | null {
    const v = this.ws.eval(ctx, e);
    if (v.t === 'str') return v.v;
    void depth;
    return null;
  }

  private visitDecorators(
    file: WorkspaceFile,
    fn: FuncFacts,
    bindings?: Map<string, Value>,
    outerCond: string | null = null,
  ): void {
    const ctx: EvalCtx = { file, scope: fn.scope, bindings };
    for (const d of fn.decorators) {
      const e = d.expr;
      if (e.k !== 'call' || e.fn.k !== 'attr') continue;
      const method = e.fn.attr;
      if (method === 'middleware') {
        const obj = this.receiver(ctx, e.fn.obj);
        if (obj && obj.kind === 'app') {
          const reg: MiddlewareReg = {
            file,
            line: d.line,
            col: d.col,
            name: fn.name,
            auth: !NOT_AUTH_MIDDLEWARE.test(fn.name) && this.deps.rejects(file, fn),
            authenticates: false,
            kind: 'function',
            cond: joinCond(outerCond, fn.cond),
          };
          obj.middleware.push(reg);
          this.note({ k: 'middleware', obj, reg });
        }
        continue;
      }
      if (!isRouteMethod(method)) continue;
      const obj = this.receiver(ctx, e.fn.obj);
      if (!obj) continue;
      this.addRoute(
        obj,
        this.routeReg(
          ctx,
          e,
          method,
          { file, fn },
          fn.name,
          d.line,
          d.col,
          joinCond(outerCond, fn.cond),
        ),
      );
    }
  }

  private addRoute(obj: RouterObj, reg: RouteReg): void {
    obj.routes.push(reg);
    this.note({ k: 'route', obj, reg });
  }

  private routeReg(
    ctx: EvalCtx,
    call: CallExpr,
    method: string,
    handler: { file: WorkspaceFile; fn: FuncFacts } | null,
    handlerName: string | null,
    line: number,
    col: number,
    cond: string | null,
    argOffset = 0,
  ): RouteReg {
    const websocket = method === 'websocket' || method === 'add_api_websocket_route';
    let methods: string[] = [];
    if (!websocket) {
      if (HTTP_ROUTE_METHODS[method]) methods = HTTP_ROUTE_METHODS[method];
      else {
        const m = call.kw.methods;
        const listed =
          m && m.k === 'list'
            ? m.items.flatMap((i) => (i.k === 'str' ? [i.v.toUpperCase()] : []))
            : [];
        methods = listed.length ? listed : ['GET'];
      }
    }
    return {
      kind: websocket ? 'websocket' : 'http',
      methods: [...new Set(methods)].sort(),
      path: this.pathText(ctx, call.args[argOffset] ?? call.kw.path),
      file: ctx.file,
      line,
      col,
      handler,
      handlerName,
      dependencies: this.deps.listUses(ctx, call.kw.dependencies),
      hidden: isFalse(call.kw.include_in_schema),
      deprecated: isTrue(call.kw.deprecated),
      cond,
      call,
    };
  }

  private handlerOf(
    ctx: EvalCtx,
    e: Expr | undefined,
  ): { file: WorkspaceFile; fn: FuncFacts } | null {
    if (!e) return null;
    const v = this.ws.eval(ctx, e);
    return v.t === 'func' ? { file: v.file, fn: v.fn } : null;
  }

  private visitCall(
    file: WorkspaceFile,
    call: CallExpr,
    scope: string,
    cond: string | null,
    bindings?: Map<string, Value>,
  ): void {
    const ctx: EvalCtx = { file, scope, bindings };
    // Call style: `app.get("/p")(handler)`.
    if (call.fn.k === 'call' && call.fn.fn.k === 'attr' && isRouteMethod(call.fn.fn.attr)) {
      const inner = call.fn;
      const obj = this.receiver(ctx, (inner.fn as Expr & { k: 'attr' }).obj);
      if (!obj) return;
      const handler = this.handlerOf(ctx, call.args[0]);
      this.addRoute(
        obj,
        this.routeReg(
          ctx,
          inner,
          (inner.fn as Expr & { k: 'attr' }).attr,
          handler,
          call.args[0] ? exprText(call.args[0]) : null,
          call.line,
          call.col,
          cond,
        ),
      );
      return;
    }
    if (call.fn.k !== 'attr') return;
    const method = call.fn.attr;
    if (!REGISTRATION_METHODS.has(method)) return;
    const obj = this.receiver(ctx, call.fn.obj);
    if (!obj) return;
    switch (method) {
      case 'include_router': {
        const childExpr = call.args[0] ?? call.kw.router;
        if (!childExpr) return;
        const childValue = this.ws.eval(ctx, childExpr);
        const children = childValue.t === 'list' ? childValue.items : [childValue];
        for (const cv of children) {
          const child = this.routerOf(cv);
          if (!child || child === obj) continue;
          child.parents++;
          const reg: IncludeReg = {
            child,
            prefix: this.pathText(ctx, call.kw.prefix),
            dependencies: this.deps.listUses(ctx, call.kw.dependencies),
            hidden: isFalse(call.kw.include_in_schema),
            deprecated: isTrue(call.kw.deprecated),
            cond,
            file,
            line: call.line,
            col: call.col,
          };
          obj.includes.push(reg);
          this.note({ k: 'include', obj, reg });
        }
        return;
      }
      case 'mount': {
        const target = call.args[1] ?? call.kw.app;
        if (!target) return;
        const value = this.ws.eval(ctx, target);
        const sub = this.routerOf(value);
        const subApp = sub && sub.kind === 'app' ? sub : null;
        if (subApp) subApp.parents++;
        const mountPath = this.pathText(ctx, call.args[0] ?? call.kw.path);
        // Starlette's Mount strips trailing slashes: mount("/", x) serves x at "".
        mountPath.text = mountPath.text.replace(/\/+$/, '');
        const reg: MountReg = {
          path: mountPath,
          subApp,
          targetText: exprText(target),
          target: value,
          cond,
          file,
          line: call.line,
          col: call.col,
        };
        obj.mounts.push(reg);
        this.note({ k: 'mount', obj, reg });
        return;
      }
      case 'add_api_route':
      case 'add_route':
      case 'add_api_websocket_route':
      case 'add_websocket_route': {
        const handlerExpr = call.args[1] ?? call.kw.endpoint ?? call.kw.route;
        const handler = this.handlerOf(ctx, handlerExpr);
        const kind = method.includes('websocket') ? 'add_api_websocket_route' : 'api_route';
        this.addRoute(
          obj,
          this.routeReg(
            ctx,
            call,
            kind,
            handler,
            handlerExpr ? exprText(handlerExpr) : null,
            call.line,
            call.col,
            cond,
          ),
        );
        return;
      }
      case 'add_middleware': {
        const target = call.args[0] ?? call.kw.middleware_class;
        if (!target) return;
        const v = this.ws.eval(ctx, target);
        const name = exprText(target);
        const judged = this.middlewareAuth(v, name);
        const reg: MiddlewareReg = {
          file,
          line: call.line,
          col: call.col,
          name,
          auth: judged === 'rejects',
          authenticates: judged === 'authenticates',
          kind: 'class',
          cond,
        };
        obj.middleware.push(reg);
        this.note({ k: 'middleware', obj, reg });
        return;
      }
      default:
        return;
    }
  }

  /** What a middleware class does to anonymous callers: rejects, only identifies, or neither. */
  private middlewareAuth(v: Value, name: string): 'rejects' | 'authenticates' | null {
    // Starlette's AuthenticationMiddleware runs the backend and lets anonymous callers through
    // as `UnauthenticatedUser` (its `on_error` answers only when the backend raises, i.e. for
    // bad credentials); `@requires(...)` or a check of `request.user` does the rejecting.
    if (v.t === 'external' && STARLETTE_AUTH_MIDDLEWARE.test(v.qname)) return 'authenticates';
    const simple = name.split('.').pop() ?? name;
    if (NOT_AUTH_MIDDLEWARE.test(simple)) return null;
    if (v.t === 'class') {
      // We can read it: judge by behaviour (a middleware that only sets request.state.user
      // protects nothing), and by its workspace base classes.
      for (const method of ['dispatch', '__call__']) {
        const m = this.ws.findMethod(v, method);
        if (m && this.deps.rejects(m.file, m.fn)) return 'rejects';
      }
      if (this.ws.externalAncestors(v).some((q) => STARLETTE_AUTH_MIDDLEWARE.test(q)))
        return 'authenticates';
      return null;
    }
    // Code we cannot read (another package's middleware): judged by its name, as before.
    return AUTH_MIDDLEWARE_NAME.test(simple) ? 'rejects' : null;
  }
}

// ---- equality of what evaluation found (pairAgain) -------------------------------------------

function sameStrings(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function samePath(a: PathText, b: PathText): boolean {
  return a.text === b.text && sameStrings(a.unresolved, b.unresolved);
}

function sameCtx(a: EvalCtx, b: EvalCtx): boolean {
  return a.file === b.file && a.scope === b.scope && !a.bindings && !b.bindings;
}

/** Values that stand for the same thing (what dependency analysis and routes read of them). */
export function sameValue(a: Value, b: Value, depth = 0): boolean {
  if (a === b) return true;
  if (a.t !== b.t || depth > 20) return false;
  switch (a.t) {
    case 'func':
      return b.t === 'func' && a.file === b.file && a.fn === b.fn;
    case 'class':
      return b.t === 'class' && a.file === b.file && a.cls === b.cls;
    case 'instance':
      return (
        b.t === 'instance' &&
        a.id === b.id &&
        a.call === b.call &&
        a.file === b.file &&
        a.scope === b.scope &&
        sameValue(a.of, b.of, depth + 1)
      );
    case 'external':
      return b.t === 'external' && a.qname === b.qname;
    case 'module':
      return b.t === 'module' && a.file === b.file;
    case 'annotated':
      return (
        b.t === 'annotated' &&
        a.expr === b.expr &&
        a.file === b.file &&
        a.scope === b.scope &&
        a.alias === b.alias
      );
    case 'list':
      return (
        b.t === 'list' &&
        a.items.length === b.items.length &&
        a.items.every((x, i) => sameValue(x, b.items[i], depth + 1))
      );
    case 'str':
      return b.t === 'str' && a.v === b.v;
    case 'param':
      return b.t === 'param' && a.file === b.file && a.fn === b.fn && a.name === b.name;
    case 'unknown':
      return b.t === 'unknown' && a.why === b.why;
  }
}

function sameUses(a: DepUse[], b: DepUse[]): boolean {
  return (
    a.length === b.length &&
    a.every((u, i) => {
      const v = b[i];
      return (
        u.refName === v.refName &&
        sameStrings(u.via, v.via) &&
        sameStrings(u.scopes, v.scopes) &&
        u.line === v.line &&
        sameCtx(u.ctx, v.ctx) &&
        sameValue(u.value, v.value)
      );
    })
  );
}

function sameHeader(a: RouterObj, b: RouterObj): boolean {
  return (
    a.id === b.id &&
    a.kind === b.kind &&
    a.name === b.name &&
    a.file === b.file &&
    a.line === b.line &&
    a.col === b.col &&
    samePath(a.prefix, b.prefix) &&
    sameUses(a.dependencies, b.dependencies) &&
    a.hidden === b.hidden &&
    a.deprecated === b.deprecated &&
    a.call === b.call &&
    sameCtx(a.ctx, b.ctx)
  );
}

function sameRouteReg(a: RouteReg, b: RouteReg): boolean {
  return (
    a.kind === b.kind &&
    sameStrings(a.methods, b.methods) &&
    samePath(a.path, b.path) &&
    a.file === b.file &&
    a.line === b.line &&
    a.col === b.col &&
    (a.handler === null
      ? b.handler === null
      : b.handler !== null && a.handler.file === b.handler.file && a.handler.fn === b.handler.fn) &&
    a.handlerName === b.handlerName &&
    sameUses(a.dependencies, b.dependencies) &&
    a.hidden === b.hidden &&
    a.deprecated === b.deprecated &&
    a.cond === b.cond &&
    a.call === b.call
  );
}

function sameIncludeReg(a: IncludeReg, b: IncludeReg): boolean {
  return (
    samePath(a.prefix, b.prefix) &&
    sameUses(a.dependencies, b.dependencies) &&
    a.hidden === b.hidden &&
    a.deprecated === b.deprecated &&
    a.cond === b.cond &&
    a.file === b.file &&
    a.line === b.line &&
    a.col === b.col
  );
}

function sameMountReg(a: MountReg, b: MountReg): boolean {
  return (
    samePath(a.path, b.path) &&
    a.targetText === b.targetText &&
    sameValue(a.target, b.target) &&
    a.cond === b.cond &&
    a.file === b.file &&
    a.line === b.line &&
    a.col === b.col
  );
}

function sameMiddleware(a: MiddlewareReg, b: MiddlewareReg): boolean {
  return (
    a.file === b.file &&
    a.line === b.line &&
    a.col === b.col &&
    a.name === b.name &&
    a.auth === b.auth &&
    a.authenticates === b.authenticates &&
    a.kind === b.kind &&
    a.cond === b.cond
  );
}

const REGISTRATION_METHODS = new Set([
  'include_router',
  'mount',
  'add_api_route',
  'add_route',
  'add_api_websocket_route',
  'add_websocket_route',
  'add_middleware',
]);

/** Starlette's class (FastAPI has no own); another package's class of that name stays opaque. */
const STARLETTE_AUTH_MIDDLEWARE = /^(starlette|fastapi)\.(\w+\.)*AuthenticationMiddleware$/;
const AUTH_MIDDLEWARE_NAME = /(auth|jwt|token|api_?key|oauth|bearer|keycloak|oidc)/i;
/** Middleware that may reject requests, but not because the caller is anonymous. */
const NOT_AUTH_MIDDLEWARE =
  /(cors|csrf|xsrf|gzip|compress|trusted_?host|https_?redirect|^session_?middleware$|rate_?limit|limiter|throttl|concurren|request_?limit|cache|logging|logger|access_?log|metric|tracing|tracer|telemetry|timing|prometheus|sentry|request_?id|security_?headers|body_?size|content_?length|maintenance)/i;

function joinCond(outer: string | null, inner: string | null): string | null {
  if (outer && inner) return `${outer} / ${inner}`;
  return outer ?? inner;
}

export function isRouteMethod(m: string): boolean {
  return m in HTTP_ROUTE_METHODS || m === 'api_route' || m === 'websocket';
}

function isFalse(e: Expr | undefined): boolean {
  return !!e && e.k === 'bool' && !e.v;
}

function isTrue(e: Expr | undefined): boolean {
  return !!e && e.k === 'bool' && e.v;
}

export { dottedName };
