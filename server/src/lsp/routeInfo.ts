import type { Finding } from '../engine/findings';
import type { RouteRecord } from '../engine/routes';
import type { Exposure, Route, RouteAuth } from '../engine/types';
import { defParameters, PySource } from '../engine/fixes/pyText';
import type { LensFolder } from './folder';
import { pathToUri } from './uri';

/**
 * Routes under the cursor and the Markdown card that describes one route (hover, code lens
 * command): method and full path, exposure, each auth dependency with the level it comes from
 * and a link to its definition, scopes, flags, and the findings inside the handler.
 */

export const EXPOSURE_ICON: Record<Exposure, string> = {
  public: '⚠',
  authenticated: '🔒',
  scoped: '🛡',
  middleware: '🧱',
  unknown: '❓',
};

const EXPOSURE_TEXT: Record<Exposure, string> = {
  public: 'public: anyone can call it',
  authenticated: 'authenticated',
  scoped: 'scoped: authentication plus scopes or a role check',
  middleware: 'protected by middleware only',
  unknown: 'unknown: some dependency could not be resolved',
};

export function methodText(r: Route): string {
  if (r.kind === 'websocket') return 'WEBSOCKET';
  if (r.kind === 'mount') return 'MOUNT';
  return r.methods.join(', ');
}

/** Where a route's registration and handler signature are, in its files (1-based lines). */
export interface RouteSpan {
  record: RouteRecord;
  /** Decorator (or registration call) to the end of the handler signature, in route.file. */
  first: number;
  last: number;
  /** Handler name position (file, line, columns) when known. */
  handler: { abs: string; line: number; start: number; end: number } | null;
}

/** Spans of the routes registered or handled in one file. */
export function routeSpans(folder: LensFolder, abs: string, records: RouteRecord[]): RouteSpan[] {
  const rel = folder.rel(abs);
  const text = folder.sourceOf(abs);
  const src = text === null ? null : new PySource(text);
  const out: RouteSpan[] = [];
  for (const record of records) {
    const h = record.handler;
    const inFile = record.route.file === rel;
    const handlerHere = h !== null && h.file.abs === abs;
    if (!inFile && !handlerHere) continue;
    let first = record.route.line;
    let last = record.route.line;
    let handler: RouteSpan['handler'] = null;
    if (h && handlerHere && src) {
      const seq = defParameters(src, h.fn.line, h.fn.name);
      const sigEnd = seq ? src.positionAt(seq.innerEnd).line : h.fn.line;
      const lineText = src.lineText(h.fn.line);
      const m = new RegExp(`\\bdef\\s+(${h.fn.name.replace(/[$]/g, '\\$')})\\b`).exec(lineText);
      if (m) {
        const start = m.index + m[0].length - m[1].length;
        handler = { abs, line: h.fn.line, start, end: start + m[1].length };
      }
      if (inFile && h.fn.line >= first && h.fn.line - first < 40) last = sigEnd;
      else if (!inFile) {
        first = h.fn.line;
        last = sigEnd;
      }
    }
    out.push({ record, first, last, handler });
  }
  return out;
}

function link(folder: LensFolder, rel: string, line: number | null): string {
  const uri = pathToUri(folder.abs(rel));
  return `[${rel}${line ? `:${line}` : ''}](${uri}${line ? `#L${line}` : ''})`;
}

function authLine(folder: LensFolder, a: RouteAuth): string {
  const icon = a.enforcing ? (a.scopes.length || a.roleCheck ? '🛡' : '🔒') : '⚠';
  const parts = [`${icon} \`${a.dependency}\` at **${a.level}** level`];
  const basis: Record<RouteAuth['basis'], string> = {
    scheme: 'reaches a FastAPI security scheme',
    library: 'an auth library dependency',
    rejects: 'rejects callers with 401/403',
    config: 'listed in auth-dependencies',
    name: 'judged by its name only',
  };
  parts.push(basis[a.basis]);
  if (!a.enforcing) parts.push('**lets anonymous callers through**');
  if (a.roleCheck) parts.push('checks a role');
  if (a.file) parts.push(link(folder, a.file, a.line));
  let line = `- ${parts.join(' · ')}`;
  if (a.scopes.length) line += `\n  - scopes: ${a.scopes.map((s) => `\`${s}\``).join(', ')}`;
  if (a.chain.length > 1) line += `\n  - chain: ${a.chain.map((c) => `\`${c}\``).join(' → ')}`;
  return line;
}

/** Findings reported on the route or inside its handler. */
export function findingsOfRoute(record: RouteRecord, findings: Finding[]): Finding[] {
  const r = record.route;
  const h = record.handler;
  return findings.filter(
    (f) =>
      (f.route && f.route.file === r.file && f.route.line === r.line && f.route.path === r.path) ||
      (h !== null && f.file === h.file.rel && f.line >= h.fn.line && f.line <= h.fn.endLine),
  );
}

const SEVERITY_ICON = { error: '⛔', warning: '⚠️', info: 'ℹ️' } as const;

export function routeCard(folder: LensFolder, record: RouteRecord, findings: Finding[]): string {
  const r = record.route;
  const lines: string[] = [];
  lines.push(
    `**${EXPOSURE_ICON[r.exposure]} ${methodText(r)} \`${r.path || '/'}\`** — ${EXPOSURE_TEXT[r.exposure]}`,
  );
  const where = [`${link(folder, r.file, r.line)}`];
  if (r.function) where.unshift(`handler \`${r.function}\``);
  if (r.app) where.push(`app \`${r.app}\``);
  else where.push('not included in any app');
  lines.push('', where.join(' · '));
  if (r.routers.length) lines.push('', `via ${r.routers.map((x) => `\`${x}\``).join(' → ')}`);
  lines.push('', '**Authentication**');
  if (r.auth.length) for (const a of r.auth) lines.push(authLine(folder, a));
  else if (r.publicReason) lines.push(`- none: marked public on purpose (${r.publicReason})`);
  else lines.push('- none: no authentication dependency or middleware applies to this route');
  const flags: string[] = [];
  if (r.hidden) flags.push('hidden from OpenAPI (`include_in_schema=False`)');
  if (r.conditional) flags.push(`conditional: \`${r.conditional}\``);
  if (r.deprecated) flags.push('deprecated');
  if (r.publicReason && r.auth.length) flags.push(`marked public: ${r.publicReason}`);
  if (flags.length) lines.push('', `**Flags**: ${flags.join(' · ')}`);
  if (r.unresolved.length)
    lines.push('', `**Unresolved**: ${r.unresolved.map((u) => `\`${u}\``).join(', ')}`);
  const own = findingsOfRoute(record, findings);
  if (own.length) {
    lines.push('', `**Findings** (${own.length})`);
    for (const f of own)
      lines.push(
        `- ${SEVERITY_ICON[f.severity]} **${f.code}** ${link(folder, f.file, f.line)}: ${f.message}`,
      );
  }
  return lines.join('\n');
}

/** One line for code lenses and messages, e.g. `🔒 get_current_user · router`. */
export function routeSummary(r: Route): string {
  const enforcing = r.auth.filter((a) => a.enforcing && a.level !== 'middleware');
  let text: string;
  switch (r.exposure) {
    case 'public':
      text = r.publicReason
        ? `⚠ public on purpose: ${r.publicReason}`
        : `⚠ public · ${methodText(r)}`;
      break;
    case 'scoped': {
      const scopes = [...new Set(enforcing.flatMap((a) => a.scopes))];
      const a = enforcing[0];
      text = scopes.length
        ? `🛡 scoped: ${scopes.join(' ')}`
        : `🛡 ${a ? `${a.dependency} · ${a.level}` : 'scoped'} · role check`;
      break;
    }
    case 'authenticated': {
      const a = enforcing[0];
      text = a ? `🔒 ${a.dependency} · ${a.level}` : '🔒 authenticated';
      break;
    }
    case 'middleware':
      text = `🧱 middleware: ${r.middleware.join(', ') || 'auth middleware'}`;
      break;
    case 'unknown':
      text = `❓ unknown${r.unresolved[0] ? `: ${r.unresolved[0]}` : ''}`;
      break;
  }
  const flags: string[] = [];
  if (r.hidden) flags.push('hidden');
  if (r.conditional) flags.push('conditional');
  if (r.deprecated) flags.push('deprecated');
  return flags.length ? `${text} · ${flags.join(' · ')}` : text;
}
