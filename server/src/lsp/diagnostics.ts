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

export function findingToDiagnostic(
  folder: LensFolder,
  f: Finding,
  records: RouteRecord[] | Map<string, RouteRecord[]> | RecordIndex,
): Diagnostic {
  const d: Diagnostic = {
    range: range(f.line, f.column, f.endLine, f.endColumn),
    severity: severityOf(f.severity),
    code: f.code,
    codeDescription: { href: ruleDocHref(f.code) },
    source: SOURCE,
    message: f.message,
    data: { fingerprint: f.fingerprint, code: f.code, line: f.line } satisfies DiagnosticData,
  };
  const record =
    records instanceof RecordIndex
      ? records.recordFor(f)
      : recordFor(Array.isArray(records) ? recordsByFile(records) : records, f);
  const related = relatedFor(folder, f, record);
  if (related.length) d.relatedInformation = related;
  return d;
}

/**
 * Diagnostics of a document's file-local findings and notes (FileLocalResult), published while
 * its folder loads: made as fileDiagnostics makes them, without routes (none can own these).
 */
export function fileLocalDiagnostics(
  folder: LensFolder,
  findings: Finding[],
  notes: EngineDiagnostic[],
): Diagnostic[] {
  const none = new RecordIndex([]);
  return [...findings.map((f) => findingToDiagnostic(folder, f, none)), ...notes.map(engineNote)];
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

/**
 * What a file's diagnostics are made of, as text: two files, or one file at two moments, with
 * the same key have the same diagnostics. Publishing compares keys before making diagnostics,
 * so that after an edit only the files whose diagnostics changed are made and sent.
 */

/** Keys of routes (what related information reads from them), per session and routes version. */
const recordKeys = new WeakMap<RouteRecord, { session: object; version: number; key: string }>();

function recordKey(folder: LensFolder, record: RouteRecord | null): string {
  if (!record) return '';
  const { session } = folder;
  const known = recordKeys.get(record);
  if (known && known.session === session && known.version === session.routesVersion)
    return known.key;
  const r = record.route;
  const key = JSON.stringify([
    r.file,
    r.line,
    r.column,
    r.exposure,
    r.auth.map((a) => [a.file, a.line, a.dependency, a.level, a.enforcing, a.chain]),
  ]);
  recordKeys.set(record, { session, version: session.routesVersion, key });
  return key;
}

/** Everything findingToDiagnostic reads from a finding and its route. */
function findingKey(folder: LensFolder, f: Finding, record: RouteRecord | null): string {
  const r = f.route;
  return `${JSON.stringify([
    f.code,
    f.severity,
    f.line,
    f.column,
    f.endLine,
    f.endColumn,
    f.message,
    f.fingerprint,
    f.related,
    f.flow,
    r ? r.methods : null,
    r ? r.path : null,
  ])}\0${recordKey(folder, record)}`;
}

/** Routes of an analysis by file, then by `line\0path` (what a finding's route names). */
export class RecordIndex {
  private readonly byFile = new Map<string, Map<string, RouteRecord>>();

  constructor(records: RouteRecord[]) {
    for (const r of records) {
      let m = this.byFile.get(r.route.file);
      if (!m) this.byFile.set(r.route.file, (m = new Map()));
      const k = `${r.route.line}\0${r.route.path}`;
      // The first record wins, as `find` would.
      if (!m.has(k)) m.set(k, r);
    }
  }

  recordFor(f: Finding): RouteRecord | null {
    const r = f.route;
    if (!r) return null;
    return this.byFile.get(r.file)?.get(`${r.line}\0${r.path}`) ?? null;
  }
}

const indexes = new WeakMap<
  RouteRecord[],
  { session: object; version: number; index: RecordIndex }
>();

/** The record index of a folder's analysis (memoized until a route moves). */
export function recordIndex(folder: LensFolder, records: RouteRecord[]): RecordIndex {
  const { session } = folder;
  const known = indexes.get(records);
  if (known && known.session === session && known.version === session.routesVersion)
    return known.index;
  const index = new RecordIndex(records);
  indexes.set(records, { session, version: session.routesVersion, index });
  return index;
}

/** A finding's key and diagnostic from last time (valid while no route or position moved). */
const made = new WeakMap<
  Finding,
  { session: object; version: number; key: string; diagnostic: Diagnostic | null }
>();

/** Diagnostics made last time, by file and finding key (reused when the key comes back). */
const byKey = new WeakMap<LensFolder, Map<string, Map<string, Diagnostic>>>();

/** The diagnostics of one file: their key, and a way to make them (only when needed). */
export interface FileDiagnostics {
  key: string;
  make(): Diagnostic[];
}

export function fileDiagnostics(
  folder: LensFolder,
  abs: string,
  findings: Finding[],
  notes: Diagnostic[],
  records: RecordIndex,
): FileDiagnostics {
  const { session } = folder;
  const version = session.routesVersion;
  const keys: string[] = [];
  for (const f of findings) {
    let m = made.get(f);
    if (!m || m.session !== session || m.version !== version) {
      const key = findingKey(folder, f, records.recordFor(f));
      m = { session, version, key, diagnostic: null };
      made.set(f, m);
    }
    keys.push(m.key);
  }
  for (const n of notes) keys.push(JSON.stringify([n.code, n.severity, n.range, n.message]));
  return {
    key: keys.join('\u0001'),
    make(): Diagnostic[] {
      let files = byKey.get(folder);
      if (!files) byKey.set(folder, (files = new Map()));
      const before = files.get(abs);
      const now = new Map<string, Diagnostic>();
      const out: Diagnostic[] = [];
      for (const f of findings) {
        const m = made.get(f) as { key: string; diagnostic: Diagnostic | null };
        let d = m.diagnostic ?? before?.get(m.key) ?? now.get(m.key);
        if (!d) d = findingToDiagnostic(folder, f, records);
        m.diagnostic = d;
        now.set(m.key, d);
        out.push(d);
      }
      for (const n of notes) out.push(n);
      if (now.size) files.set(abs, now);
      else files.delete(abs);
      return out;
    },
  };
}

/**
 * Engine and configuration notes of a folder by absolute path (engine notes on line 1 of
 * their file, configuration notes in pyproject.toml); `logs` gets the others.
 */
export function notesByFile(
  folder: LensFolder,
  notes: EngineDiagnostic[],
  logs: (message: string) => void,
): Map<string, Diagnostic[]> {
  const out = new Map<string, Diagnostic[]>();
  const add = (abs: string, d: Diagnostic) => {
    const list = out.get(abs);
    if (list) list.push(d);
    else out.set(abs, [d]);
  };
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
