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
import { diagnosticsByFile } from './diagnostics';
import { LensFolder, type DocumentSource } from './folder';
import { errorText, type Logger } from './safe';
import { normalizeSettings } from './settings';
import { pathToUri, rememberUri, uriToPath } from './uri';

/**
 * The server's state: open documents, analysed folders, what was published, and the scheduling
 * that turns edits into fresh diagnostics (debounced, whole-workspace rules rerun so that an
 * edit in one file updates the diagnostics of the files it affects).
 */

export const DEBOUNCE_MS = 150;

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

  documentChanged(uri: string, delay = DEBOUNCE_MS): void {
    const abs = uriToPath(uri);
    if (!abs || !abs.endsWith('.py')) return;
    const folder = this.folderFor(abs, true);
    if (!folder) return;
    folder.dirty.add(abs);
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
    const created = new LensFolder(pathToUri(path.dirname(abs)), path.dirname(abs), [abs], this);
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
  schedule(folder: LensFolder, delay = DEBOUNCE_MS): void {
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
      await folder.flush();
      this.publish(folder);
    } catch (err) {
      this.log.error(`analysis failed: ${errorText(err)}`);
    }
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
    if (enabled) {
      const analysis = folder.analysis();
      const findings = this.findingsOf(folder);
      byFile = diagnosticsByFile(
        folder,
        findings,
        analysis.records,
        analysis.report.diagnostics,
        (message) => {
          if (this.loggedNotes.has(message)) return;
          this.loggedNotes.add(message);
          this.log.info(message);
        },
      );
    }
    const workspaceScope = folder.settings.diagnostics.scope === 'workspace';
    const visible = (abs: string): boolean =>
      workspaceScope || this.isOpen(abs) || abs.endsWith('pyproject.toml');
    const targets = new Set<string>();
    for (const abs of byFile.keys()) if (visible(abs)) targets.add(abs);
    for (const [abs, p] of this.published) if (p.folder === folder) targets.add(abs);
    for (const abs of targets) {
      const diags = visible(abs) ? (byFile.get(abs) ?? []) : [];
      const json = JSON.stringify(diags);
      const before = this.published.get(abs);
      if (before ? before.json === json : diags.length === 0) continue;
      const uri = before?.uri ?? pathToUri(abs);
      if (diags.length === 0) this.published.delete(abs);
      else this.published.set(abs, { folder, json, uri });
      const version = this.openVersion(abs);
      void this.connection.sendDiagnostics(
        version === null ? { uri, diagnostics: diags } : { uri, version, diagnostics: diags },
      );
    }
    if (enabled) this.notifyRoutes(folder);
    this.afterPublish(folder);
  }

  /** Remove every diagnostic a folder published (folder removed, single file closed). */
  clearFolder(folder: LensFolder): void {
    for (const [abs, p] of [...this.published]) {
      if (p.folder !== folder) continue;
      this.published.delete(abs);
      void this.connection.sendDiagnostics({ uri: p.uri, diagnostics: [] });
    }
  }

  private notifyRoutes(folder: LensFolder): void {
    const routes = folder.analysis().report.routes;
    const key = JSON.stringify(routes);
    if (key === folder.lastRoutesKey) return;
    const first = folder.lastRoutesKey === '';
    folder.lastRoutesKey = key;
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
      this.publish(folder);
    };
    folder.loading = run()
      .catch((err) => this.log.error(`loading ${folder.root} failed: ${errorText(err)}`))
      .finally(() => {
        folder.loading = null;
      });
    return folder.loading;
  }
}
