import * as path from 'node:path';
import type { WorkspaceRule } from '../../../../rules/api';
import { RULES } from '../../../../rules/index';
import type { Finding, LocalFinding } from '../findings';
import type { Analysis } from '../index';
import type { RouteRecord } from '../routes';
import {
  enabled,
  fingerprint,
  routeForFunction,
  routeSummary,
  routesByHandler,
  ruleMeta,
  ruleSettings,
  runWorkspaceRule,
  severityFor,
  suppressedCodes,
  type ConfigResolver,
  type RawFinding,
} from '../scan';
import type { WorkspaceFile } from '../workspace';

// Shared with scanAnalysis; the incremental modules import them from here.
export {
  exposureRank,
  routesByHandler,
  rulesByCode,
  ruleSettings,
  runWorkspaceRule,
  type RawFinding,
} from '../scan';

/**
 * `scanAnalysis()` (scan.ts) in pieces that can be redone for part of a workspace: raw findings
 * are kept per file (file rules) and per rule and file (workspace rules), and turned into
 * findings (configuration, suppressions, severity overrides, fingerprints, de-duplication) file
 * by file, so that an edit re-processes only the files it touches. Given the same raw findings
 * it produces what scanAnalysis produces (test/incremental.test.ts compares them).
 */

/** Key of a route as findings name it (`Finding.route`). */
export function routeKey(r: {
  file: string;
  line: number;
  path: string;
  methods: string[];
}): string {
  return `${r.file}\0${r.line}\0${r.path}\0${r.methods.join(',')}`;
}

/** Set `owner` on raw findings from the routes they name. */
export function setOwners(raws: RawFinding[], routes: RouteRecord[]): void {
  let byKey: Map<string, RouteRecord> | null = null;
  for (const raw of raws) {
    if (!raw.finding.route) continue;
    byKey ??= new Map(routes.map((r) => [routeKey(r.route), r]));
    raw.owner = byKey.get(routeKey(raw.finding.route));
  }
}

export const WORKSPACE_RULES: WorkspaceRule[] = RULES.filter(
  (r): r is WorkspaceRule => r.kind === 'workspace',
);

const localMemo = new WeakMap<LocalFinding, RawFinding>();

/** Raw findings of a file's file rules, weighed by the exposure of the route running them. */
export function localRaw(f: WorkspaceFile, byHandler: Map<string, RouteRecord[]>): RawFinding[] {
  const out: RawFinding[] = [];
  for (const lf of f.facts.local ?? []) {
    const fresh = localOne(f, lf, byHandler);
    // The same file-rule finding as last time (a statement that did not change): keep its raw
    // finding object, so that its processed form is reused too.
    const known = localMemo.get(lf);
    if (known && sameRaw(known, fresh)) out.push(known);
    else {
      localMemo.set(lf, fresh);
      out.push(fresh);
    }
  }
  return out;
}

function sameRaw(a: RawFinding, b: RawFinding): boolean {
  const x = a.finding;
  const y = b.finding;
  return (
    x.line === y.line &&
    x.column === y.column &&
    x.endLine === y.endLine &&
    x.endColumn === y.endColumn &&
    x.severity === y.severity &&
    x.message === y.message &&
    x.file === y.file &&
    a.fn === b.fn &&
    JSON.stringify(x.route) === JSON.stringify(y.route) &&
    x.related === y.related &&
    x.flow === y.flow &&
    x.fixes.length === y.fixes.length &&
    x.fixes.every((fix, i) => fix === y.fixes[i])
  );
}

function localOne(
  f: WorkspaceFile,
  lf: LocalFinding,
  byHandler: Map<string, RouteRecord[]>,
): RawFinding {
  const meta = ruleMeta(lf.code);
  const record = routeForFunction(byHandler, f.rel, lf.fn);
  const exposure = record ? record.route.exposure : null;
  const severity = severityFor(
    lf.severity ?? meta?.defaultSeverity ?? 'info',
    lf.exposureSensitive,
    exposure,
  );
  const failed = lf.code === 'LENS000' ? /internal error in (\w+)/.exec(lf.message) : null;
  return {
    fn: lf.fn,
    rule: failed ? failed[1] : lf.code,
    finding: {
      code: lf.code,
      slug: meta?.slug ?? 'internal-error',
      severity,
      message: lf.message,
      file: f.rel,
      line: lf.line,
      column: lf.column,
      endLine: lf.endLine,
      endColumn: lf.endColumn,
      route: record ? routeSummary(record) : null,
      related: lf.related ?? [],
      flow: lf.flow ?? null,
      fixes: lf.fix ? [lf.fix] : [],
    },
  };
}

/** The finding made of a raw finding last time, with the text of its line then. */
const processedMemo = new WeakMap<RawFinding, { text: string; out: Finding }>();

/** Where each line starts, by file (kept while its text is the same). */
const lineStartsOf = new Map<string, { src: string; starts: number[] }>();

/** Where each line starts; lines end at \n, \r\n and a lone \r, as the parser counts them. */
function lineStarts(src: string): number[] {
  const starts = [0];
  if (!src.includes('\r')) {
    for (let i = src.indexOf('\n'); i !== -1; i = src.indexOf('\n', i + 1)) starts.push(i + 1);
    return starts;
  }
  for (const m of src.matchAll(/\r\n|\r|\n/g)) starts.push(m.index + m[0].length);
  return starts;
}

export interface ProcessOptions {
  config: ConfigResolver;
  sourceOf(abs: string): string | null;
}

/**
 * Raw findings of one file (in raw order) to findings, as the second half of scanAnalysis:
 * configuration, suppression comments, severity overrides, fingerprints, de-duplication,
 * sorted by position.
 */
export function processFile(
  rel: string,
  raw: RawFinding[],
  file: WorkspaceFile | undefined,
  options: ProcessOptions,
): Finding[] {
  if (raw.length === 0) return [];
  const cfg = file ? options.config.forFile(file.abs) : options.config.forFile(path.resolve(rel));
  let src: string | null | undefined;
  let starts: number[] | null = null;
  // The text of a line, as `src.split(/\r\n|\r|\n/)[line - 1]` (without splitting every line).
  const lineText = (line: number): string => {
    if (src === undefined) {
      src = file ? options.sourceOf(file.abs) : null;
      const known = lineStartsOf.get(rel);
      if (src && known?.src === src) starts = known.starts;
      else if (src) {
        starts = lineStarts(src);
        if (src.length > 20_000) lineStartsOf.set(rel, { src, starts });
      }
    }
    if (!src || !starts || line < 1 || line > starts.length) return '';
    const end = line < starts.length ? starts[line] - 1 : src.length;
    const text = src.slice(starts[line - 1], end);
    return text.endsWith('\r') && line < starts.length ? text.slice(0, -1) : text;
  };
  // Only comments that may suppress something are looked at for each finding.
  let ignores: Map<number, { line: number; text: string }[]> | null = null;
  const ignoresAt = (lines: number[]) => {
    if (!ignores) {
      ignores = new Map();
      for (const c of file?.facts.comments ?? []) {
        if (!c.text.includes('ignore')) continue;
        const list = ignores.get(c.line);
        if (list) list.push(c);
        else ignores.set(c.line, [c]);
      }
    }
    const out: { line: number; text: string }[] = [];
    for (const l of lines) for (const c of ignores.get(l) ?? []) out.push(c);
    return out;
  };
  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const r of raw) {
    const { finding, fn } = r;
    if (finding.code !== 'LENS000' && !enabled(finding.code, cfg)) continue;
    if (file) {
      const at = [finding.line];
      if (finding.route && finding.route.file === finding.file) at.push(finding.route.line);
      const comments = ignoresAt(at);
      if (comments.length) {
        const suppressed = suppressedCodes(comments, at, [finding.line]);
        if (suppressed.has('*') || suppressed.has(finding.code)) continue;
      }
    }
    const severity = cfg.severity[finding.code] ?? finding.severity;
    const key = `${finding.code}|${finding.file}|${finding.line}|${finding.column}|${finding.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const text = lineText(finding.line);
    const known = processedMemo.get(r);
    if (
      known &&
      known.text === text &&
      known.out.severity === severity &&
      known.out.line === finding.line &&
      known.out.column === finding.column &&
      known.out.endLine === finding.endLine &&
      known.out.endColumn === finding.endColumn
    ) {
      out.push(known.out);
      continue;
    }
    const f: Finding = {
      ...finding,
      severity,
      fingerprint: fingerprint(finding.code, finding.file, fn, text),
    };
    processedMemo.set(r, { text, out: f });
    out.push(f);
  }
  out.sort((a, b) => a.line - b.line || a.column - b.column || a.code.localeCompare(b.code));
  return out;
}

/** Whether a raw finding points into a file (its place, route, related places, flow, fixes). */
export function mentionsFile(raw: RawFinding, rel: string, abs: string): boolean {
  const f = raw.finding;
  if (f.file === rel || f.route?.file === rel) return true;
  for (const r of f.related) if (r.file === rel) return true;
  if (f.flow) for (const s of f.flow) if (s.file === rel) return true;
  for (const fix of f.fixes)
    for (const e of fix.edits) if (e.file === rel || e.file === abs) return true;
  return false;
}

/**
 * Raw findings of a workspace, kept so that part of them can be replaced: file-rule findings
 * per file, workspace-rule findings per rule and file (in report order), and the processed
 * findings per file; indexed by the route they are about and by the files they point into.
 */
export class FindingStore {
  readonly local = new Map<string, RawFinding[]>();
  /** rule code -> file -> raw findings in report order. */
  readonly ws = new Map<string, Map<string, RawFinding[]>>();
  readonly byOwner = new Map<RouteRecord, Set<RawFinding>>();
  readonly processed = new Map<string, Finding[]>();
  /** rel -> raw findings pointing into it (built on first use, then kept up to date). */
  private readonly refIndex = new Map<string, { abs: string; raws: Set<RawFinding> }>();
  private sortedFiles: string[] | null = null;
  private all: Finding[] | null = null;

  private indexAdd(r: RawFinding): void {
    if (r.owner) {
      let set = this.byOwner.get(r.owner);
      if (!set) this.byOwner.set(r.owner, (set = new Set()));
      set.add(r);
    }
    for (const [rel, ix] of this.refIndex) if (mentionsFile(r, rel, ix.abs)) ix.raws.add(r);
  }

  private indexRemove(r: RawFinding): void {
    if (r.owner) this.byOwner.get(r.owner)?.delete(r);
    for (const ix of this.refIndex.values()) ix.raws.delete(r);
  }

  addWorkspace(raws: RawFinding[]): Set<string> {
    const files = new Set<string>();
    for (const r of raws) {
      let byFile = this.ws.get(r.rule);
      if (!byFile) this.ws.set(r.rule, (byFile = new Map()));
      const list = byFile.get(r.finding.file);
      if (list) list.push(r);
      else byFile.set(r.finding.file, [r]);
      files.add(r.finding.file);
      this.indexAdd(r);
    }
    return files;
  }

  /** Remove workspace-rule raw findings; returns the files they were in. */
  removeWorkspace(raws: Iterable<RawFinding>): Set<string> {
    const byList = new Map<RawFinding[], Set<RawFinding>>();
    const files = new Set<string>();
    for (const r of raws) {
      const list = this.ws.get(r.rule)?.get(r.finding.file);
      if (!list) continue;
      let set = byList.get(list);
      if (!set) byList.set(list, (set = new Set()));
      set.add(r);
      files.add(r.finding.file);
      this.indexRemove(r);
    }
    for (const [list, gone] of byList) {
      let j = 0;
      for (let i = 0; i < list.length; i++) if (!gone.has(list[i])) list[j++] = list[i];
      list.length = j;
    }
    for (const byFile of this.ws.values())
      for (const file of files) if (byFile.get(file)?.length === 0) byFile.delete(file);
    return files;
  }

  /** Replace a file's file-rule raw findings. */
  setLocal(rel: string, raws: RawFinding[]): void {
    for (const r of this.local.get(rel) ?? []) this.indexRemove(r);
    if (raws.length) this.local.set(rel, raws);
    else this.local.delete(rel);
    for (const r of raws) this.indexAdd(r);
  }

  /** Raw findings pointing into a file (indexed from now on). */
  refsTo(rel: string, abs: string): Set<RawFinding> {
    let ix = this.refIndex.get(rel);
    if (!ix) {
      ix = { abs, raws: new Set() };
      for (const list of this.local.values())
        for (const r of list) if (mentionsFile(r, rel, abs)) ix.raws.add(r);
      for (const byFile of this.ws.values())
        for (const list of byFile.values())
          for (const r of list) if (mentionsFile(r, rel, abs)) ix.raws.add(r);
      this.refIndex.set(rel, ix);
    }
    return ix.raws;
  }

  /** Raw findings of one file in scanAnalysis order: file rules, then rules in RULES order. */
  rawOf(rel: string): RawFinding[] {
    const out = [...(this.local.get(rel) ?? [])];
    for (const rule of WORKSPACE_RULES) {
      const list = this.ws.get(rule.meta.code)?.get(rel);
      if (list) for (const r of list) out.push(r);
    }
    // Codes of rules no longer registered (never, in practice) come last.
    for (const [code, byFile] of this.ws) {
      if (WORKSPACE_RULES.some((r) => r.meta.code === code)) continue;
      const list = byFile.get(rel);
      if (list) for (const r of list) out.push(r);
    }
    return out;
  }

  /** Process the given files again. */
  reprocess(
    files: Iterable<string>,
    byRel: Map<string, WorkspaceFile>,
    options: ProcessOptions,
  ): void {
    for (const rel of files) {
      const list = processFile(rel, this.rawOf(rel), byRel.get(rel), options);
      const had = this.processed.has(rel);
      if (list.length) this.processed.set(rel, list);
      else this.processed.delete(rel);
      if (had !== list.length > 0) this.sortedFiles = null;
    }
    this.all = null;
  }

  /** Every finding, sorted as scanAnalysis sorts them. */
  findings(): Finding[] {
    if (this.all) return this.all;
    this.sortedFiles ??= [...this.processed.keys()].sort((a, b) => a.localeCompare(b));
    const out: Finding[] = [];
    for (const rel of this.sortedFiles) for (const f of this.processed.get(rel) ?? []) out.push(f);
    this.all = out;
    return out;
  }

  findingsOf(rel: string): Finding[] {
    return this.processed.get(rel) ?? [];
  }

  /** Files (relative) that have findings. */
  findingFiles(): string[] {
    return [...this.processed.keys()];
  }

  /** Every file that has raw findings. */
  rawFiles(): Set<string> {
    const files = new Set<string>(this.local.keys());
    for (const byFile of this.ws.values()) for (const rel of byFile.keys()) files.add(rel);
    return files;
  }
}

/** The full scan of an analysis into a store (what scanAnalysis computes). */
export function scanIntoStore(analysis: Analysis, options: ProcessOptions): FindingStore {
  const store = new FindingStore();
  const byHandler = routesByHandler(analysis.records);
  const localFindings = new Map<string, LocalFinding[]>();
  for (const f of analysis.files) {
    localFindings.set(f.rel, f.facts.local ?? []);
    if (f.facts.local?.length) store.setLocal(f.rel, localRaw(f, byHandler));
  }
  const settings = ruleSettings(analysis, options.config);
  const byKey = new Map(analysis.records.map((r) => [routeKey(r.route), r]));
  for (const rule of WORKSPACE_RULES) {
    const raws = runWorkspaceRule(rule, {
      analysis,
      routes: analysis.records,
      settings,
      localFindings,
    });
    for (const raw of raws)
      if (raw.finding.route) raw.owner = byKey.get(routeKey(raw.finding.route));
    store.addWorkspace(raws);
  }
  const byRel = new Map(analysis.files.map((f) => [f.rel, f]));
  store.reprocess(store.rawFiles(), byRel, options);
  return store;
}
