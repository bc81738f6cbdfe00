import type { Route, RoutesReport } from '../engine/types';

/** Renderers for `fastapi-lens routes`: table (terminal), JSON, CSV and Markdown. */

export type RoutesFormat = 'table' | 'json' | 'csv' | 'markdown';

const COLOURS = {
  public: '\x1b[31m',
  unknown: '\x1b[33m',
  middleware: '\x1b[36m',
  authenticated: '\x1b[32m',
  scoped: '\x1b[32m',
  dim: '\x1b[2m',
  reset: '\x1b[0m',
};

export function methodLabel(r: Route): string {
  if (r.kind === 'websocket') return 'WS';
  if (r.kind === 'mount') return 'MOUNT';
  return r.methods.join(',');
}

/** The auth dependency to show for a route: the first enforcing one, else the first. */
export function authLabel(r: Route): string {
  const a = r.auth.find((x) => x.enforcing) ?? r.auth[0];
  if (!a) return r.publicReason ? `public: ${r.publicReason}` : '';
  const scopes = a.scopes.length ? ` [${a.scopes.join(' ')}]` : '';
  const weak = a.enforcing ? '' : ' (not enforcing)';
  const low = a.confidence === 'low' ? ' (by name only)' : '';
  return `${a.dependency}${scopes} · ${a.level}${weak}${low}`;
}

export function flags(r: Route): string {
  const f: string[] = [];
  if (r.hidden) f.push('hidden');
  if (r.deprecated) f.push('deprecated');
  if (r.conditional) f.push(`conditional: ${r.conditional}`);
  if (r.app === null) f.push('not included in any app');
  return f.join(', ');
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function renderTable(report: RoutesReport, colour: boolean): string {
  const rows = report.routes.map((r) => [
    methodLabel(r),
    r.path || '/',
    r.exposure,
    authLabel(r),
    `${r.file}:${r.line}`,
    flags(r),
  ]);
  const header = ['METHOD', 'PATH', 'EXPOSURE', 'AUTH', 'LOCATION', 'NOTES'];
  const widths = header.map((h, i) =>
    Math.min(60, Math.max(h.length, ...rows.map((r) => r[i].length))),
  );
  const lines: string[] = [];
  const c = (code: string, s: string): string => (colour ? code + s + COLOURS.reset : s);
  lines.push(
    c(
      COLOURS.dim,
      header
        .map((h, i) => pad(h, widths[i]))
        .join('  ')
        .trimEnd(),
    ),
  );
  report.routes.forEach((r, idx) => {
    const cells = rows[idx].map((cell, i) => pad(cell, widths[i]));
    cells[2] = c(COLOURS[r.exposure], cells[2]);
    lines.push(cells.join('  ').trimEnd());
  });
  const counts = new Map<string, number>();
  for (const r of report.routes) counts.set(r.exposure, (counts.get(r.exposure) ?? 0) + 1);
  const summary = [...counts.entries()].map(([k, v]) => `${v} ${k}`).join(', ');
  lines.push('');
  lines.push(`${report.routes.length} routes${summary ? `: ${summary}` : ''}`);
  for (const d of report.diagnostics) lines.push(c(COLOURS.dim, `note: ${d.file}: ${d.message}`));
  return lines.join('\n') + '\n';
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderCsv(report: RoutesReport): string {
  const header = [
    'methods',
    'path',
    'kind',
    'exposure',
    'auth',
    'level',
    'file',
    'line',
    'function',
    'hidden',
    'conditional',
    'deprecated',
  ];
  const lines = [header.join(',')];
  for (const r of report.routes) {
    const a = r.auth.find((x) => x.enforcing) ?? r.auth[0];
    lines.push(
      [
        r.methods.join(' '),
        r.path,
        r.kind,
        r.exposure,
        a ? a.dependency : '',
        a ? a.level : '',
        r.file,
        String(r.line),
        r.function ?? '',
        String(r.hidden),
        r.conditional ?? '',
        String(r.deprecated),
      ]
        .map(csvCell)
        .join(','),
    );
  }
  return lines.join('\n') + '\n';
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function renderMarkdown(report: RoutesReport): string {
  const lines = [
    '| Method | Path | Exposure | Auth | Location | Notes |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of report.routes) {
    lines.push(
      `| ${mdCell(methodLabel(r))} | \`${mdCell(r.path || '/')}\` | ${r.exposure} | ${mdCell(authLabel(r))} | ${mdCell(`${r.file}:${r.line}`)} | ${mdCell(flags(r))} |`,
    );
  }
  return lines.join('\n') + '\n';
}

export function renderRoutes(report: RoutesReport, format: RoutesFormat, colour: boolean): string {
  switch (format) {
    case 'json':
      return JSON.stringify(report, null, 2) + '\n';
    case 'csv':
      return renderCsv(report);
    case 'markdown':
      return renderMarkdown(report);
    case 'table':
      return renderTable(report, colour);
  }
}
