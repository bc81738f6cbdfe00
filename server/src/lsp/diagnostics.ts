import * as path from 'node:path';
import {
  DiagnosticSeverity,
  type Diagnostic,
  type DiagnosticRelatedInformation,
} from 'vscode-languageserver/node';
import type { ConfigDiagnostic } from '../engine/config';
import type { Finding, Severity } from '../engine/findings';
import type { RouteRecord } from '../engine/routes';
import type { EngineDiagnostic } from '../engine/types';
import type { LensFolder } from './folder';
import { ruleDocHref } from './ruleDocs';
import { pathToUri } from './uri';

/**
 * Findings as LSP diagnostics: code, rule documentation link, severity, the proof chain as
 * related information (where the auth comes from, taint flow steps), and `data` that code
 * actions use to find the finding again. Engine notes (skipped files, syntax errors) become
 * information diagnostics on line 1 of their file.
 */

export const SOURCE = 'fastapi-lens';

/** What a diagnostic carries for code actions. */
export interface DiagnosticData {
  fingerprint: string;
  code: string;
  line: number;
}

export function severityOf(s: Severity): DiagnosticSeverity {
  return s === 'error'
    ? DiagnosticSeverity.Error
    : s === 'warning'
      ? DiagnosticSeverity.Warning
      : DiagnosticSeverity.Information;
}

function range(line: number, column: number, endLine: number, endColumn: number) {
  const sl = Math.max(0, line - 1);
  const el = Math.max(sl, endLine - 1);
  return {
    start: { line: sl, character: Math.max(0, column) },
    end: {
      line: el,
      character: el === sl ? Math.max(Math.max(0, column), endColumn) : Math.max(0, endColumn),
    },
  };
}

function location(folder: LensFolder, rel: string, line: number, column = 0) {
  return {
    uri: pathToUri(folder.abs(rel)),
    range: range(line, column, line, column),
  };
}

function routeLabel(f: Finding): string {
  const r = f.route;
  if (!r) return '';
  return `${r.methods.join(',') || 'ROUTE'} ${r.path || '/'}`;
}

function relatedFor(
  folder: LensFolder,
  f: Finding,
  record: RouteRecord | null,
): DiagnosticRelatedInformation[] {
  const out: DiagnosticRelatedInformation[] = [];
  for (const r of f.related)
    out.push({ location: location(folder, r.file, r.line, r.column), message: r.message });
  (f.flow ?? []).forEach((s, i) =>
    out.push({
      location: location(folder, s.file, s.line, s.column),
      message: `flow ${i + 1}: ${s.message}`,
    }),
  );
  if (record) {
    const route = record.route;
    if (route.file !== f.file || route.line !== f.line)
      out.push({
        location: location(folder, route.file, route.line, route.column),
        message: `route ${routeLabel(f)} (${route.exposure})`,
      });
    for (const a of route.auth) {
      if (!a.file || !a.line) continue;
      const chain = a.chain.length > 1 ? ` via ${a.chain.join(' → ')}` : '';
      out.push({
        location: location(folder, a.file, a.line),
        message: `auth: \`${a.dependency}\` at ${a.level} level${a.enforcing ? '' : ' (lets anonymous callers through)'}${chain}`,
      });
    }
  }
  return out;
}

/** Routes by the file they are registered in (what a finding's route names). */
export function recordsByFile(records: RouteRecord[]): Map<string, RouteRecord[]> {
  const out = new Map<string, RouteRecord[]>();
  for (const r of records) {
    const list = out.get(r.route.file);
    if (list) list.push(r);
    else out.set(r.route.file, [r]);
  }
  return out;
}

function recordFor(records: Map<string, RouteRecord[]>, f: Finding): RouteRecord | null {
  const r = f.route;
  if (!r) return null;
  return (
    records.get(r.file)?.find((x) => x.route.line === r.line && x.route.path === r.path) ?? null
  );
}

/** Diagnostics made of findings (the same finding object gives the same diagnostic while no
 * route moved), and the JSON of diagnostics (to compare with what was published). */
const made = new WeakMap<
  Finding,
  { folder: LensFolder; version: number; diagnostic: Diagnostic }
>();
const texts = new WeakMap<Diagnostic, string>();

/** `JSON.stringify(diagnostics)`, from each diagnostic's memoized JSON. */
export function diagnosticsJson(diagnostics: Diagnostic[]): string {
  const parts: string[] = [];
  for (const d of diagnostics) {
    let t = texts.get(d);
    if (t === undefined) texts.set(d, (t = JSON.stringify(d)));
    parts.push(t);
  }
  return `[${parts.join(',')}]`;
}

function cachedDiagnostic(
  folder: LensFolder,
  f: Finding,
  records: Map<string, RouteRecord[]>,
): Diagnostic {
  const version = folder.session.routesVersion;
  const known = made.get(f);
  if (known && known.folder === folder && known.version === version) return known.diagnostic;
  const diagnostic = findingToDiagnostic(folder, f, records);
  made.set(f, { folder, version, diagnostic });
  return diagnostic;
}

export function findingToDiagnostic(
  folder: LensFolder,
  f: Finding,
  records: RouteRecord[] | Map<string, RouteRecord[]>,
): Diagnostic {
  const byFile = Array.isArray(records) ? recordsByFile(records) : records;
  const d: Diagnostic = {
    range: range(f.line, f.column, f.endLine, f.endColumn),
    severity: severityOf(f.severity),
    code: f.code,
    codeDescription: { href: ruleDocHref(f.code) },
    source: SOURCE,
    message: f.message,
    data: { fingerprint: f.fingerprint, code: f.code, line: f.line } satisfies DiagnosticData,
  };
  const related = relatedFor(folder, f, recordFor(byFile, f));
  if (related.length) d.relatedInformation = related;
  return d;
}

function engineNote(d: EngineDiagnostic): Diagnostic {
  const line = Math.max(0, (d.line ?? 1) - 1);
  return {
    range: { start: { line, character: 0 }, end: { line, character: 0 } },
    severity: DiagnosticSeverity.Information,
    code: 'LENS',
    source: SOURCE,
    message: `FastAPI Security Lens: ${d.message}`,
  };
}

function configNote(d: ConfigDiagnostic): Diagnostic {
  const line = Math.max(0, (d.line ?? 1) - 1);
  const col = Math.max(0, (d.column ?? 1) - 1);
  return {
    range: { start: { line, character: col }, end: { line, character: col } },
    severity: d.level === 'error' ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
    code: 'LENS-CONFIG',
    source: SOURCE,
    message: d.key ? `[tool.fastapi-lens] ${d.key}: ${d.message}` : d.message,
  };
}

/** Diagnostics of every file that has some, by absolute path; `logs` gets non-file notes. */
export function diagnosticsByFile(
  folder: LensFolder,
  findings: Finding[],
  records: RouteRecord[],
  notes: EngineDiagnostic[],
  logs: (message: string) => void,
): Map<string, Diagnostic[]> {
  const out = new Map<string, Diagnostic[]>();
  const add = (abs: string, d: Diagnostic) => {
    const list = out.get(abs);
    if (list) list.push(d);
    else out.set(abs, [d]);
  };
  const byFile = recordsByFile(records);
  for (const f of findings) add(folder.abs(f.file), cachedDiagnostic(folder, f, byFile));
  for (const n of notes) {
    const abs = folder.abs(n.file);
    if (abs.endsWith('.py') && folder.contains(abs)) add(abs, engineNote(n));
    else logs(`${n.file}: ${n.message}`);
  }
  for (const c of folder.config.diagnostics) {
    if (path.basename(c.file) === 'pyproject.toml') add(c.file, configNote(c));
    else logs(`${c.file}: ${c.message}`);
  }
  return out;
}

/**
 * Diagnostics of some files only (relative paths), after an edit that touched just them: their
 * findings and engine notes (configuration notes do not change with an edit).
 */
export function diagnosticsOfFiles(
  folder: LensFolder,
  rels: Set<string>,
  records: Map<string, RouteRecord[]>,
  notes: EngineDiagnostic[],
): Map<string, Diagnostic[]> {
  const out = new Map<string, Diagnostic[]>();
  for (const rel of rels) {
    const abs = folder.abs(rel);
    const list: Diagnostic[] = [];
    for (const f of folder.session.findingsOf(rel)) list.push(cachedDiagnostic(folder, f, records));
    if (abs.endsWith('.py') && folder.contains(abs))
      for (const n of notes) if (n.file === rel) list.push(engineNote(n));
    out.set(abs, list);
  }
  return out;
}
