import type { Finding, Severity } from '../engine/findings';
import type { Route } from '../engine/types';

/**
 * `fastapi-lens scan --format text`: one block per finding (location, severity, code, slug and
 * message; the route; a code frame; the auth chain or the data flow), then a summary line.
 * Columns are shown 1-based, like compilers do.
 */

export interface ScanSummary {
  findings: number;
  errors: number;
  warnings: number;
  infos: number;
  /** Files with at least one finding. */
  files: number;
  filesScanned: number;
  routes: number;
}

export function summarize(findings: Finding[], filesScanned: number, routes: number): ScanSummary {
  const count = (s: Severity) => findings.filter((f) => f.severity === s).length;
  return {
    findings: findings.length,
    errors: count('error'),
    warnings: count('warning'),
    infos: count('info'),
    files: new Set(findings.map((f) => f.file)).size,
    filesScanned,
    routes,
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** `3 findings: 1 error, 1 warning, 1 info in 2 files (40 files scanned)`. */
export function summaryLine(s: ScanSummary): string {
  const scanned = `${plural(s.filesScanned, 'file')} scanned`;
  if (s.findings === 0) return `No findings (${scanned})`;
  return `${plural(s.findings, 'finding')}: ${plural(s.errors, 'error')}, ${plural(s.warnings, 'warning')}, ${plural(s.infos, 'info')} in ${plural(s.files, 'file')} (${scanned})`;
}

const ANSI = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  dim: '\x1b[2m',
  red: '\x1b[31m',
  yellow: '\x1b[33m',
  blue: '\x1b[34m',
  cyan: '\x1b[36m',
};

const SEVERITY_COLOUR: Record<Severity, string> = {
  error: ANSI.red,
  warning: ANSI.yellow,
  info: ANSI.blue,
};

export interface TextContext {
  /** Lines of a file by its report path (relative to cwd), or null when unreadable. */
  lines(file: string): string[] | null;
  /** The route a finding is on, for its auth chain. */
  route(finding: Finding): Route | null;
  colour: boolean;
}

/** The source line with a `^^^` underline under the finding, one line of context each side. */
export function codeFrame(
  lines: string[],
  f: Pick<Finding, 'line' | 'column' | 'endLine' | 'endColumn'>,
  paint: (code: string, s: string) => string,
  markColour: string,
): string[] {
  if (f.line < 1 || f.line > lines.length) return [];
  const first = Math.max(1, f.line - 1);
  const last = Math.min(lines.length, f.line + 1);
  const width = String(last).length;
  const out: string[] = [];
  for (let n = first; n <= last; n++) {
    const text = lines[n - 1].replace(/\s+$/, '');
    const marker = n === f.line ? '>' : ' ';
    out.push(`  ${paint(ANSI.dim, `${marker} ${String(n).padStart(width)} |`)} ${text}`);
    if (n !== f.line) continue;
    const start = Math.min(f.column, text.length);
    let end = f.endLine === f.line ? Math.min(f.endColumn, text.length) : text.length;
    // An empty span (a whole-statement finding) underlines the code up to a trailing comment.
    if (end <= start) end = Math.max(codeEnd(text), start + 1);
    // Keep tabs so the underline lines up with the text above it.
    const pad = text.slice(0, start).replace(/[^\t]/g, ' ');
    out.push(
      `  ${paint(ANSI.dim, `  ${' '.repeat(width)} |`)} ${pad}${paint(markColour, '^'.repeat(end - start))}`,
    );
  }
  return out;
}

/** Length of a Python line without its trailing comment (quotes tracked naively). */
export function codeEnd(text: string): number {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#') return text.slice(0, i).trimEnd().length;
  }
  return text.trimEnd().length;
}

function authLines(route: Route): string[] {
  if (route.auth.length === 0) {
    const mw = route.middleware.length ? ` (middleware: ${route.middleware.join(', ')})` : '';
    return [`auth: ${route.exposure === 'public' ? 'none' : route.exposure}${mw}`];
  }
  return route.auth.map((a) => {
    const notes: string[] = [a.level];
    if (!a.enforcing) notes.push('not enforcing');
    if (a.scopes.length) notes.push(`scopes: ${a.scopes.join(' ')}`);
    if (a.confidence === 'low') notes.push('by name only');
    const chain = a.chain.length ? a.chain.join(' -> ') : a.dependency;
    return `auth: ${chain} (${notes.join(', ')})`;
  });
}

export function renderFinding(f: Finding, ctx: TextContext): string {
  const paint = (code: string, s: string): string => (ctx.colour ? code + s + ANSI.reset : s);
  const sevColour = SEVERITY_COLOUR[f.severity];
  const out: string[] = [];
  out.push(
    `${paint(ANSI.bold, `${f.file}:${f.line}:${f.column + 1}:`)} ${paint(ANSI.bold + sevColour, f.severity)} ${paint(ANSI.bold, f.code)} ${paint(ANSI.dim, f.slug)}: ${f.message}`,
  );
  if (f.route) {
    const methods = f.route.methods.join(',') || 'ROUTE';
    out.push(`  on ${f.route.exposure} ${methods} ${f.route.path || '/'}`);
  }
  const lines = ctx.lines(f.file);
  if (lines) out.push(...codeFrame(lines, f, paint, sevColour));
  if (f.flow && f.flow.length) {
    out.push('  flow:');
    f.flow.forEach((s, i) =>
      out.push(
        `    ${i + 1}. ${paint(ANSI.cyan, `${s.file}:${s.line}:${s.column + 1}`)} ${s.message}`,
      ),
    );
  } else if (f.route) {
    const route = ctx.route(f);
    if (route) for (const l of authLines(route)) out.push(`  ${l}`);
  }
  for (const r of f.related)
    out.push(`  ${paint(ANSI.dim, 'note:')} ${r.file}:${r.line}:${r.column + 1}: ${r.message}`);
  for (const fix of f.fixes) out.push(`  ${paint(ANSI.cyan, 'fix:')} ${fix.title} (${fix.safety})`);
  return out.join('\n');
}

export interface TextReport {
  findings: Finding[];
  summary: ScanSummary;
  /** Engine and configuration notes, already formatted (`file: message`). */
  notes: string[];
}

export function renderText(report: TextReport, ctx: TextContext): string {
  const paint = (code: string, s: string): string => (ctx.colour ? code + s + ANSI.reset : s);
  const blocks = report.findings.map((f) => renderFinding(f, ctx));
  const out = blocks.length ? [blocks.join('\n\n'), ''] : [];
  for (const n of report.notes) out.push(paint(ANSI.dim, `note: ${n}`));
  const s = report.summary;
  const colour = s.errors ? ANSI.red : s.warnings ? ANSI.yellow : s.infos ? ANSI.blue : '';
  out.push(paint(ANSI.bold + colour, summaryLine(s)));
  return out.join('\n') + '\n';
}
