import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Parser } from 'web-tree-sitter';
import {
  discover,
  errText,
  fileRoleUnder,
  moduleNameFor,
  relPath,
  type FileRole,
} from './discovery';
import type { ModuleFacts } from './facts';
import type { Finding } from './findings';
import {
  DEFAULT_MAX_FILE_BYTES,
  factsFor,
  readSource,
  type Analysis,
  type AnalyzeOptions,
} from './index';
import { FactsCache, type CachedFacts } from './incremental/factsCache';
import { FileState, type FileChange } from './incremental/fileState';
import {
  localRaw,
  processFile,
  routesByHandler,
  ruleSettings,
  scanIntoStore,
} from './incremental/scan';
import { inputsKey, type DiskStat } from './incremental/inputs';
import { fileKey, type ItemLists } from './incremental/signature';
import { combineIncremental, type CombineStats } from './incremental/combine';
import { combineTraced, type Relevance } from './incremental/trace';
import { rescan } from './incremental/rescan';
import { ImportGraph, WarmFallback, warmUpdate, type WarmState } from './incremental/warm';
import { createPythonParser, parserUsable } from './parser';
import { computeAllFacts, type FactsResult } from './pool';
import { DEFAULT_CONFIG, isFileLocal, type ConfigResolver } from './scan';
import type { EngineDiagnostic } from './types';
import type { WorkspaceFile } from './workspace';

/**
 * A long-lived engine for editors. Per-file facts are cached; open documents keep their syntax
 * tree and are re-analysed statement by statement (incremental/fileState.ts). After an edit:
 * - when the file's graph signature is unchanged (incremental/signature.ts), the previous
 *   analysis is patched and only the rules that depend on the file re-run (the warm path,
 *   incremental/warm.ts);
 * - otherwise the workspace passes re-run over the cached facts where the edit reaches
 *   (incremental/combine.ts), and the rules where the routes or what they read changed
 *   (incremental/rescan.ts): the cold path, what `scanWorkspace` computes.
 * Both give the same routes and findings (test/incremental.test.ts). The CLI uses the one-shot
 * `analyzeWorkspace` / `scanWorkspace` instead.
 */

interface CachedFile {
  abs: string;
  rel: string;
  facts: ModuleFacts | null;
  /** Why the file has no facts (too big, binary, unreadable). */
  error: string | null;
  /** Source text as last analysed (open documents and files read from disk). */
  source: string | null;
  /** Open documents: the syntax tree and per-statement results, for incremental edits. */
  state?: FileState;
  /** The facts are those of the file on disk with this size and time (for the facts cache). */
  disk?: { mtimeMs: number; size: number };
}

export interface SessionOptions extends Omit<AnalyzeOptions, 'overlays'> {
  config?: ConfigResolver;
  /** Keep per-file facts in this folder between sessions (incremental/factsCache.ts). */
  cacheDir?: string | null;
  /** Start from the cached facts (default); false: analyse every file, then write the cache. */
  readCache?: boolean;
}

/** What the last `updateFile` did (for logs and the latency benchmark). */
export interface UpdateInfo {
  /** warm: patched; cold: everything re-runs on the next query; none: nothing to do. */
  path: 'warm' | 'cold' | 'none';
  /** Why the warm path was not taken. */
  reason: string | null;
  file: FileChange['mode'] | 'new';
  /** The file updated (absolute). */
  abs: string;
  fileMs: number;
  workspaceMs: number;
  affectedRoutes: number;
  taintRoutes: number;
  /** Milliseconds by step of the file's and the workspace's update. */
  steps: Record<string, number>;
}

/** A document's findings that nothing outside it can change (see fileLocalFindings). */
export interface FileLocalResult {
  findings: Finding[];
  /** The file's syntax-error note, as the full pass gives it. */
  notes: EngineDiagnostic[];
}

/** What changed since the last `takeChanges()`. */
export interface SessionChanges {
  /** Files (relative to cwd) whose findings or notes may have changed; null: any file. */
  files: Set<string> | null;
  /** The route inventory changed (or moved). */
  routes: boolean;
}

export class EngineSession {
  private parser: Parser | null = null;
  private readonly files = new Map<string, CachedFile>();
  private packages = new Set<string>();
  private sourceRoots = new Set<string>();
  /**
   * Module names by file, while `packages` and `sourceRoots` stay as they are: every edit that
   * changes the route graph lists the workspace's files again (1,618 path walks at 100k lines).
   */
  private readonly moduleNames = new Map<string, { module: string; isPackage: boolean }>();
  private discoveryDiagnostics: EngineDiagnostic[] = [];
  private cachedAnalysis: Analysis | null = null;
  private relevance: Relevance | null = null;
  /** Findings of `cachedAnalysis` and what the warm path needs; null until computed. */
  private warm: WarmState | null = null;
  /**
   * After an edit of one file that changed the route graph: the findings before it, for the
   * next analysis to re-run the rules only where the edit may have changed them (rescan.ts).
   */
  private prior: {
    warm: WarmState;
    abs: string;
    before: ModuleFacts;
    /** Lines of the file that the edit kept moved (what cites them moved too). */
    moved: boolean;
  } | null = null;
  /**
   * The analyses' file objects, kept while a file's path and module stay (its facts are
   * replaced in place): values cached by one analysis stay valid in the next.
   */
  private readonly workspaceFiles = new Map<string, WorkspaceFile>();
  private changedFiles: Set<string> | null = null;
  private routesChanged = true;
  private readonly cwd: string;
  private readonly maxBytes: number;
  private cache: FactsCache | null = null;
  /** Open documents' facts the load under way computes first (see loadAll's `first`). */
  private readonly loading = new Map<string, Promise<FactsResult | null>>();
  /** Facts read from the cache, not used yet (the first load takes them). */
  private cached: Map<string, CachedFacts> | null = null;
  private readCache = false;
  lastUpdate: UpdateInfo | null = null;
  /** How the last workspace passes ran: reusing the previous analysis or not. */
  lastCombine: ({ incremental: boolean; ms: number } & Partial<CombineStats>) | null = null;
  /** What the last rescan (rules after a cold edit) did, by step (ms); null: a full scan. */
  lastRescan: (Record<string, number> & { changedRoutes: number }) | null = null;
  /** Changes whenever a route or a position in the findings may have moved (view caches). */
  routesVersion = 0;
  /** What the last `loadAll` did: files analysed, files taken from the facts cache. */
  lastLoad = { analysed: 0, fromCache: 0, ms: 0 };

  constructor(private options: SessionOptions) {
    this.cwd = path.resolve(options.cwd);
    this.maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    if (options.cacheDir) {
      this.cache = new FactsCache(
        options.cacheDir,
        `${this.cwd}\0${options.roots.map((r) => path.resolve(this.cwd, r)).join('\0')}`,
      );
      // Read by the first load (not here: the constructor runs while the client waits for
      // the server to initialise).
      this.readCache = options.readCache !== false;
    }
  }

  /** Free the syntax trees kept for open documents (the session is not used afterwards). */
  dispose(): void {
    this.cache?.flush();
    for (const f of this.files.values()) {
      f.state?.dispose();
      f.state = undefined;
    }
  }

  setOptions(options: Partial<SessionOptions>): void {
    this.options = { ...this.options, ...options };
    this.invalidate();
  }

  private async ensureParser(): Promise<Parser> {
    if (this.parser && !parserUsable(this.parser)) {
      // The parser's WebAssembly instance trapped: its heap is abandoned with every tree in it
      // (open documents get a new tree at their next edit), and parsing goes on in a fresh one.
      for (const f of this.files.values()) {
        f.state?.dispose();
        f.state = undefined;
      }
      try {
        this.parser.delete();
      } catch {
        // Its heap is corrupt; deleting only stops the finalizer from touching it later.
      }
      try {
        this.parser = await createPythonParser();
      } catch {
        // No fresh instance (too many faults): the old parser refuses with the reason.
      }
      return this.parser;
    }
    if (!this.parser) this.parser = await createPythonParser();
    return this.parser;
  }

  /**
   * Discover and analyse every file under the roots. Calls `progress(done, total)`, and
   * `discovered` once the files are known, before anything is read or parsed, with the key of
   * what the load is about to read (inputs.ts) and the files' absolute paths (when it returns a
   * promise, the load waits for it before reading anything). Files in `first`
   * (open documents) are analysed before the others, and `fileLocalFindings` takes their facts
   * from the load as soon as they are done.
   */
  async loadAll(
    progress?: (done: number, total: number) => void,
    cancelled?: () => boolean,
    discovered?: (inputs: string, files: string[]) => void | Promise<void>,
    first?: ReadonlySet<string>,
  ): Promise<void> {
    const found = discover(this.options.roots, {
      exclude: this.options.exclude ?? [],
      cwd: this.cwd,
    });
    this.packages = found.packages;
    this.sourceRoots = found.sourceRoots;
    this.moduleNames.clear();
    this.discoveryDiagnostics = found.diagnostics;
    const t0 = performance.now();
    const stats = new Map<string, DiskStat>();
    for (const f of found.files) stats.set(f.abs, statOf(f.abs));
    const wait = discovered?.(
      inputsKey(stats),
      found.files.map((f) => f.abs),
    );
    if (wait) await wait;
    if (this.readCache && this.cache) {
      this.readCache = false;
      this.cached = this.cache.load();
    }
    const keep = new Set(found.files.map((f) => f.abs));
    for (const abs of [...this.files.keys()]) if (!keep.has(abs)) this.drop(abs);
    let fromCache = 0;
    const todo = found.files.filter((f) => {
      const existing = this.files.get(f.abs);
      if (existing && existing.facts !== null) return false;
      // Unchanged since the facts cache was written: no need to parse it.
      const hit = this.cached?.get(f.abs);
      if (hit) {
        const st = stats.get(f.abs);
        if (st && st.mtimeMs === hit.mtimeMs && st.size === hit.size) {
          const rel = relPath(this.cwd, f.abs);
          this.files.set(f.abs, {
            abs: f.abs,
            rel,
            facts: hit.facts,
            error: null,
            source: null,
            disk: st,
          });
          fromCache++;
          return false;
        }
      }
      return true;
    });
    this.cached = null;
    const waiting = new Map<string, (r: FactsResult | null) => void>();
    for (const f of todo)
      if (first?.has(f.abs))
        this.loading.set(f.abs, new Promise((resolve) => waiting.set(f.abs, resolve)));
    let results: FactsResult[];
    try {
      results = await computeAllFacts(
        todo.map((f) => ({ abs: f.abs, role: { test: f.test, docs: f.docs } })),
        {
          maxBytes: this.maxBytes,
          keepSource: true,
          progress,
          cancelled,
          threads: this.options.threads,
          first: waiting.size ? new Set(waiting.keys()) : undefined,
          onFirst: (r) => waiting.get(r.abs)?.(r),
        },
      );
    } finally {
      for (const [abs, resolve] of waiting) {
        resolve(null);
        this.loading.delete(abs);
      }
    }
    for (const r of results) {
      const rel = relPath(this.cwd, r.abs);
      this.files.get(r.abs)?.state?.dispose();
      this.files.set(
        r.abs,
        'error' in r
          ? { abs: r.abs, rel, facts: null, error: r.error, source: null }
          : {
              abs: r.abs,
              rel,
              facts: r.facts,
              error: null,
              source: r.source ?? null,
              disk: statOf(r.abs) ?? undefined,
            },
      );
    }
    this.lastLoad = { analysed: results.length, fromCache, ms: performance.now() - t0 };
    if (results.length) this.saveCache();
    this.invalidate();
  }

  /**
   * The inputs key (inputs.ts) of what the analysis is made of now, as `loadAll` reports it
   * for the same disk, and the files' absolute paths; null when a file was analysed from a text
   * that is not the disk's (an open document with unsaved changes).
   */
  currentInputs(): { key: string; files: string[] } | null {
    const entries: [string, DiskStat][] = [];
    for (const f of this.files.values()) {
      if (f.disk || !f.facts) {
        entries.push([f.abs, f.disk ?? statOf(f.abs)]);
        continue;
      }
      // Analysed from an editor's text: the disk's own when the two are the same.
      const read = f.source === null ? null : readSource(f.abs, this.maxBytes);
      if (!read || !('source' in read) || read.source !== f.source) return null;
      entries.push([f.abs, statOf(f.abs)]);
    }
    return { key: inputsKey(entries), files: entries.map(([abs]) => abs) };
  }

  /** Write the facts of the files as they are on disk to the cache (in the background). */
  private saveCache(): void {
    this.cache?.saveSoon(() => {
      const out: { abs: string; mtimeMs: number; size: number; facts: ModuleFacts }[] = [];
      for (const f of this.files.values())
        if (f.facts && f.disk) out.push({ abs: f.abs, ...f.disk, facts: f.facts });
      return out;
    });
  }

  private drop(abs: string): void {
    this.files.get(abs)?.state?.dispose();
    this.files.delete(abs);
  }

  private analyseFromDisk(p: Parser, abs: string): CachedFile {
    const read = readSource(abs, this.maxBytes);
    if ('error' in read)
      return { abs, rel: relPath(this.cwd, abs), facts: null, error: read.error, source: null };
    return this.analyseText(p, abs, read.source);
  }

  /** Test code or documentation examples (discovery.ts fileRole), below the file's root. */
  private roleOf(abs: string): FileRole {
    return fileRoleUnder(
      abs,
      this.options.roots.map((r) => path.resolve(this.cwd, r)),
    );
  }

  private analyseText(p: Parser, abs: string, source: string): CachedFile {
    const rel = relPath(this.cwd, abs);
    if (source.length > this.maxBytes)
      return { abs, rel, facts: null, error: 'skipped: file is over the size limit', source: null };
    try {
      return { abs, rel, facts: factsFor(p, abs, source, this.roleOf(abs)), error: null, source };
    } catch (err) {
      return { abs, rel, facts: null, error: `could not analyse: ${errText(err)}`, source: null };
    }
  }

  /**
   * A file's text changed (open document) or appeared on disk; `null` text re-reads the disk.
   * Open documents are re-analysed incrementally and, when the edit keeps the route graph, the
   * analysis is patched at once (`lastUpdate` says which path was taken). `whole`: analyse the
   * whole text, not the statements that differ from the text analysed before (an open
   * document's text replacing the disk's after a load, as fileLocalFindings analysed it).
   */
  async updateFile(abs: string, text: string | null, whole = false): Promise<void> {
    let p = await this.ensureParser();
    const t0 = performance.now();
    const before = this.files.get(abs);
    if (before && before.source === null) this.sourceOf(abs);
    // FASTAPI_LENS_WARM=0: every edit re-runs everything (the behaviour before incremental
    // analysis; the latency benchmark compares the two).
    const incremental = process.env.FASTAPI_LENS_WARM !== '0';
    if (
      incremental &&
      !whole &&
      text !== null &&
      before &&
      before.facts &&
      before.source !== null
    ) {
      if (text.length <= this.maxBytes && this.editIncrementally(p, before, text, t0)) return;
      // A trap during the incremental attempt: the text is analysed in a fresh instance.
      if (!parserUsable(p)) p = await this.ensureParser();
    }
    before?.state?.dispose();
    const next = text === null ? this.analyseFromDisk(p, abs) : this.analyseText(p, abs, text);
    if (text === null && next.facts) next.disk = statOf(abs) ?? undefined;
    this.files.set(abs, next);
    if (path.basename(abs) === '__init__.py' && !before) {
      this.packages.add(path.dirname(abs));
      this.moduleNames.clear();
    }
    this.invalidate();
    this.lastUpdate = {
      path: 'cold',
      reason: before ? 'not an open document' : 'new file',
      file: 'new',
      abs,
      fileMs: performance.now() - t0,
      workspaceMs: 0,
      affectedRoutes: 0,
      taintRoutes: 0,
      steps: {},
    };
  }

  /** The incremental path for a file with facts and text; false when it does not apply. */
  private editIncrementally(p: Parser, file: CachedFile, text: string, t0: number): boolean {
    const oldFacts = file.facts as ModuleFacts;
    if (file.source === null) return false;
    let state = file.state;
    if (!state) {
      if (file.source !== text) {
        // First edit of a file opened just now: the tree of the text the facts came from.
        try {
          state = FileState.adopt(p, file.abs, file.source as string, oldFacts);
        } catch {
          return false;
        }
      } else {
        // Opened with the text analysed already: the tree is made when needed (prepare()).
        this.lastUpdate = this.info(file.abs, 'none', null, 'unchanged', t0, t0);
        return true;
      }
      file.state = state;
    }
    const X = this.workspaceFile(file);
    const rel = this.relevance;
    // Before the edit: the file-level key (its positions move in place during the update).
    const oldFileKey = this.warm && rel && X ? fileKey(oldFacts, rel) : '';
    let change: FileChange;
    try {
      change = state.update(p, text);
    } catch {
      state.dispose();
      file.state = undefined;
      return false;
    }
    file.facts = state.facts;
    file.source = text;
    file.disk = undefined;
    const t1 = performance.now();
    if (change.mode === 'unchanged') {
      this.lastUpdate = this.info(file.abs, 'none', null, 'unchanged', t0, t1);
      return true;
    }
    if (!this.warm || !rel || !X) {
      this.invalidate();
      this.lastUpdate = this.info(file.abs, 'cold', 'no previous analysis', change.mode, t0, t1);
      return true;
    }
    const oldParts: ItemLists[] =
      change.mode === 'full' ? [oldFacts] : change.removed.map((g) => g.items);
    try {
      const r = warmUpdate(this.warm, X, state, change, oldParts, oldFileKey);
      this.cachedAnalysis = r.analysis;
      this.warm.analysis = r.analysis;
      const t2 = performance.now();
      // Notes change with the file's syntax errors only.
      if (oldFacts.parseErrors !== state.facts.parseErrors)
        r.analysis.report.diagnostics = this.diagnostics();
      const t3 = performance.now();
      this.warm.store.reprocess(r.touched, this.byRel(r.analysis), this.processOptions());
      const t4 = performance.now();
      if (this.changedFiles) for (const f of r.touched) this.changedFiles.add(f);
      if (r.routesMoved) this.routesChanged = true;
      if (r.positionsMoved) this.routesVersion++;
      this.lastUpdate = {
        ...this.info(file.abs, 'warm', null, change.mode, t0, t1),
        affectedRoutes: r.stats.affectedRoutes,
        taintRoutes: r.stats.taintRoutes,
        steps: {
          ...Object.fromEntries(Object.entries(change.ms).map(([k, v]) => [`file.${k}`, v])),
          ...r.stats.ms,
          diagnostics: t3 - t2,
          reprocess: t4 - t3,
        },
      };
      if (process.env.FASTAPI_LENS_VERIFY_WARM) this.verifyWarm();
    } catch (err) {
      if (!(err instanceof WarmFallback) && process.env.FASTAPI_LENS_VERIFY_WARM) throw err;
      // The findings before the edit are still those of an analysis (the warm update had not
      // started changing it): the next full analysis re-runs the rules only where needed.
      const prior = err instanceof WarmFallback && !this.warm.patched ? this.warm : null;
      this.invalidate();
      if (prior)
        this.prior = {
          warm: prior,
          abs: file.abs,
          before: oldFacts,
          moved: linesMoved(change, oldFacts.lineCount),
        };
      this.lastUpdate = this.info(file.abs, 'cold', errText(err), change.mode, t0, t1);
    }
    return true;
  }

  private info(
    abs: string,
    pathTaken: UpdateInfo['path'],
    reason: string | null,
    mode: UpdateInfo['file'],
    t0: number,
    t1: number,
  ): UpdateInfo {
    return {
      path: pathTaken,
      reason,
      file: mode,
      abs,
      fileMs: t1 - t0,
      workspaceMs: performance.now() - t1,
      affectedRoutes: 0,
      taintRoutes: 0,
      steps: {},
    };
  }

  private byRelCache: { analysis: Analysis; map: Map<string, WorkspaceFile> } | null = null;

  /** Files of an analysis by relative path (memoized: the warm path keeps the same files). */
  private byRel(analysis: Analysis): Map<string, WorkspaceFile> {
    if (this.byRelCache?.analysis.files !== analysis.files)
      this.byRelCache = { analysis, map: new Map(analysis.files.map((f) => [f.rel, f])) };
    return this.byRelCache.map;
  }

  /** The analysis' WorkspaceFile for a cached file, when it is the one the analysis has. */
  private workspaceFile(file: CachedFile): WorkspaceFile | null {
    const X = this.cachedAnalysis?.workspace.files.get(file.abs);
    return X && X.facts === file.facts ? X : null;
  }

  /**
   * Parse an open document ahead of its first edit (incremental re-analysis needs its tree);
   * cheap to call when idle. Returns false when there is nothing to do.
   */
  async prepare(abs: string): Promise<boolean> {
    const f = this.files.get(abs);
    if (!f || f.state || !f.facts || this.sourceOf(abs) === null) return false;
    const p = await this.ensureParser();
    if (f.state || !f.facts || f.source === null) return false;
    try {
      f.state = FileState.adopt(p, abs, f.source, f.facts);
    } catch {
      return false;
    }
    return true;
  }

  /** An open document was closed: drop its tree (its text goes back to the disk's). */
  closeFile(abs: string): void {
    const f = this.files.get(abs);
    if (f?.state) {
      f.state.dispose();
      f.state = undefined;
    }
  }

  removeFile(abs: string): void {
    if (this.files.has(abs)) {
      this.drop(abs);
      if (path.basename(abs) === '__init__.py') {
        this.packages.delete(path.dirname(abs));
        this.moduleNames.clear();
      }
      this.invalidate();
    }
  }

  hasFile(abs: string): boolean {
    return this.files.has(abs);
  }

  sourceOf(abs: string): string | null {
    const f = this.files.get(abs);
    if (!f) return null;
    if (f.source === null && f.facts && f.disk) {
      // Facts from the cache: the text is read when first needed.
      const read = readSource(abs, this.maxBytes);
      if ('source' in read) f.source = read.source;
    }
    return f.source;
  }

  fileCount(): number {
    return this.files.size;
  }

  private invalidate(): void {
    this.cachedAnalysis = null;
    this.relevance = null;
    this.warm = null;
    this.changedFiles = null;
    this.prior = null;
  }

  /**
   * Files whose findings may have changed, and whether routes did, since the last call (for
   * publishing only what changed).
   */
  takeChanges(): SessionChanges {
    const out: SessionChanges = { files: this.changedFiles, routes: this.routesChanged };
    this.changedFiles = this.warm ? new Set() : null;
    this.routesChanged = false;
    return out;
  }

  private diagnostics(): EngineDiagnostic[] {
    const diagnostics: EngineDiagnostic[] = [...this.discoveryDiagnostics];
    for (const f of this.files.values()) {
      if (!f.facts) {
        if (f.error) diagnostics.push({ file: f.rel, message: f.error });
        continue;
      }
      const note = syntaxNote(f.rel, f.facts);
      if (note) diagnostics.push(note);
    }
    return diagnostics;
  }

  /** The facts of a file, when they are those of this text. */
  private factsOfText(abs: string, text: string): ModuleFacts | null {
    const f = this.files.get(abs);
    if (!f?.facts) return null;
    return (f.source ?? this.sourceOf(abs)) === text ? f.facts : null;
  }

  /**
   * The findings of one document that nothing outside it can change, from its text alone (no
   * load needed: what an editor shows while the workspace loads). Only findings of file rules
   * that isFileLocal (scan.ts) accepts, made into findings by the full pass's own code
   * (configuration, suppression comments, severity overrides, fingerprints: processFile), so
   * each is among the findings the full pass gives for the same text; with the file's
   * syntax-error note. null when this text cannot be analysed here (over the size limit, parse
   * refused or stopped, no parser): the full pass says why. Nothing analysed changes.
   */
  async fileLocalFindings(abs: string, text: string): Promise<FileLocalResult | null> {
    if (text.length > this.maxBytes) return null;
    // The facts the full pass will use, when it has them for this text (a load takes them
    // from the facts cache before it parses anything, computes open documents first and hands
    // them over, and files it analyses in this thread are done by the next turn); else this
    // text's, without taint.
    let facts = this.factsOfText(abs, text);
    const loading = facts ? undefined : this.loading.get(abs);
    if (loading) {
      const r = await loading;
      if (r && 'facts' in r && r.source === text) facts = r.facts;
    }
    if (!facts) {
      try {
        await this.ensureParser();
      } catch {
        return null;
      }
      await new Promise((resolve) => setImmediate(resolve));
      facts = this.factsOfText(abs, text);
    }
    if (!facts)
      try {
        const p = await this.ensureParser();
        facts = factsFor(p, abs, text, this.roleOf(abs), { taint: false });
      } catch {
        return null;
      }
    const rel = relPath(this.cwd, abs);
    const local = facts.local.filter(isFileLocal);
    const file: WorkspaceFile = {
      abs,
      rel,
      module: '',
      isPackage: false,
      facts: { ...facts, local },
    };
    // No routes: at module level none could own a finding.
    const findings = processFile(rel, localRaw(file, new Map()), file, {
      config: this.processOptions().config,
      sourceOf: () => text,
    });
    const note = syntaxNote(rel, facts);
    return { findings, notes: note ? [note] : [] };
  }

  /** The workspace model over the cached facts (memoized until the next change). */
  analysis(): Analysis {
    if (this.cachedAnalysis) return this.cachedAnalysis;
    const prior = this.prior;
    const files: WorkspaceFile[] = [];
    const keep = new Set<string>();
    for (const f of this.files.values()) {
      if (!f.facts) continue;
      let name = this.moduleNames.get(f.abs);
      if (!name) {
        name = moduleNameFor(f.abs, this.packages, this.sourceRoots);
        this.moduleNames.set(f.abs, name);
      }
      const { module, isPackage } = name;
      let wf = this.workspaceFiles.get(f.abs);
      if (wf && wf.rel === f.rel && wf.module === module && wf.isPackage === isPackage)
        wf.facts = f.facts;
      else {
        wf = { abs: f.abs, rel: f.rel, module, isPackage, facts: f.facts };
        this.workspaceFiles.set(f.abs, wf);
      }
      keep.add(f.abs);
      files.push(wf);
    }
    for (const abs of [...this.workspaceFiles.keys()])
      if (!keep.has(abs)) this.workspaceFiles.delete(abs);
    const t0 = performance.now();
    const diagnostics = this.diagnostics();
    // After an edit of one file: the passes reuse what the edit cannot reach (combine.ts;
    // FASTAPI_LENS_COMBINE=0 runs them all, for comparison).
    const incremental =
      prior && process.env.FASTAPI_LENS_COMBINE !== '0'
        ? combineIncremental(files, diagnostics, this.cwd, this.options, {
            analysis: prior.warm.analysis,
            relevance: prior.warm.relevance,
            imports: prior.warm.imports,
            abs: prior.abs,
            before: prior.before,
            moved: prior.moved,
          })
        : null;
    const { analysis, relevance } =
      incremental ?? combineTraced(files, diagnostics, this.cwd, this.options);
    this.lastCombine = {
      incremental: incremental !== null,
      ms: performance.now() - t0,
      ...(incremental ? incremental.stats : {}),
    };
    this.cachedAnalysis = analysis;
    this.relevance = relevance;
    this.warm = null;
    this.changedFiles = null;
    this.prior = prior;
    this.routesChanged = true;
    this.routesVersion++;
    return analysis;
  }

  private processOptions() {
    return {
      config: this.options.config ?? { forFile: () => DEFAULT_CONFIG },
      sourceOf: (abs: string) => this.sourceOf(abs),
    };
  }

  findings(): Finding[] {
    return this.ensureWarm().store.findings();
  }

  /** Findings of one file (relative path). */
  findingsOf(rel: string): Finding[] {
    return this.ensureWarm().store.findingsOf(rel);
  }

  /** Files (relative paths) that have findings. */
  findingFiles(): string[] {
    return this.ensureWarm().store.findingFiles();
  }

  /**
   * The analysis, when it and its findings are computed and current (nothing is computed
   * here): null when an edit since left them to be recomputed. A new object after every edit.
   */
  currentAnalysis(): Analysis | null {
    return this.warm && this.cachedAnalysis === this.warm.analysis ? this.cachedAnalysis : null;
  }

  private ensureWarm(): WarmState {
    if (this.warm) return this.warm;
    const prior = this.prior;
    const analysis = this.analysis();
    const options = this.processOptions();
    this.prior = null;
    this.lastRescan = null;
    if (prior && process.env.FASTAPI_LENS_RESCAN !== '0') {
      const r = rescan(
        prior.warm,
        analysis,
        this.relevance as Relevance,
        prior.abs,
        options,
        prior.before,
        prior.moved,
      );
      if (r) {
        // Findings carried over were computed by reads recorded in the previous analysis.
        for (const b of prior.warm.relevance.bodies) r.state.relevance.bodies.add(b);
        this.warm = r.state;
        this.changedFiles = r.touched;
        if (process.env.FASTAPI_LENS_VERIFY_WARM) this.verifyWarm();
        this.lastRescan = { ...r.stats.ms, changedRoutes: r.stats.changedRoutes };
        return this.warm;
      }
    }
    const store = scanIntoStore(analysis, options);
    const warm: WarmState = {
      analysis,
      relevance: this.relevance as Relevance,
      store,
      byHandler: routesByHandler(analysis.records),
      settings: ruleSettings(analysis, options.config),
      localFindings: new Map(analysis.files.map((f) => [f.rel, f.facts.local ?? []])),
      imports: new ImportGraph(analysis.workspace, analysis.files),
      authDependencies: this.options.authDependencies ?? [],
      refs: new Map(),
    };
    this.warm = warm;
    this.changedFiles = null;
    return warm;
  }

  /**
   * Re-run the full per-file pass on open documents and adopt it where the incremental one
   * differs (file rules that test the whole text for a word can switch on for a statement
   * that did not change). Cheap to call when typing pauses; returns the files that differed.
   */
  async verifyOpenFiles(): Promise<string[]> {
    const p = await this.ensureParser();
    const differ: string[] = [];
    for (const f of this.files.values()) {
      if (!f.state || f.source === null) continue;
      const full = factsFor(p, f.abs, f.source, this.roleOf(f.abs));
      if (sameFacts(full, f.state.facts)) continue;
      differ.push(f.rel);
      f.state.dispose();
      f.state = FileState.create(p, f.abs, f.source, { test: full.test, docs: full.docs });
      f.facts = f.state.facts;
    }
    if (differ.length) this.invalidate();
    return differ;
  }

  /** FASTAPI_LENS_VERIFY_WARM: compare the warm result with a full recompute (tests, bench). */
  private verifyWarm(): void {
    const warmRoutes = JSON.stringify(this.analysis().report.routes);
    const warmFindings = JSON.stringify(this.findings());
    this.invalidate();
    const coldRoutes = JSON.stringify(this.analysis().report.routes);
    const coldFindings = JSON.stringify(this.findings());
    if (coldRoutes !== warmRoutes || coldFindings !== warmFindings)
      throw new Error('the warm path differs from a full recompute');
  }
}

/** Facts equal, file-rule findings compared as sets (their order is rule by rule). */
export function sameFacts(a: ModuleFacts, b: ModuleFacts): boolean {
  const norm = (f: ModuleFacts) => ({
    ...f,
    local: [...f.local].map((x) => JSON.stringify(x)).sort(),
  });
  return isDeepStrictEqual(
    JSON.parse(JSON.stringify(norm(a))),
    JSON.parse(JSON.stringify(norm(b))),
  );
}

/** The note of a file the parser recovered from errors in. */
function syntaxNote(rel: string, facts: ModuleFacts): EngineDiagnostic | null {
  if (facts.parseErrors <= 0) return null;
  return {
    file: rel,
    message: `syntax errors (${facts.parseErrors}); analysed what could be parsed`,
  };
}

/** Whether a line the edit did not replace is now at another line. */
function linesMoved(change: FileChange, lineCount: number): boolean {
  if (change.mode !== 'incremental') return true;
  for (let line = 1; line <= lineCount; line++) {
    const to = change.mapLine(line);
    if (to !== null && to !== line) return true;
  }
  return false;
}

function statOf(abs: string): { mtimeMs: number; size: number } | null {
  try {
    const st = fs.statSync(abs);
    return { mtimeMs: st.mtimeMs, size: st.size };
  } catch {
    return null;
  }
}
