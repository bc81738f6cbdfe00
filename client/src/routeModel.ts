/**
 * Presentation of the route inventory for the Route Exposure view: labels, descriptions, icon
 * states, tooltips, grouping and filters. Pure functions over the server's `Route` objects (no
 * `vscode` import), so they are unit-tested in plain Node.
 */
import type { Exposure, Route } from '../../server/src/engine/types';

export type GroupBy = 'exposure' | 'router' | 'file';

export interface RouteFilter {
  publicOnly: boolean;
  writeOnly: boolean;
}

/** Icon state of a route; each has an SVG in `media/states/<state>.svg`. */
export type RouteState =
  | 'public'
  | 'public-marked'
  | 'authenticated'
  | 'scoped'
  | 'middleware'
  | 'unknown'
  | 'hidden-public'
  | 'hidden-protected'
  | 'conditional-public'
  | 'conditional-protected';

export const WRITE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Exposure groups, most urgent first. */
export const EXPOSURE_ORDER: readonly Exposure[] = [
  'public',
  'unknown',
  'middleware',
  'authenticated',
  'scoped',
];

export const EXPOSURE_LABEL: Record<Exposure, string> = {
  public: 'Public',
  unknown: 'Unknown',
  middleware: 'Middleware only',
  authenticated: 'Authenticated',
  scoped: 'Scoped',
};

const EXPOSURE_MEANING: Record<Exposure, string> = {
  public: 'reachable without authentication',
  unknown: 'could not be decided statically',
  middleware: 'only a middleware guards it',
  authenticated: 'requires an authenticated user',
  scoped: 'requires an authenticated user with scopes or a role',
};

export function isWriteRoute(route: Route): boolean {
  return route.kind === 'http' && route.methods.some((m) => WRITE_METHODS.has(m));
}

/**
 * Public routes that change data and are not marked public on purpose (`# fastapi-lens: public
 * <reason>`): what the status bar and the view badge count, the routes that need a decision.
 */
export function countPublicWrite(routes: readonly Route[]): number {
  return routes.filter((r) => r.exposure === 'public' && r.publicReason === null && isWriteRoute(r))
    .length;
}

/** Exposure that is not backed by an authentication dependency or middleware. */
function isOpen(route: Route): boolean {
  return route.exposure === 'public' || route.exposure === 'unknown';
}

export function routeState(route: Route): RouteState {
  if (route.hidden) return isOpen(route) ? 'hidden-public' : 'hidden-protected';
  if (route.conditional) return isOpen(route) ? 'conditional-public' : 'conditional-protected';
  // Public on purpose (`# fastapi-lens: public <reason>`): decided, so not red.
  if (route.exposure === 'public' && route.publicReason !== null) return 'public-marked';
  return route.exposure;
}

export function routeMethodLabel(route: Route): string {
  if (route.kind === 'websocket') return 'WS';
  if (route.kind === 'mount') return 'MOUNT';
  const methods = route.methods.filter((m) => m !== 'HEAD' || route.methods.length === 1);
  return methods.length > 0 ? methods.join('|') : 'ANY';
}

/** `POST /items/{item_id}` */
export function routeLabel(route: Route): string {
  return `${routeMethodLabel(route)} ${route.path || '/'}`;
}

function shortCallable(name: string): string {
  const colon = name.lastIndexOf(':');
  return colon >= 0 ? name.slice(colon + 1) : name;
}

/** The auth dependency (or why there is none), then the notable flags. */
export function routeDescription(route: Route): string {
  const parts: string[] = [];
  const enforcing = route.auth.filter((a) => a.enforcing);
  const auth = enforcing[0] ?? route.auth[0];
  if (auth) {
    const scopes = auth.scopes.length > 0 ? ` [${auth.scopes.join(', ')}]` : '';
    const more = route.auth.length > 1 ? ` +${route.auth.length - 1}` : '';
    parts.push(`${auth.dependency}${scopes} · ${auth.level}${more}`);
  } else if (route.middleware.length > 0) {
    parts.push(`${route.middleware.map(shortCallable).join(', ')} · middleware`);
  } else if (route.publicReason !== null) {
    parts.push(route.publicReason ? `public: ${route.publicReason}` : 'marked public');
  } else if (route.exposure === 'unknown') {
    const first = route.unresolved[0];
    parts.push(first ? `unresolved: ${first.split(':')[0]}` : 'unknown');
  } else if (route.exposure === 'public') {
    parts.push('no auth');
  }
  if (route.hidden) parts.push('hidden');
  if (route.conditional) parts.push(route.conditional);
  if (route.deprecated) parts.push('deprecated');
  return parts.join(' · ');
}

export function filterRoutes(routes: readonly Route[], filter: RouteFilter): Route[] {
  return routes.filter(
    (r) =>
      (!filter.publicOnly || r.exposure === 'public') && (!filter.writeOnly || isWriteRoute(r)),
  );
}

export function compareRoutes(a: Route, b: Route): number {
  return (
    a.path.localeCompare(b.path) ||
    routeMethodLabel(a).localeCompare(routeMethodLabel(b)) ||
    a.file.localeCompare(b.file) ||
    a.line - b.line
  );
}

export interface RouteGroup {
  /** Stable id (exposure name, router id or file path). */
  key: string;
  label: string;
  /** Secondary text, e.g. the module of a router or the folder of a file. */
  detail: string;
  /** Exposure for exposure groups (their icon), else null. */
  exposure: Exposure | null;
  kind: GroupBy;
  routes: Route[];
}

function routerOf(route: Route): string {
  return route.routers[route.routers.length - 1] ?? route.app ?? '(not included in an app)';
}

function splitPath(file: string): { dir: string; base: string } {
  const slash = file.lastIndexOf('/');
  return slash < 0
    ? { dir: '', base: file }
    : { dir: file.slice(0, slash), base: file.slice(slash + 1) };
}

export function groupRoutes(routes: readonly Route[], groupBy: GroupBy): RouteGroup[] {
  const sorted = [...routes].sort(compareRoutes);
  if (groupBy === 'exposure') {
    return EXPOSURE_ORDER.map((exposure) => ({
      key: exposure,
      label: EXPOSURE_LABEL[exposure],
      detail: EXPOSURE_MEANING[exposure],
      exposure,
      kind: groupBy,
      routes: sorted.filter((r) => r.exposure === exposure),
    })).filter((g) => g.routes.length > 0);
  }
  const groups = new Map<string, RouteGroup>();
  for (const route of sorted) {
    const key = groupBy === 'router' ? routerOf(route) : route.file;
    let group = groups.get(key);
    if (!group) {
      let label = key;
      let detail = '';
      if (groupBy === 'router') {
        const colon = key.lastIndexOf(':');
        if (colon > 0) {
          label = key.slice(colon + 1);
          detail = key.slice(0, colon);
        }
      } else {
        const { dir, base } = splitPath(key);
        label = base;
        detail = dir;
      }
      group = { key, label, detail, exposure: null, kind: groupBy, routes: [] };
      groups.set(key, group);
    }
    group.routes.push(route);
  }
  return [...groups.values()].sort(
    (a, b) => a.detail.localeCompare(b.detail) || a.label.localeCompare(b.label),
  );
}

/** Summary of a group for its description, e.g. `4 routes · 2 public`. */
export function groupDescription(group: RouteGroup): string {
  const n = group.routes.length;
  const text = `${n} route${n === 1 ? '' : 's'}`;
  if (group.kind === 'exposure') return text;
  const open = group.routes.filter((r) => r.exposure === 'public').length;
  return open > 0 ? `${text} · ${open} public` : text;
}

/** Escapes text for Markdown (tooltips, hovers). */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~]/g, (c) => `\\${c}`);
}

function code(text: string): string {
  const ticks = text.includes('`') ? '``' : '`';
  return `${ticks}${text.replace(/\n/g, ' ')}${ticks}`;
}

/**
 * Markdown tooltip of a route. `link(file, line)` makes a link target for a location (a file URI
 * with `#L<line>`), or undefined when the file is not in the workspace.
 */
export function routeTooltip(
  route: Route,
  link: (file: string, line: number) => string | undefined,
): string {
  const lines: string[] = [];
  const where = (file: string | null, line: number | null): string => {
    if (!file) return 'outside the workspace';
    const text = `${file}${line ? `:${line}` : ''}`;
    const target = line ? link(file, line) : undefined;
    return target ? `[${escapeMarkdown(text)}](${target})` : code(text);
  };
  lines.push(`**${routeMethodLabel(route)}** ${code(route.path || '/')}`, '');
  lines.push(`**${EXPOSURE_LABEL[route.exposure]}**: ${EXPOSURE_MEANING[route.exposure]}`);
  if (route.publicReason !== null) {
    lines.push(
      '',
      `Marked public: ${route.publicReason ? escapeMarkdown(route.publicReason) : '(no reason given)'}`,
    );
  }
  if (route.auth.length > 0) {
    lines.push('', 'Authentication:');
    for (const a of route.auth) {
      const scopes = a.scopes.length > 0 ? `, scopes ${a.scopes.map(code).join(' ')}` : '';
      const flags = [
        a.enforcing ? '' : 'lets anonymous callers through',
        a.confidence === 'low' ? 'judged by its name only' : '',
        a.roleCheck ? 'checks a role' : '',
      ].filter(Boolean);
      const chain = a.chain.length > 1 ? ` via ${a.chain.map(code).join(' → ')}` : '';
      lines.push(
        `- ${code(a.dependency)} (${a.level} level${scopes})${chain}, ${where(a.file, a.line)}` +
          (flags.length > 0 ? `: ${flags.join(', ')}` : ''),
      );
    }
  }
  if (route.middleware.length > 0) {
    lines.push('', `Middleware: ${route.middleware.map(code).join(', ')}`);
  }
  const notes: string[] = [];
  if (route.hidden)
    notes.push('Hidden from the OpenAPI schema (`include_in_schema=False`): still callable.');
  if (route.conditional) notes.push(`Registered conditionally: ${code(route.conditional)}.`);
  if (route.deprecated) notes.push('Deprecated.');
  for (const u of route.unresolved) notes.push(`Unresolved: ${escapeMarkdown(u)}`);
  if (notes.length > 0) lines.push('', ...notes.map((n) => `- ${n}`));
  if (route.routers.length > 0) {
    lines.push('', `Included through ${route.routers.map(code).join(' → ')}`);
  }
  const handler = route.function ? `${code(route.function)} in ` : '';
  lines.push('', `Handler: ${handler}${where(route.file, route.handlerLine ?? route.line)}`);
  return lines.join('\n');
}

/** Text for the `# fastapi-lens: public <reason>` comment; newlines and `#` would break it. */
export function publicComment(reason: string): string {
  const clean = reason.replace(/[\r\n]+/g, ' ').trim();
  return `# fastapi-lens: public${clean ? ` ${clean}` : ''}`;
}

/**
 * Where to put the public marker for a route whose decorator line reads `lineText`: replacing the
 * trailing blanks at the end of that line when it has no comment yet, else a new line above it
 * with the same indent. Columns are 0-based.
 */
export function publicMarkerEdit(
  lineText: string,
  reason: string,
): { above: boolean; startColumn: number; endColumn: number; text: string } {
  const comment = publicComment(reason);
  if (!lineText.includes('#')) {
    const end = lineText.trimEnd().length;
    return { above: false, startColumn: end, endColumn: lineText.length, text: `  ${comment}` };
  }
  const indent = /^\s*/.exec(lineText)?.[0] ?? '';
  return { above: true, startColumn: 0, endColumn: 0, text: `${indent}${comment}\n` };
}
