import type { Expr, FuncFacts, ParamFacts } from './facts';
import { dottedName } from './facts';
import type { AuthBasis, DependencyNode, AuthLevel } from './types';
import type { CallExpr, EvalCtx, Value, Workspace, WorkspaceFile } from './workspace';

/**
 * Dependencies: turning `Depends(...)` / `Security(...)` references into FastAPI's dependant
 * tree, and judging by behaviour (not by name) which of them authenticate the caller.
 */

export interface DepUse {
  /** The name the route (or level) uses: `get_current_user`, or the alias `CurrentUser`. */
  refName: string;
  /** Names on the way to the callable (alias first), for the proof chain. */
  via: string[];
  value: Value;
  scopes: string[];
  line: number;
  ctx: EvalCtx;
}

export interface AuthVerdict {
  basis: AuthBasis;
  enforcing: boolean;
  scopes: string[];
  roleCheck: boolean;
  /** Names below the use, down to what makes it auth. */
  chain: string[];
  confidence: 'high' | 'low';
}

export interface DepAnalysis {
  node: DependencyNode;
  verdict: AuthVerdict | null;
  /**
   * Why we cannot tell what the dependency does to an anonymous caller: dependencies in the
   * tree that could not be resolved, or an auth-like name with no rejection behind it.
   */
  unresolved: string[];
}

const NAME_ONLY =
  'named like an auth dependency but no rejection seen (no 401/403 raised in it or its sub-dependencies; functions it calls are not followed)';

/** The `unresolved` reason of a dependency that is auth by its name only (see nameVerdict). */
export function nameOnlyReason(refName: string): string {
  return `${refName}: ${NAME_ONLY}`;
}

export function isNameOnlyReason(reason: string): boolean {
  return reason.endsWith(`: ${NAME_ONLY}`);
}

/** FastAPI security scheme classes (fastapi.security). */
const SCHEME_CLASSES = new Set([
  'OAuth2',
  'OAuth2PasswordBearer',
  'OAuth2AuthorizationCodeBearer',
  'HTTPBearer',
  'HTTPBasic',
  'HTTPDigest',
  'HTTPBase',
  'APIKeyHeader',
  'APIKeyQuery',
  'APIKeyCookie',
  'APIKeyBase',
  'OpenIdConnect',
  'SecurityBase',
]);

/** Top-level modules of well-known FastAPI auth libraries. */
const AUTH_LIBRARIES = new Set([
  'fastapi_users',
  'fastapi_login',
  'fastapi_jwt_auth',
  'async_fastapi_jwt_auth',
  'fastapi_jwt',
  'authx',
  'fastapi_azure_auth',
  'fastapi_auth0',
  'fastapi_cloudauth',
  'fastapi_keycloak',
  'fastapi_keycloak_middleware',
  'fief_client',
  'propelauth_fastapi',
  'supertokens_python',
  'fastapi_permissions',
  'fastapi_simple_security',
  'clerk_backend_api',
  'firebase_admin',
]);

/** Low-confidence fallback: names that usually mean authentication. */
const AUTH_NAME =
  /(current_?user|current_?active|authenticat|authoriz|verify_?(token|jwt|api_?key|key|user|access)|require_?(auth|user|login|admin|role|scope|permission)|get_?user_?from_?token|check_?(auth|token|api_?key|permission|role)|api_?key|validate_?token|token_?required|login_?required|is_?authenticated|jwt)/i;

const ROLE_WORDS =
  /\b(is_superuser|is_admin|is_staff|is_owner|superuser|admin|owner|roles?|permissions?|scopes?|groups?|privileges?|has_perm\w*|has_role\w*|has_scope\w*|can_\w+|is_allowed|permitted|access_level)\b/i;

const AUTH_STATUS_MENTIONS = [
  '401',
  '403',
  'HTTP_401_UNAUTHORIZED',
  'HTTP_403_FORBIDDEN',
  'UNAUTHORIZED',
  'FORBIDDEN',
];

export interface DependencyOptions {
  /** Names or qualified names (`module:func`) configured as auth dependencies. */
  authDependencies: string[];
}

function lastSegment(q: string): string {
  const parts = q.split('.');
  return parts[parts.length - 1];
}

function rootModule(q: string): string {
  return q.split('.')[0];
}

function exprText(e: Expr): string {
  switch (e.k) {
    case 'name':
      return e.id;
    case 'attr':
      return `${exprText(e.obj)}.${e.attr}`;
    case 'call':
      return e.text;
    case 'str':
      return JSON.stringify(e.v);
    case 'sub':
      return `${exprText(e.obj)}[${e.idx.map(exprText).join(', ')}]`;
    case 'other':
      return e.text;
    default:
      return e.k;
  }
}

export { exprText };

function stringList(e: Expr | undefined): string[] {
  if (!e) return [];
  if (e.k === 'list') return e.items.flatMap((i) => (i.k === 'str' ? [i.v] : []));
  if (e.k === 'str') return [e.v];
  return [];
}

export class DependencyAnalyzer {
  private readonly treeCache = new Map<
    string,
    { children: DependencyNode[]; unresolved: string[] }
  >();
  private readonly verdictCache = new Map<string, AuthVerdict | null>();
  private readonly configured: Set<string>;
  /**
   * A tree or verdict was cut short (a cycle, the depth limit): what the caches hold depends
   * on the order dependencies were asked in, so another analysis must not reuse them.
   */
  orderSensitive = false;
  /** What each cached id was computed for (ids of different values may coincide). */
  private readonly origins = new Map<string, unknown>();

  /**
   * Take the cached trees and verdicts of another analyzer whose ids `keep` accepts (what
   * they read did not change: incremental/combine.ts decides).
   */
  seedFrom(other: DependencyAnalyzer, keep: (id: string) => boolean): void {
    for (const [id, tree] of other.treeCache)
      if (keep(id)) {
        this.treeCache.set(id, tree);
        this.origins.set(id, other.origins.get(id));
      }
    for (const [id, verdict] of other.verdictCache)
      if (keep(id)) {
        this.verdictCache.set(id, verdict);
        this.origins.set(id, other.origins.get(id));
      }
  }

  /** A cache hit for another value with the same id: the cache depends on the order. */
  private sameOrigin(id: string, v: Value): void {
    if (this.origins.has(id) && this.origins.get(id) !== originOf(v)) this.orderSensitive = true;
  }

  constructor(
    readonly ws: Workspace,
    options: DependencyOptions,
  ) {
    this.configured = new Set(options.authDependencies);
  }

  /** `Depends` / `Security` / null for a call expression. */
  dependsKind(ctx: EvalCtx, e: Expr): 'depends' | 'security' | null {
    if (e.k !== 'call') return null;
    const name = dottedName(e.fn);
    if (!name) return null;
    const last = name.split('.').pop();
    if (last !== 'Depends' && last !== 'Security') return null;
    const v = this.ws.eval(ctx, e.fn);
    if (v.t === 'external') {
      if (!/^(fastapi|starlette)\b/.test(v.qname)) return null;
      return lastSegment(v.qname) === 'Security' ? 'security' : 'depends';
    }
    // Unresolved (e.g. the import is missing while typing): trust the conventional name.
    if (v.t === 'unknown') return last === 'Security' ? 'security' : 'depends';
    return null;
  }

  /** A `Depends(x)` / `Security(x, scopes=[...])` call used in some context. */
  useFromDependsCall(
    ctx: EvalCtx,
    call: CallExpr,
    annotation: Expr | null,
    via: string[],
  ): DepUse | null {
    const kind = this.dependsKind(ctx, call);
    if (!kind) return null;
    let target: Expr | undefined = call.args[0] ?? call.kw.dependency;
    if (!target || target.k === 'none') target = annotation ?? undefined;
    if (!target) return null;
    // `Depends()` on `Annotated[T, Depends()]` means T.
    if (target.k === 'sub' && annotation === target) target = target.idx[0];
    const scopes = kind === 'security' ? stringList(call.kw.scopes ?? call.args[1]) : [];
    const refName = exprText(target);
    return {
      refName: via[0] ?? refName,
      via: [...via, refName],
      value: this.ws.eval(ctx, target),
      scopes,
      line: call.line,
      ctx,
    };
  }

  /** The dependency a handler or dependency parameter declares, if any. */
  paramUse(ctx: EvalCtx, p: ParamFacts): DepUse | null {
    if (p.variadic) return null;
    if (p.default && p.default.k === 'call') {
      const use = this.useFromDependsCall(ctx, p.default, p.annotation, []);
      if (use) return use;
    }
    if (!p.annotation) return null;
    return this.annotationUse(ctx, p.annotation, []);
  }

  private annotationUse(ctx: EvalCtx, ann: Expr, via: string[]): DepUse | null {
    if (ann.k === 'sub') {
      const head = dottedName(ann.obj);
      if (!head || !/(^|\.)Annotated$/.test(head)) return null;
      for (const meta of ann.idx.slice(1)) {
        if (meta.k !== 'call') continue;
        const use = this.useFromDependsCall(ctx, meta, ann.idx[0] ?? null, via);
        if (use) return use;
      }
      return null;
    }
    if (ann.k === 'name' || ann.k === 'attr') {
      // A type alias: `CurrentUser = Annotated[User, Depends(get_current_user)]`.
      const v = this.ws.eval(ctx, ann);
      if (v.t === 'annotated') {
        return this.annotationUse({ file: v.file, scope: v.scope }, v.expr, [
          ...via,
          exprText(ann),
        ]);
      }
    }
    return null;
  }

  /** The uses in a `dependencies=[...]` list. */
  listUses(ctx: EvalCtx, e: Expr | undefined): DepUse[] {
    if (!e) return [];
    const items = e.k === 'list' ? e.items : [];
    if (e.k === 'name' || e.k === 'attr') {
      // `dependencies=AUTH_DEPS` where AUTH_DEPS = [Depends(...)] elsewhere.
      const v = this.ws.eval(ctx, e);
      if (v.t !== 'list') return [];
      return this.listFromValue(ctx, e);
    }
    const uses: DepUse[] = [];
    for (const item of items) {
      if (item.k !== 'call') continue;
      const use = this.useFromDependsCall(ctx, item, null, []);
      if (use) uses.push(use);
    }
    return uses;
  }

  private listFromValue(ctx: EvalCtx, e: Expr): DepUse[] {
    // Find the literal list behind a name so its Depends() calls keep their own context.
    const name = dottedName(e);
    if (!name || name.includes('.')) return [];
    const idx = this.ws.fileIndex(ctx.file);
    for (const scope of [ctx.scope, '']) {
      const bindings = idx.scopes.get(scope)?.get(name);
      const b = bindings?.[bindings.length - 1];
      if (b && b.kind === 'assign') return this.listUses({ file: ctx.file, scope }, b.a.value);
    }
    return [];
  }

  /** The body that FastAPI calls for a dependency value, and the params it inspects. */
  private callableBody(v: Value): { file: WorkspaceFile; fn: FuncFacts; skipSelf: boolean } | null {
    if (v.t === 'func') return { file: v.file, fn: v.fn, skipSelf: v.fn.className !== null };
    if (v.t === 'class') {
      const init = this.ws.findMethod(v, '__init__');
      return init ? { ...init, skipSelf: true } : null;
    }
    if (v.t === 'instance' && v.of.t === 'class') {
      const call = this.ws.findMethod(v.of, '__call__');
      return call ? { ...call, skipSelf: true } : null;
    }
    return null;
  }

  callableId(v: Value, refName: string): string {
    switch (v.t) {
      case 'func':
        return `${v.file.module}:${v.fn.qualname}`;
      case 'class':
        return `${v.file.module}:${v.cls.qualname}`;
      case 'instance':
        if (v.of.t === 'class') return `${v.of.file.module}:${v.of.cls.qualname}()`;
        if (v.of.t === 'external') return `${lastSegment(v.of.qname.replace(/\(\)/g, ''))}()`;
        return `?${refName}`;
      case 'external':
        return lastSegment(v.qname.replace(/\(\)/g, ''));
      default:
        return `?${refName}`;
    }
  }

  private location(v: Value): { file: string | null; line: number | null } {
    switch (v.t) {
      case 'func':
        return { file: v.file.rel, line: v.fn.line };
      case 'class':
        return { file: v.file.rel, line: v.cls.line };
      case 'instance':
        return { file: v.file.rel, line: v.call.line };
      default:
        return { file: null, line: null };
    }
  }

  /** Sub-dependency uses declared by a dependency's parameters. */
  childUses(v: Value): DepUse[] {
    const body = this.callableBody(v);
    if (!body) return [];
    const ctx: EvalCtx = { file: body.file, scope: body.fn.scope };
    const params = body.skipSelf ? body.fn.params.slice(1) : body.fn.params;
    const uses: DepUse[] = [];
    for (const p of params) {
      const use = this.paramUse(ctx, p);
      if (use) uses.push(use);
    }
    return uses;
  }

  /** Build the dependant node for a use, and the auth verdict of the whole subtree. */
  analyze(use: DepUse, level: AuthLevel): DepAnalysis {
    const id = this.callableId(use.value, use.refName);
    const sub = this.subtree(use.value, id, new Set());
    const loc = this.location(use.value);
    const node: DependencyNode = {
      callable: id,
      name: use.refName,
      level,
      file: loc.file,
      line: loc.line,
      children: sub.children,
    };
    const unresolved = [...sub.unresolved];
    const opaque = this.opaqueReason(use.value);
    if (opaque) unresolved.unshift(`${use.refName}: ${opaque}`);
    const base = this.verdict(use.value, id, new Set());
    // Behaviour first; configured names and the name fallback only when behaviour says nothing.
    const verdict: AuthVerdict | null = base
      ? {
          ...base,
          scopes: unique([...use.scopes, ...base.scopes]),
          chain: [...use.via, ...base.chain.slice(1)],
        }
      : this.nameVerdict(use, id);
    // An auth-like name with no rejection we can see: FastAPI serves anonymous callers unless
    // code we do not follow (a helper it calls) rejects them, so the route's exposure is unknown.
    if (verdict?.basis === 'name') unresolved.push(nameOnlyReason(use.refName));
    return { node, verdict, unresolved };
  }

  private subtree(
    v: Value,
    id: string,
    path: Set<string>,
  ): { children: DependencyNode[]; unresolved: string[] } {
    const cached = this.treeCache.get(id);
    if (cached && v.t !== 'unknown') {
      this.sameOrigin(id, v);
      return cached;
    }
    if (path.has(id) || path.size > 30) {
      this.orderSensitive = true;
      return { children: [], unresolved: [] };
    }
    path.add(id);
    const children: DependencyNode[] = [];
    const unresolved: string[] = [];
    for (const use of this.childUses(v)) {
      const cid = this.callableId(use.value, use.refName);
      const sub = this.subtree(use.value, cid, path);
      const loc = this.location(use.value);
      children.push({
        callable: cid,
        name: use.refName,
        level: 'parameter',
        file: loc.file,
        line: loc.line,
        children: sub.children,
      });
      const opaque = this.opaqueReason(use.value);
      if (opaque) unresolved.push(`${use.refName}: ${opaque}`);
      unresolved.push(...sub.unresolved);
    }
    path.delete(id);
    const result = { children, unresolved };
    if (v.t !== 'unknown') {
      this.treeCache.set(id, result);
      this.origins.set(id, originOf(v));
    }
    return result;
  }

  /**
   * Told of every function whose body facts (raises, error responses, guards, mentions) are
   * read, by verdicts or rules: the editor's incremental path re-runs the workspace passes
   * only when those of such a function change (incremental/trace.ts).
   */
  bodyRead: ((abs: string, qualname: string) => void) | null = null;

  /** Does this function reject callers itself (raise / return 401 or 403)? */
  rejects(file: WorkspaceFile, fn: FuncFacts, depth = 0): boolean {
    if (depth > 8) return false;
    this.bodyRead?.(file.abs, fn.qualname);
    const mentionsStatus = AUTH_STATUS_MENTIONS.some((m) => fn.mentions.includes(m));
    if ((fn.raises.length > 0 || fn.responseCalls.length > 0) && mentionsStatus) return true;
    // `raise credentials_exception` / `raise NotAuthenticated()` defined elsewhere.
    for (const r of fn.raises) {
      const target = r.expr.k === 'call' ? r.expr.fn : r.expr;
      if (target.k !== 'name' && target.k !== 'attr') continue;
      const v = this.ws.eval({ file, scope: fn.qualname }, target);
      if (v.t === 'instance' && this.isAuthErrorCall(v.call)) return true;
      if (v.t === 'class') {
        for (const { file: f, cls } of this.ws.workspaceAncestors(v)) {
          const status = cls.attrs.status_code;
          if (status && isAuthStatus(status)) return true;
          const init = cls.methods.__init__ ? this.ws.func(f, cls.methods.__init__) : undefined;
          if (init) this.bodyRead?.(f.abs, init.qualname);
          if (init && AUTH_STATUS_MENTIONS.some((m) => init.mentions.includes(m))) return true;
          // `def __init__(self, message="Unauthorized", status_code: int = 401)`.
          if (init && init.params.some((p) => p.default !== null && isAuthStatus(p.default)))
            return true;
        }
      }
    }
    // `return await super().__call__(...)`: the base class's method decides.
    if (fn.className && fn.mentions.includes('super')) {
      const cls = this.ws.cls(file, fn.className);
      if (cls) {
        const [, ...bases] = this.ws.workspaceAncestors({ t: 'class', file, cls });
        for (const base of bases) {
          const q = base.cls.methods[fn.name];
          const method = q ? this.ws.func(base.file, q) : undefined;
          if (method) return this.rejects(base.file, method, depth + 1);
        }
      }
    }
    return false;
  }

  private isAuthErrorCall(call: CallExpr): boolean {
    const status = call.kw.status_code ?? call.args[0];
    return !!status && isAuthStatus(status);
  }

  roleCheck(file: WorkspaceFile, fn: FuncFacts): boolean {
    this.bodyRead?.(file.abs, fn.qualname);
    const takesScopes = fn.params.some(
      (p) => p.annotation !== null && /(^|\.)SecurityScopes$/.test(dottedName(p.annotation) ?? ''),
    );
    if (takesScopes && fn.guards.length > 0) return true;
    return fn.guards.some((g) => ROLE_WORDS.test(g.condition));
  }

  schemeInstance(v: Value): { enforcing: boolean } | null {
    if (v.t !== 'instance') return null;
    const ancestors = this.ws.externalAncestors(v.of);
    const isScheme = ancestors.some(
      (q) =>
        /^fastapi\.security\b/.test(q) ||
        (q.startsWith('fastapi.') && SCHEME_CLASSES.has(lastSegment(q))),
    );
    if (!isScheme) return null;
    const autoError = v.call.kw.auto_error;
    return { enforcing: !(autoError && autoError.k === 'bool' && !autoError.v) };
  }

  libraryAuth(v: Value): { enforcing: boolean } | null {
    let qname: string | null = null;
    let call: CallExpr | null = null;
    if (v.t === 'external') qname = v.qname;
    else if (v.t === 'instance' && v.of.t === 'external') {
      qname = v.of.qname;
      call = v.call;
    }
    if (!qname || !AUTH_LIBRARIES.has(rootModule(qname))) return null;
    const optional = call?.kw.optional;
    return { enforcing: !(optional && optional.k === 'bool' && optional.v) };
  }

  /** Behavioural auth verdict for a dependency value; chain starts with a placeholder. */
  verdict(v: Value, id: string, path: Set<string>): AuthVerdict | null {
    if (this.verdictCache.has(id) && v.t !== 'unknown') {
      this.sameOrigin(id, v);
      return this.verdictCache.get(id) ?? null;
    }
    if (path.has(id) || path.size > 30) {
      this.orderSensitive = true;
      return null;
    }
    path.add(id);
    const result = this.computeVerdict(v, id, path);
    path.delete(id);
    if (v.t !== 'unknown') {
      this.verdictCache.set(id, result);
      this.origins.set(id, originOf(v));
    }
    return result;
  }

  private computeVerdict(v: Value, id: string, path: Set<string>): AuthVerdict | null {
    const scheme = this.schemeInstance(v);
    if (scheme)
      return {
        basis: 'scheme',
        enforcing: scheme.enforcing,
        scopes: [],
        roleCheck: false,
        chain: [id],
        confidence: 'high',
      };
    const lib = this.libraryAuth(v);
    if (lib)
      return {
        basis: 'library',
        enforcing: lib.enforcing,
        scopes: [],
        roleCheck: false,
        chain: [id],
        confidence: 'high',
      };
    const body = this.callableBody(v);
    if (!body) return null;
    let best: { use: DepUse; verdict: AuthVerdict } | null = null;
    for (const use of this.childUses(v)) {
      const cid = this.callableId(use.value, use.refName);
      const child = this.verdict(use.value, cid, path);
      if (!child) continue;
      const withScopes = { ...child, scopes: unique([...use.scopes, ...child.scopes]) };
      if (!best || rank(withScopes) > rank(best.verdict)) best = { use, verdict: withScopes };
    }
    const ownRejects = this.rejects(body.file, body.fn);
    const ownRole = this.roleCheck(body.file, body.fn);
    if (best && best.verdict.confidence === 'high') {
      return {
        basis: best.verdict.basis,
        enforcing: best.verdict.enforcing || ownRejects,
        scopes: best.verdict.scopes,
        roleCheck: best.verdict.roleCheck || (ownRole && ownRejects),
        chain: [id, ...best.use.via, ...best.verdict.chain.slice(1)],
        confidence: 'high',
      };
    }
    if (ownRejects)
      return {
        basis: 'rejects',
        enforcing: true,
        scopes: best?.verdict.scopes ?? [],
        roleCheck: ownRole || (best?.verdict.roleCheck ?? false),
        chain: [id],
        confidence: 'high',
      };
    if (best)
      return {
        ...best.verdict,
        chain: [id, ...best.use.via, ...best.verdict.chain.slice(1)],
      };
    return null;
  }

  /**
   * Why we cannot see what a dependency does, or null when we can: unresolved names and
   * callables from outside the workspace (other than FastAPI's own and known auth libraries).
   */
  opaqueReason(v: Value): string | null {
    if (v.t === 'unknown') return v.why;
    let qname: string | null = null;
    if (v.t === 'external') qname = v.qname;
    else if (v.t === 'instance' && v.of.t === 'external') qname = v.of.qname;
    if (qname === null) return null;
    if (this.schemeInstance(v) || this.libraryAuth(v)) return null;
    if (/^(fastapi|starlette|pydantic|typing|typing_extensions|builtins)\b/.test(qname))
      return null;
    return `defined outside the workspace (${qname.replace(/\(\)/g, '')})`;
  }

  /** Configured names, then the low-confidence name fallback. */
  private nameVerdict(use: DepUse, id: string): AuthVerdict | null {
    const names = [use.refName, ...use.via, id, id.split(':').pop() ?? ''];
    if (names.some((n) => this.configured.has(n)))
      return {
        basis: 'config',
        enforcing: true,
        scopes: use.scopes,
        roleCheck: use.scopes.length > 0,
        chain: use.via,
        confidence: 'high',
      };
    // The name fallback is for workspace callables that show no behaviour either way; what we
    // cannot see at all stays unresolved (exposure `unknown`) rather than guessed. A name is not
    // protection: the verdict is listed (low confidence) but does not enforce.
    if (this.opaqueReason(use.value) !== null) return null;
    const target = use.via[use.via.length - 1] ?? use.refName;
    const simple = target.split('.').pop() ?? target;
    if (AUTH_NAME.test(simple))
      return {
        basis: 'name',
        enforcing: false,
        scopes: use.scopes,
        roleCheck: false,
        chain: use.via,
        confidence: 'low',
      };
    return null;
  }
}

/** The object (or name) a dependency value stands for, to tell values sharing an id apart. */
function originOf(v: Value): unknown {
  switch (v.t) {
    case 'func':
      return v.fn;
    case 'class':
      return v.cls;
    case 'instance':
      return v.call;
    case 'external':
      return v.qname;
    default:
      return v.t;
  }
}

function rank(v: AuthVerdict): number {
  return (v.confidence === 'high' ? 4 : 0) + (v.enforcing ? 2 : 0) + (v.roleCheck ? 1 : 0);
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

export function isAuthStatus(e: Expr): boolean {
  if (e.k === 'num') return e.v === 401 || e.v === 403;
  const name = dottedName(e);
  if (!name) return false;
  return /(HTTP_401_UNAUTHORIZED|HTTP_403_FORBIDDEN|\bUNAUTHORIZED|\bFORBIDDEN)$/.test(name);
}
