/**
 * Public data model of the engine. Everything here is plain data (JSON-serialisable) so that
 * per-file facts can cross worker threads and the route inventory can be printed as-is.
 */

export type Exposure = 'public' | 'authenticated' | 'scoped' | 'middleware' | 'unknown';
export type RouteKind = 'http' | 'websocket' | 'mount';
export type AuthLevel =
  'app' | 'mount' | 'include' | 'router' | 'decorator' | 'parameter' | 'middleware';

/** Why a dependency counts as authentication, strongest first. */
export type AuthBasis =
  | 'scheme' // reaches a FastAPI security scheme (OAuth2PasswordBearer, HTTPBearer, ...)
  | 'library' // a well-known auth library's dependency (fastapi-users, ...)
  | 'rejects' // raises HTTPException 401/403 itself
  | 'config' // named in `auth-dependencies`
  | 'name'; // named like auth, no rejection seen: never enforcing, makes the route `unknown`

/** One auth dependency that applies to a route, with the chain that proves it. */
export interface RouteAuth {
  /** The dependency as the route (or level) names it, e.g. `get_current_user`. */
  dependency: string;
  level: AuthLevel;
  /** Where the dependency callable is defined (POSIX, relative to cwd), or null when external. */
  file: string | null;
  line: number | null;
  scopes: string[];
  /**
   * False when the dependency is present but lets anonymous callers through (a scheme with
   * `auto_error=False`, a name-only verdict, Starlette's `AuthenticationMiddleware`).
   */
  enforcing: boolean;
  /** Names from the route's reference down to what makes it auth. */
  chain: string[];
  basis: AuthBasis;
  /** True when the dependency also checks a role / scope / superuser flag. */
  roleCheck: boolean;
  /** `high` unless the verdict rests on the name alone. */
  confidence: 'high' | 'low';
  /** For middleware: the `if`/`try` clause its registration sits in (protection may be off). */
  conditional?: string | null;
}

/** A node of a route's dependency tree, mirroring FastAPI's dependant tree. */
export interface DependencyNode {
  /**
   * Canonical callable id: `module:qualname` for workspace functions/classes,
   * `module:qualname()` for workspace instances, `Name` / `Name()` for external ones,
   * `?name` when it could not be resolved.
   */
  callable: string;
  /** Source text of the reference, e.g. `get_current_user` or `deps.CurrentUser`. */
  name: string;
  level: AuthLevel;
  file: string | null;
  line: number | null;
  children: DependencyNode[];
}

export interface Route {
  methods: string[];
  path: string;
  kind: RouteKind;
  file: string;
  line: number;
  /** 0-based column of the decorator / registration call (for editors). */
  column: number;
  function: string | null;
  exposure: Exposure;
  auth: RouteAuth[];
  hidden: boolean;
  /** Text of the enclosing `if`/`try` condition(s), or null. */
  conditional: string | null;
  deprecated: boolean;
  /** Name of the root app (`module:variable`) or null when no app includes it. */
  app: string | null;
  /** Routers it passed through, outermost first (`module:variable`). */
  routers: string[];
  /** Line where the handler function is defined (1-based), or null. */
  handlerLine: number | null;
  /** Why exposure is `unknown`, or unresolved dependencies worth knowing about. */
  unresolved: string[];
  /** Auth middleware that covers this route (HTTP only), enforcing or not (see `auth`). */
  middleware: string[];
  /** `# fastapi-lens: public reason` on the route, when present. */
  publicReason: string | null;
  dependencies: DependencyNode[];
  /** For `mount` routes: what is mounted (source text). */
  target?: string;
}

export interface EngineDiagnostic {
  file: string;
  message: string;
  line?: number;
}

export interface RoutesReport {
  version: 1;
  root: string;
  routes: Route[];
  diagnostics: EngineDiagnostic[];
}
