import * as os from 'node:os';
import * as path from 'node:path';
import {
  CodeLensRefreshRequest,
  TextDocuments,
  type ClientCapabilities,
  type Connection,
  type Diagnostic,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Finding } from '../engine/findings';
import {
  ROUTES_CHANGED_NOTIFICATION,
  SETTINGS_SECTION,
  type LensSettings,
  type RoutesChangedParams,
} from '../protocol';
import { DEFAULT_MAX_FILE_BYTES, readSource, type Analysis } from '../engine/index';
import {
  fileDiagnostics,
  fileLocalDiagnostics,
  notesByFile,
  recordIndex,
  type FileDiagnostics,
  type RecordIndex,
} from './diagnostics';
import { LensFolder, type DocumentSource } from './folder';
import { errorText, type Logger } from './safe';
import { normalizeSettings } from './settings';
import { snapshotKey, type SnapshotFile } from './snapshot';
import { warmUpEngine } from './warmup';
import { pathToUri, rememberUri, uriToPath } from './uri';

/**
 * The server's state: open documents, analysed folders, what was published, and the scheduling
 * that turns edits into fresh diagnostics (debounced, whole-workspace rules rerun so that an
 * edit in one file updates the diagnostics of the files it affects).
 */

export const DEBOUNCE_MS = 150;

/**
 * After edits stop for this long, open documents get one full per-file pass, to catch what the
 * statement-level re-analysis cannot see (a rule switched on by a word typed elsewhere).
 */
export const VERIFY_IDLE_MS = 2000;

export interface ClientFeatures {
  configuration: boolean;
  workDoneProgress: boolean;
  watchedFilesDynamic: boolean;
  configurationDynamic: boolean;
  codeLensRefresh: boolean;
  documentChanges: boolean;
  createFiles: boolean;
  showDocument: boolean;
  workspaceFolders: boolean;
}

function defaultCacheDir(): string | null {
  if (process.env.FASTAPI_LENS_CACHE_DIR !== undefined)
    return process.env.FASTAPI_LENS_CACHE_DIR || null;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'fastapi-lens');
}

export function clientFeatures(c: ClientCapabilities): ClientFeatures {
  return {
    configuration: !!c.workspace?.configuration,
    workDoneProgress: !!c.window?.workDoneProgress,
    watchedFilesDynamic: !!c.workspace?.didChangeWatchedFiles?.dynamicRegistration,
    configurationDynamic: !!c.workspace?.didChangeConfiguration?.dynamicRegistration,
    codeLensRefresh: !!c.workspace?.codeLens?.refreshSupport,
    documentChanges: !!c.workspace?.workspaceEdit?.documentChanges,
    createFiles: !!c.workspace?.workspaceEdit?.resourceOperations?.includes('create'),
    showDocument: !!c.window?.showDocument?.support,
    workspaceFolders: !!c.workspace?.workspaceFolders,
  };
}

interface Published {
  folder: LensFolder;
  uri: string;
  /** What the diagnostics were made of (see fileDiagnostics). */
  key: string;
  diagnostics: Diagnostic[];
}

/** What one publish of a folder works from (its later slices check it is still current). */
interface PublishContext {
  session: LensFolder['session'];
  settings: LensSettings;
  /** null when analysis is turned off (every diagnostic is removed). */
  analysis: Analysis | null;
  records: RecordIndex | null;
  notes: Map<string, Diagnostic[]>;
}

/** A folder's publish still under way: the files after the edited documents. */
interface PendingPublish {
  ctx: PublishContext;
  /** Files to look at (absolute paths); null: every file of the folder. */
  only: Set<string> | null;
  /** Published already (the edited documents). */
  first: Set<string>;
  /** The files, once listed, and how far publishing got. */
  files: string[] | null;
  next: number;
  routesChanged: boolean;
  handle: NodeJS.Immediate | null;
}

/** Publishing yields to other events after this long. */
const PUBLISH_SLICE_MS = 8;

/**
 * A folder's first load under way: open documents get their file-local findings published
 * (Session.fileLocalFindings) before the load's complete set, which replaces them.
 */
interface EarlyPass {
  /** The load has started: settings read, files discovered, cached facts taken. */
  ready: boolean;
  /** Open documents to analyse (absolute paths). */
  due: Set<string>;
  /** The text each document's early diagnostics were made of. */
  sent: Map<string, string>;
  running: Promise<void> | null;
}

/** A file's text on disk (null: unreadable). */
function diskText(abs: string): string | null {
  const read = readSource(abs, DEFAULT_MAX_FILE_BYTES);
  return 'source' in read ? read.source : null;
}

/** Key of diagnostics published early: equal to no key of fileDiagnostics, so replaced. */
const EARLY_KEY = '\0file-local';

export class Lens implements DocumentSource {
  readonly documents = new TextDocuments(TextDocument);
  folders: LensFolder[] = [];
  /** Folders for files opened outside every workspace folder, by file path. */
  readonly singles = new Map<string, LensFolder>();
  features: ClientFeatures = clientFeatures({});
  /** Settings pushed by `workspace/didChangeConfiguration` or initializationOptions. */
  pushedSettings: unknown = undefined;
  private readonly openByPath = new Map<string, string>();
  private readonly timers = new Map<
    LensFolder,
    { cancel: () => void; due: number; immediate: boolean }
  >();
  private readonly published = new Map<string, Published>();
  private readonly pending = new Map<LensFolder, PendingPublish>();
  /** What a publish cut short had left to do (the next publish of the folder does it). */
  private readonly carried = new Map<LensFolder, { files: Set<string> | 'all'; routes: boolean }>();
  private readonly loggedNotes = new Set<string>();
  /** Called after a folder's diagnostics were recomputed (tests, code lens refresh). */
  afterPublish: (folder: LensFolder) => void = () => undefined;
  /** Delay between an edit and the re-analysis (`initializationOptions.debounceMs`). */
  debounceMs = DEBOUNCE_MS;
  /** Idle delay before the full per-file check of open documents (0: never). */
  verifyIdleMs = VERIFY_IDLE_MS;
  /** Log how each re-analysis went (`initializationOptions.logTimings`, for the benchmark). */
  logTimings = false;
  /** When the last edit arrived (epoch ms, logged with timings: the benchmark splits latency). */
  private changedAt = 0;
  /** Compile the incremental paths in the background after loading (`warmUp: false`: not). */
  warmUp = true;
  /**
   * Folder for per-file facts kept between sessions (`initializationOptions.cacheDir`, null to
   * turn off): FASTAPI_LENS_CACHE_DIR, else ~/.cache/fastapi-lens (XDG_CACHE_HOME).
   */
  cacheDir: string | null = defaultCacheDir();
  private readonly verifyTimers = new Map<LensFolder, NodeJS.Timeout>();
  /**
   * Send an edited document's diagnostics after each re-analysis even when they did not change
   * (`initializationOptions.publishEveryVersion`: the latency benchmark waits for each version).
   */
  publishEveryVersion = false;
  /** Documents changed since their diagnostics were last sent. */
  private readonly edited = new Set<string>();
  /** Folders whose first load is under way (see EarlyPass). */
  private readonly early = new Map<LensFolder, EarlyPass>();

  constructor(
    readonly connection: Connection,
    readonly log: Logger,
  ) {}

  // ---- documents -------------------------------------------------------------------------

  openText(abs: string): string | undefined {
    const uri = this.openByPath.get(abs);
    return uri ? this.documents.get(uri)?.getText() : undefined;
  }

  openPaths(): string[] {
    return [...this.openByPath.keys()];
  }

  openVersion(abs: string): number | null {
    const uri = this.openByPath.get(abs);
    const doc = uri ? this.documents.get(uri) : undefined;
    return doc ? doc.version : null;
  }

  isOpen(abs: string): boolean {
    return this.openByPath.has(abs);
  }

  documentOpened(uri: string): void {
    const abs = rememberUri(uri);
    if (!abs) return;
    this.openByPath.set(abs, uri);
    this.documentChanged(uri, 0);
  }

  documentChanged(uri: string, delay = this.debounceMs): void {
    const abs = uriToPath(uri);
    if (!abs || !abs.endsWith('.py')) return;
    const folder = this.folderFor(abs, true);
    if (!folder) return;
    folder.dirty.add(abs);
    this.edited.add(abs);
    if (this.logTimings) this.changedAt = performance.timeOrigin + performance.now();
    this.schedule(folder, delay);
    const pass = this.early.get(folder);
    if (pass && !folder.loaded) {
      pass.due.add(abs);
      this.runEarly(folder, pass);
    }
  }

  documentClosed(uri: string): void {
    const abs = uriToPath(uri);
    if (!abs) return;
    this.openByPath.delete(abs);
    for (const pass of this.early.values()) pass.due.delete(abs);
    const single = this.singles.get(abs);
    if (single) {
      this.singles.delete(abs);
      this.clearFolder(single);
      return;
    }
    const folder = this.folderFor(abs, false);
    if (!folder) return;
    // Back to the text on disk (unsaved changes are gone).
    folder.dirty.add(abs);
    this.schedule(folder, 0);
  }

  // ---- folders ---------------------------------------------------------------------------

  /** The folder a file belongs to (the deepest one); a single-file folder when none does. */
  folderFor(abs: string, createSingle: boolean): LensFolder | null {
    let best: LensFolder | null = null;
    for (const f of this.folders)
      if (f.contains(abs) && (!best || f.root.length > best.root.length)) best = f;
    if (best) return best;
    const single = this.singles.get(abs);
    if (single || !createSingle) return single ?? null;
    const created = new LensFolder(pathToUri(path.dirname(abs)), path.dirname(abs), [abs], this, {
      cacheDir: this.cacheDir,
    });
    this.singles.set(abs, created);
    void this.loadFolder(created);
    return created;
  }

  allFolders(): LensFolder[] {
    return [...this.folders, ...this.singles.values()];
  }

  /** Read the folder's settings (pull model when the client supports it). */
  async refreshSettings(folder: LensFolder): Promise<LensSettings> {
    let raw: unknown = undefined;
    if (this.features.configuration) {
      try {
        raw = await this.connection.workspace.getConfiguration({
          scopeUri: folder.uri,
          section: SETTINGS_SECTION,
        });
      } catch (err) {
        this.log.warn(`workspace/configuration failed: ${errorText(err)}`);
      }
    }
    if (raw === undefined || raw === null) {
      const pushed = this.pushedSettings as Record<string, unknown> | undefined;
      raw = pushed && typeof pushed === 'object' ? (pushed[SETTINGS_SECTION] ?? pushed) : undefined;
    }
    const settings = normalizeSettings(raw);
    folder.configure(settings);
    return settings;
  }

  // ---- scheduling and publishing -----------------------------------------------------------

  /**
   * Debounced refresh of a folder: each edit pushes it back by `delay`, except that an
   * immediate refresh already pending (a document just opened or closed) is kept.
   */
  schedule(folder: LensFolder, delay = this.debounceMs): void {
    const existing = this.timers.get(folder);
    const due = Date.now() + delay;
    if (existing) {
      if (existing.due <= due && existing.immediate) return;
      existing.cancel();
    }
    const run = (): void => {
      this.timers.delete(folder);
      void this.refresh(folder);
    };
    // No debounce: run once the messages already read are handled, not after a timer's
    // minimum of 1 ms.
    let cancel: () => void;
    if (delay <= 0) {
      const immediate = setImmediate(run);
      cancel = () => clearImmediate(immediate);
    } else {
      const timer = setTimeout(run, delay);
      cancel = () => clearTimeout(timer);
    }
    this.timers.set(folder, { cancel, due, immediate: delay <= 0 });
  }

  /** Apply pending edits and publish what changed. */
  async refresh(folder: LensFolder): Promise<void> {
    try {
      const t0 = performance.now();
      const flushed = await folder.flush();
      const tFlush = performance.now();
      // After an edit that changed the route graph, the workspace passes and the rules run
      // here (they are computed on first use): part of the re-analysis, not of publishing.
      let tAnalysis = tFlush;
      if (folder.loaded && folder.settings.enable) {
        folder.analysis();
        tAnalysis = performance.now();
        this.findingsOf(folder);
      }
      const t1 = performance.now();
      this.publish(folder);
      const t2 = performance.now();
      this.scheduleVerify(folder);
      const u = folder.session.lastUpdate;
      if (this.logTimings && flushed && u)
        this.log.info(
          `timing ${JSON.stringify({ uri: pathToUri(u.abs), version: this.openVersion(u.abs), path: u.path, reason: u.reason, file: u.file, fileMs: u.fileMs, workspaceMs: u.workspaceMs, analysisMs: tAnalysis - tFlush, rulesMs: t1 - tAnalysis, flushMs: t1 - t0, publishMs: t2 - t1, changedAt: this.changedAt, startedAt: performance.timeOrigin + t0, publishedAt: performance.timeOrigin + t2, steps: u.steps, rescan: folder.session.lastRescan })}`,
        );
    } catch (err) {
      this.log.error(`analysis failed: ${errorText(err)}`);
    }
  }

  /** Once edits pause: a full per-file pass over open documents, published if it differs. */
  private scheduleVerify(folder: LensFolder): void {
    if (this.verifyIdleMs <= 0) return;
    const existing = this.verifyTimers.get(folder);
    if (existing) clearTimeout(existing);
    const timer = setTimeout(() => {
      this.verifyTimers.delete(folder);
      if (this.timers.has(folder) || folder.dirty.size) return;
      void folder.session
        .verifyOpenFiles()
        .then((differ) => {
          if (differ.length === 0) return;
          this.log.info(`re-analysed ${differ.join(', ')} in full after edits`);
          this.publish(folder);
        })
        .catch((err) => this.log.error(`verification failed: ${errorText(err)}`));
    }, this.verifyIdleMs);
    timer.unref?.();
    this.verifyTimers.set(folder, timer);
  }

  /** Safe findings of a folder (an engine error is logged, never thrown). */
  findingsOf(folder: LensFolder): Finding[] {
    try {
      return folder.findings();
    } catch (err) {
      this.log.error(`rules failed: ${errorText(err)}`);
      return [];
    }
  }

  /**
   * Publish the folder's diagnostics for the files whose diagnostics changed: the edited
   * documents at once, the other files (every file after an edit that changed the route graph)
   * in slices afterwards, so that the edited document's latency does not pay for them. A file's
   * diagnostics are made only when their key (what they are made of) changed. Nothing else is
   * published before the folder's first load (a partial workspace gives wrong exposures) than
   * the file-local findings of open documents (publishEarly), which this replaces.
   */
  publish(folder: LensFolder): void {
    if (!folder.loaded) return;
    // The early pass is over: what it sent has a key no complete set has, so it is replaced.
    this.early.delete(folder);
    this.stopPending(folder);
    const carried = this.carried.get(folder);
    this.carried.delete(folder);
    const enabled = folder.settings.enable;
    let routesChanged = true;
    /** Files to look at (absolute paths): null = every file of the folder. */
    let only: Set<string> | null = null;
    let analysis: Analysis | null = null;
    if (enabled) {
      analysis = folder.analysis();
      this.findingsOf(folder);
      const changes = folder.session.takeChanges();
      routesChanged = changes.routes || (carried?.routes ?? false);
      if (changes.files && folder.publishedOnce && carried?.files !== 'all') {
        // Only the files an edit touched (the warm path says which), and edited documents.
        only = new Set([...changes.files].map((rel) => folder.abs(rel)));
        for (const abs of carried?.files ?? []) only.add(abs);
      } else folder.publishedOnce = true;
    }
    const logs = (message: string) => {
      if (this.loggedNotes.has(message)) return;
      this.loggedNotes.add(message);
      this.log.info(message);
    };
    const ctx: PublishContext = {
      session: folder.session,
      settings: folder.settings,
      analysis,
      records: analysis ? recordIndex(folder, analysis.records) : null,
      notes: analysis ? notesByFile(folder, analysis.report.diagnostics, logs) : new Map(),
    };
    // Edited documents first.
    const first = new Set<string>();
    for (const abs of this.edited) if (folder.contains(abs)) first.add(abs);
    for (const abs of first) this.publishFile(folder, abs, ctx);
    const job: PendingPublish = {
      ctx,
      only,
      first,
      files: null,
      next: 0,
      routesChanged,
      handle: null,
    };
    this.pending.set(folder, job);
    if (only && [...only].every((abs) => first.has(abs))) this.continuePublish(folder, job);
    else job.handle = setImmediate(() => this.continuePublish(folder, job));
  }

  /** Publish the rest of a folder's files, a slice at a time. */
  private continuePublish(folder: LensFolder, job: PendingPublish): void {
    if (this.pending.get(folder) !== job) return;
    job.handle = null;
    const { ctx } = job;
    if (
      folder.session !== ctx.session ||
      folder.settings !== ctx.settings ||
      (ctx.analysis !== null && folder.session.currentAnalysis() !== ctx.analysis)
    ) {
      // The analysis changed meanwhile: the next publish takes over these files.
      this.stopPending(folder);
      if (!this.timers.has(folder)) this.schedule(folder, 0);
      return;
    }
    if (!job.files) {
      let files: Set<string>;
      if (job.only) files = new Set(job.only);
      else {
        files = new Set(ctx.notes.keys());
        if (ctx.analysis)
          for (const rel of this.safely(() => folder.session.findingFiles(), []))
            files.add(folder.abs(rel));
        for (const [abs, p] of this.published) if (p.folder === folder) files.add(abs);
      }
      for (const abs of job.first) files.delete(abs);
      // Open documents before the others.
      job.files = [...files].sort((a, b) => Number(this.isOpen(b)) - Number(this.isOpen(a)));
    }
    const deadline = performance.now() + PUBLISH_SLICE_MS;
    while (job.next < job.files.length) {
      this.publishFile(folder, job.files[job.next++], ctx);
      if (job.next < job.files.length && performance.now() > deadline) {
        job.handle = setImmediate(() => this.continuePublish(folder, job));
        return;
      }
    }
    this.pending.delete(folder);
    if (ctx.analysis && job.routesChanged) this.notifyRoutes(folder);
    this.saveSnapshot(folder);
    this.afterPublish(folder);
  }

  /** Stop a folder's unfinished publishing; what it had left is kept for the next one. */
  private stopPending(folder: LensFolder): void {
    const job = this.pending.get(folder);
    if (!job) return;
    this.pending.delete(folder);
    if (job.handle) clearImmediate(job.handle);
    const left: Set<string> | 'all' =
      job.files === null ? (job.only ?? 'all') : new Set(job.files.slice(job.next));
    const carried = this.carried.get(folder);
    const files =
      left === 'all' || carried?.files === 'all'
        ? 'all'
        : new Set([...(carried?.files ?? []), ...left]);
    this.carried.set(folder, {
      files,
      routes: (carried?.routes ?? false) || (job.ctx.analysis !== null && job.routesChanged),
    });
  }

  private safely<T>(f: () => T, fallback: T): T {
    try {
      return f();
    } catch (err) {
      this.log.error(`rules failed: ${errorText(err)}`);
      return fallback;
    }
  }

  /** Send one file's diagnostics when they changed (or when it is an edited document). */
  private publishFile(folder: LensFolder, abs: string, ctx: PublishContext): void {
    const open = this.isOpen(abs);
    const force = this.edited.delete(abs) && open && this.publishEveryVersion;
    const visible =
      ctx.analysis !== null &&
      (ctx.settings.diagnostics.scope === 'workspace' || open || abs.endsWith('pyproject.toml'));
    let made: FileDiagnostics | null = null;
    if (visible && ctx.records) {
      const findings = abs.endsWith('.py')
        ? this.safely(() => folder.session.findingsOf(folder.rel(abs)), [])
        : [];
      made = fileDiagnostics(folder, abs, findings, ctx.notes.get(abs) ?? [], ctx.records);
    }
    const key = made ? made.key : '';
    const before = this.published.get(abs);
    if (!force && (before ? before.key === key : key === '')) return;
    const diagnostics =
      made && key !== '' ? (before?.key === key ? before.diagnostics : made.make()) : [];
    const uri = before?.uri ?? pathToUri(abs);
    if (diagnostics.length === 0) this.published.delete(abs);
    else this.published.set(abs, { folder, uri, key, diagnostics });
    void this.send(abs, uri, diagnostics);
  }

  /** Send a file's diagnostics, with its document version when it is open. */
  private send(abs: string, uri: string, diagnostics: Diagnostic[]): Promise<void> {
    const version = this.openVersion(abs);
    return this.connection.sendDiagnostics(
      version === null ? { uri, diagnostics } : { uri, version, diagnostics },
    );
  }

  /** Remove every diagnostic a folder published (folder removed, single file closed). */
  clearFolder(folder: LensFolder): void {
    this.early.delete(folder);
    this.stopPending(folder);
    this.carried.delete(folder);
    folder.session.dispose();
    for (const [abs, p] of [...this.published]) {
      if (p.folder !== folder) continue;
      this.published.delete(abs);
      void this.connection.sendDiagnostics({ uri: p.uri, diagnostics: [] });
    }
  }

  private notifyRoutes(folder: LensFolder): void {
    const first = folder.lastRoutesKey === '';
    folder.lastRoutesKey = 'sent';
    let total = 0;
    let publicWrite = 0;
    for (const f of this.allFolders()) {
      for (const r of f.analysis().report.routes) {
        total++;
        if (
          r.exposure === 'public' &&
          r.publicReason === null &&
          r.methods.some((m) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(m))
        )
          publicWrite++;
      }
    }
    const params: RoutesChangedParams = { total, publicWrite };
    void this.connection.sendNotification(ROUTES_CHANGED_NOTIFICATION, params);
    if (this.features.codeLensRefresh && !first)
      void this.connection.sendRequest(CodeLensRefreshRequest.type).catch(() => undefined);
  }

  // ---- the last session's diagnostics while a folder loads ----------------------------------

  /**
   * A restart in an unchanged workspace: publish what the last session published (snapshot.ts),
   * open documents first, once the files are discovered and before anything is parsed. The
   * load's own publish then sends only the files whose diagnostics differ. Resolves once the
   * open documents' diagnostics (and those of the documents open last time) are written: the
   * load waits, as reading the facts cache would hold the thread before they leave; undefined
   * when there is no snapshot to publish.
   */
  private publishSnapshot(
    folder: LensFolder,
    pass: EarlyPass,
    inputs: string,
    files: string[],
  ): Promise<void> | undefined {
    if (!folder.snapshot || !folder.settings.enable) return undefined;
    const t0 = performance.now();
    const data = folder.snapshot.read(snapshotKey(folder.root, inputs, folder.settings, files));
    if (!data) return undefined;
    const open = this.openPaths().filter((abs) => folder.contains(abs));
    // An open document with unsaved changes: the load analyses its text, not the disk's.
    for (const abs of open) if (this.openText(abs) !== diskText(abs)) return undefined;
    const covered = data.covered === null ? null : new Set(data.covered);
    const isCovered = (abs: string) => covered === null || covered.has(abs);
    // Open documents first, then those open last time (an editor restores them, and may not
    // have said so yet), then the others.
    const first = new Set([...open, ...(data.open ?? [])].filter(isCovered));
    const order = new Set(first);
    if (covered === null) for (const f of data.files) order.add(f.abs);
    const byPath = new Map(data.files.map((f) => [f.abs, f]));
    let sent = 0;
    const written: Promise<void>[] = [];
    for (const abs of order) {
      // Known: no file-local pass for it.
      pass.due.delete(abs);
      const f = byPath.get(abs);
      if (!f || f.diagnostics.length === 0) continue;
      const uri = pathToUri(abs);
      this.published.set(abs, { folder, uri, key: f.key, diagnostics: f.diagnostics });
      const out = this.send(abs, uri, f.diagnostics);
      if (first.has(abs)) written.push(out);
      sent++;
    }
    if (this.logTimings)
      this.log.info(`snapshot ${JSON.stringify({ files: sent, ms: performance.now() - t0 })}`);
    return Promise.all(written).then(
      () => undefined,
      () => undefined,
    );
  }

  /** Keep what a folder published for the next start (written once the server is idle). */
  private saveSnapshot(folder: LensFolder): void {
    const snapshot = folder.snapshot;
    if (!snapshot || !folder.loaded) return;
    snapshot.saveSoon(() => {
      // Only a settled state: no publish, re-analysis or document change pending.
      if (
        !folder.loaded ||
        !folder.settings.enable ||
        this.pending.has(folder) ||
        this.timers.has(folder) ||
        folder.dirty.size > 0 ||
        this.early.has(folder)
      )
        return null;
      const inputs = folder.session.currentInputs();
      if (!inputs) return null;
      const covered =
        folder.settings.diagnostics.scope === 'workspace'
          ? null
          : this.openPaths().filter((abs) => folder.contains(abs));
      const only = covered && new Set(covered);
      const files: SnapshotFile[] = [];
      for (const [abs, p] of this.published) {
        if (p.folder !== folder || (only && !only.has(abs))) continue;
        if (p.key === EARLY_KEY) return null;
        files.push({ abs, key: p.key, diagnostics: p.diagnostics });
      }
      const key = snapshotKey(folder.root, inputs.key, folder.settings, inputs.files);
      const open = this.openPaths().filter((abs) => folder.contains(abs));
      return { key, covered, open, files };
    });
  }

  // ---- file-local findings while a folder loads --------------------------------------------

  /** Analyse the due documents of an early pass, one at a time, once the load has started. */
  private runEarly(folder: LensFolder, pass: EarlyPass): void {
    if (!pass.ready || pass.running) return;
    pass.running = (async () => {
      for (let abs = first(pass.due); abs !== undefined; abs = first(pass.due)) {
        pass.due.delete(abs);
        await this.publishEarly(folder, pass, abs);
      }
    })()
      .catch((err) => this.log.error(`file-local analysis failed: ${errorText(err)}`))
      .finally(() => {
        pass.running = null;
        // A document opened while the last one was being sent.
        if (pass.due.size && this.early.get(folder) === pass) this.runEarly(folder, pass);
      });
  }

  /**
   * Publish an open document's file-local findings (engine: Session.fileLocalFindings) while
   * its folder loads: the complete set published after the load has each of them. A document
   * the engine cannot analyse here waits for the load.
   */
  private async publishEarly(folder: LensFolder, pass: EarlyPass, abs: string): Promise<void> {
    // Opening a document also reports its content as changed: one analysis per text.
    if (!folder.settings.enable || pass.sent.get(abs) === this.openText(abs)) return;
    const t0 = performance.now();
    const session = folder.session;
    const local = await folder.fileLocalFindings(abs);
    // Still before the complete set, for the same text and settings.
    if (
      !local ||
      this.early.get(folder) !== pass ||
      folder.session !== session ||
      !folder.settings.enable ||
      this.openText(abs) !== local.text
    )
      return;
    pass.sent.set(abs, local.text);
    const diagnostics = fileLocalDiagnostics(folder, local.result.findings, local.result.notes);
    // Nothing found yet says nothing: the document waits for the complete set.
    if (diagnostics.length === 0) return;
    const uri = this.published.get(abs)?.uri ?? pathToUri(abs);
    this.published.set(abs, { folder, uri, key: EARLY_KEY, diagnostics });
    const version = this.openVersion(abs);
    if (this.logTimings)
      this.log.info(
        `early ${JSON.stringify({ uri, version, diagnostics: diagnostics.length, ms: performance.now() - t0 })}`,
      );
    // Written out before the load goes on: the workspace pass holds the thread for a while.
    await this.send(abs, uri, diagnostics);
  }

  /** Wait until an early pass has sent what it was analysing. */
  private async earlySettled(pass: EarlyPass): Promise<void> {
    while (pass.running) await pass.running;
  }

  /** Load a folder (with server-initiated progress when the client shows it), then publish. */
  async loadFolder(folder: LensFolder): Promise<void> {
    if (folder.loading) return folder.loading;
    // Before the first load: open documents get their file-local findings meanwhile.
    let pass: EarlyPass | null = null;
    if (!folder.loaded) {
      pass = { ready: false, due: new Set(), sent: new Map(), running: null };
      for (const abs of this.openPaths()) if (folder.contains(abs)) pass.due.add(abs);
      this.early.set(folder, pass);
    }
    const run = async () => {
      const t0 = performance.now();
      await this.refreshSettings(folder);
      let reporter: Awaited<ReturnType<Connection['window']['createWorkDoneProgress']>> | null =
        null;
      if (this.features.workDoneProgress) {
        try {
          reporter = await this.connection.window.createWorkDoneProgress();
          reporter.begin(
            'FastAPI Security Lens',
            0,
            `analysing ${path.basename(folder.root)}`,
            true,
          );
        } catch {
          reporter = null;
        }
      }
      try {
        const loaded = folder.load(
          (done, total) =>
            reporter?.report(
              total ? Math.round((done / total) * 100) : 100,
              `${done}/${total} files`,
            ),
          () => reporter?.token.isCancellationRequested ?? false,
          false,
          (inputs, files) => (pass ? this.publishSnapshot(folder, pass, inputs, files) : undefined),
          // The early pass's documents: analysed first by the load, which hands them over.
          pass ? new Set(pass.due) : undefined,
        );
        // The load runs up to its first wait at once: files are discovered and the facts
        // cache read, so the early pass finds cached facts of unchanged documents.
        if (pass) {
          pass.ready = true;
          this.runEarly(folder, pass);
        }
        await loaded;
      } finally {
        reporter?.done();
      }
      // What the early pass is analysing goes out first (cached facts: at once; else one
      // document parsed while the workers parse the others).
      if (pass) await this.earlySettled(pass);
      const t1 = performance.now();
      this.publish(folder);
      if (this.logTimings) {
        const l = folder.session.lastLoad;
        this.log.info(
          `load ${JSON.stringify({ loadMs: t1 - t0, filesMs: l.ms, analysed: l.analysed, fromCache: l.fromCache, publishMs: performance.now() - t1 })}`,
        );
      }
      // In the background: compile the incremental paths, parse the open documents.
      void (async () => {
        if (this.warmUp) await warmUpEngine();
        for (const abs of this.openPaths())
          if (folder.contains(abs)) {
            await new Promise((resolve) => setImmediate(resolve));
            await folder.session.prepare(abs);
          }
      })().catch((err) => this.log.warn(`warm-up failed: ${errorText(err)}`));
    };
    folder.loading = run()
      .catch((err) => this.log.error(`loading ${folder.root} failed: ${errorText(err)}`))
      .finally(() => {
        folder.loading = null;
        // A load cancelled or failed: what the early pass sent stays until a publish.
        if (pass && this.early.get(folder) === pass) this.early.delete(folder);
      });
    return folder.loading;
  }
}

function first<T>(set: Set<T>): T | undefined {
  for (const x of set) return x;
  return undefined;
}
