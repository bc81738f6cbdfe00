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
import {
  diagnosticsByFile,
  diagnosticsJson,
  diagnosticsOfFiles,
  recordsByFile,
} from './diagnostics';
import { LensFolder, type DocumentSource } from './folder';
import { errorText, type Logger } from './safe';
import { normalizeSettings } from './settings';
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
  json: string;
  uri: string;
}

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
    { timer: NodeJS.Timeout; due: number; immediate: boolean }
  >();
  private readonly published = new Map<string, Published>();
  private readonly loggedNotes = new Set<string>();
  /** Called after a folder's diagnostics were recomputed (tests, code lens refresh). */
  afterPublish: (folder: LensFolder) => void = () => undefined;
  /** Delay between an edit and the re-analysis (`initializationOptions.debounceMs`). */
  debounceMs = DEBOUNCE_MS;
  /** Idle delay before the full per-file check of open documents (0: never). */
  verifyIdleMs = VERIFY_IDLE_MS;
  /** Log how each re-analysis went (`initializationOptions.logTimings`, for the benchmark). */
  logTimings = false;
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
    this.schedule(folder, delay);
  }

  documentClosed(uri: string): void {
    const abs = uriToPath(uri);
    if (!abs) return;
    this.openByPath.delete(abs);
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
      clearTimeout(existing.timer);
    }
    const timer = setTimeout(() => {
      this.timers.delete(folder);
      void this.refresh(folder);
    }, delay);
    this.timers.set(folder, { timer, due, immediate: delay === 0 });
  }

  /** Apply pending edits and publish what changed. */
  async refresh(folder: LensFolder): Promise<void> {
    try {
      const t0 = performance.now();
      const flushed = await folder.flush();
      const t1 = performance.now();
      this.publish(folder);
      const t2 = performance.now();
      this.scheduleVerify(folder);
      const u = folder.session.lastUpdate;
      if (this.logTimings && flushed && u)
        this.log.info(
          `timing ${JSON.stringify({ uri: pathToUri(u.abs), version: this.openVersion(u.abs), path: u.path, reason: u.reason, file: u.file, fileMs: u.fileMs, workspaceMs: u.workspaceMs, flushMs: t1 - t0, publishMs: t2 - t1 })}`,
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
   * Publish the folder's diagnostics for the files whose diagnostics changed. Nothing is
   * published before the folder's first load: a partial workspace gives wrong exposures.
   */
  publish(folder: LensFolder): void {
    if (!folder.loaded) return;
    const enabled = folder.settings.enable;
    let byFile = new Map<string, Diagnostic[]>();
    let routesChanged = true;
    /** Files to look at: null = every file of the folder. */
    let only: Set<string> | null = null;
    if (enabled) {
      const analysis = folder.analysis();
      this.findingsOf(folder);
      const changes = folder.session.takeChanges();
      routesChanged = changes.routes;
      const logs = (message: string) => {
        if (this.loggedNotes.has(message)) return;
        this.loggedNotes.add(message);
        this.log.info(message);
      };
      if (changes.files && folder.publishedOnce) {
        // Only the files an edit touched (the warm path says which), and edited documents.
        const rels = new Set(changes.files);
        for (const abs of this.edited) if (folder.contains(abs)) rels.add(folder.rel(abs));
        only = new Set([...rels].map((rel) => folder.abs(rel)));
        byFile = diagnosticsOfFiles(
          folder,
          rels,
          recordsByFile(analysis.records),
          analysis.report.diagnostics,
        );
      } else {
        byFile = diagnosticsByFile(
          folder,
          this.findingsOf(folder),
          analysis.records,
          analysis.report.diagnostics,
          logs,
        );
        folder.publishedOnce = true;
      }
    }
    const workspaceScope = folder.settings.diagnostics.scope === 'workspace';
    const visible = (abs: string): boolean =>
      workspaceScope || this.isOpen(abs) || abs.endsWith('pyproject.toml');
    const targets = new Set<string>();
    for (const abs of byFile.keys()) if (visible(abs)) targets.add(abs);
    if (only) {
      for (const abs of only) if (this.published.get(abs)?.folder === folder) targets.add(abs);
    } else for (const [abs, p] of this.published) if (p.folder === folder) targets.add(abs);
    // Edited documents get their diagnostics (with the new version) even when unchanged.
    for (const abs of this.edited) if (folder.contains(abs) && this.isOpen(abs)) targets.add(abs);
    for (const abs of targets) {
      const diags = visible(abs) ? (byFile.get(abs) ?? []) : [];
      const json = diagnosticsJson(diags);
      const before = this.published.get(abs);
      const force = this.edited.delete(abs) && this.isOpen(abs) && this.publishEveryVersion;
      if (!force && (before ? before.json === json : diags.length === 0)) continue;
      const uri = before?.uri ?? pathToUri(abs);
      if (diags.length === 0) this.published.delete(abs);
      else this.published.set(abs, { folder, json, uri });
      const version = this.openVersion(abs);
      void this.connection.sendDiagnostics(
        version === null ? { uri, diagnostics: diags } : { uri, version, diagnostics: diags },
      );
    }
    if (enabled && routesChanged) this.notifyRoutes(folder);
    this.afterPublish(folder);
  }

  /** Remove every diagnostic a folder published (folder removed, single file closed). */
  clearFolder(folder: LensFolder): void {
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

  /** Load a folder (with server-initiated progress when the client shows it), then publish. */
  async loadFolder(folder: LensFolder): Promise<void> {
    if (folder.loading) return folder.loading;
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
        await folder.load(
          (done, total) =>
            reporter?.report(
              total ? Math.round((done / total) * 100) : 100,
              `${done}/${total} files`,
            ),
          () => reporter?.token.isCancellationRequested ?? false,
        );
      } finally {
        reporter?.done();
      }
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
      });
    return folder.loading;
  }
}
