import * as fs from 'node:fs';
import * as path from 'node:path';
import ignore from 'ignore';
import { relativeTo, relPath } from '../engine/discovery';
import type { Finding } from '../engine/findings';
import { DEFAULT_MAX_FILE_BYTES, readSource, type Analysis } from '../engine/index';
import { EngineSession, type FileLocalResult } from '../engine/session';
import { DEFAULT_SETTINGS, type LensSettings } from '../protocol';
import { folderConfig, type FolderConfig } from './settings';
import { DiagnosticsSnapshot } from './snapshot';
import { isInside } from './uri';

/**
 * One analysed root: a workspace folder (or, for a file opened outside every folder, that file
 * alone). It owns an EngineSession, the folder's settings and configuration, and the open
 * documents whose text has not reached the engine yet.
 */

export interface DocumentSource {
  /** Text of an open document, or undefined when it is not open. */
  openText(abs: string): string | undefined;
  openPaths(): string[];
}

const NUL = String.fromCharCode(0);

export class LensFolder {
  session: EngineSession;
  settings: LensSettings = DEFAULT_SETTINGS;
  config: FolderConfig;
  /** Open documents changed since the engine last saw them. */
  readonly dirty = new Set<string>();
  /** The initial (or last full) load finished. */
  loaded = false;
  loading: Promise<void> | null = null;
  /** Set once routes were notified (the first notification skips the code lens refresh). */
  lastRoutesKey = '';
  /** Diagnostics of every file were computed once since the last load (later: changed files). */
  publishedOnce = false;
  private excludeMatcher: ReturnType<typeof ignore> | null = null;
  /** Absolute paths of relative ones (memoized: publishing asks for the same ones often). */
  private readonly absolute = new Map<string, string>();
  /** The diagnostics last published, kept for the next start (null: no cache folder). */
  readonly snapshot: DiagnosticsSnapshot | null;

  constructor(
    readonly uri: string,
    /** Folder path (or the file's folder for a single file). */
    readonly root: string,
    /** Analysed roots: the folder, or the single file. */
    readonly roots: string[],
    private readonly docs: DocumentSource,
    private readonly options: { cacheDir: string | null } = { cacheDir: null },
  ) {
    this.config = folderConfig(root, this.settings);
    this.session = this.newSession();
    this.snapshot = options.cacheDir ? new DiagnosticsSnapshot(options.cacheDir, root) : null;
  }

  get singleFile(): boolean {
    return this.roots.length === 1 && this.roots[0] !== this.root;
  }

  private newSession(fresh = false): EngineSession {
    return new EngineSession({
      // A fresh scan (the Scan Workspace command) reads every file again.
      readCache: !fresh,
      roots: this.roots,
      cwd: this.root,
      exclude: this.config.exclude,
      authDependencies: this.config.authDependencies,
      config: this.config.resolver,
      cacheDir: this.options.cacheDir,
    });
  }

  contains(abs: string): boolean {
    return this.singleFile ? this.roots[0] === abs : isInside(abs, this.root);
  }

  rel(abs: string): string {
    return relPath(this.root, abs);
  }

  abs(rel: string): string {
    let abs = this.absolute.get(rel);
    if (abs === undefined) {
      if (this.absolute.size > 100_000) this.absolute.clear();
      this.absolute.set(rel, (abs = path.resolve(this.root, rel)));
    }
    return abs;
  }

  /** New settings or configuration: rebuild the config and the session options. */
  configure(settings: LensSettings): void {
    this.settings = settings;
    this.config = folderConfig(this.root, settings);
    this.excludeMatcher = null;
    this.session.setOptions({
      exclude: this.config.exclude,
      authDependencies: this.config.authDependencies,
      config: this.config.resolver,
    });
  }

  /** Excluded by settings or `[tool.fastapi-lens] exclude` (open files are still skipped). */
  isExcluded(abs: string): boolean {
    if (this.singleFile) return false;
    if (!this.excludeMatcher) this.excludeMatcher = ignore().add(this.config.exclude);
    const rel = relativeTo(this.root, abs);
    if (!rel || rel.startsWith('..')) return false;
    try {
      return this.excludeMatcher.ignores(rel);
    } catch {
      return false;
    }
  }

  /**
   * Hand an open document's text to the engine (binary buffers go through the disk check);
   * `whole`: analyse all of it, not only the statements that differ from the last text.
   */
  private async applyText(abs: string, text: string, whole = false): Promise<void> {
    if (text.includes(NUL)) await this.session.updateFile(abs, null);
    else await this.session.updateFile(abs, text, whole);
  }

  /**
   * Wait for a first load under way, then apply pending changes: what requests (hover, code
   * actions, CodeLens, commands) call first, so they never answer from a half-loaded workspace
   * (exposure from the files read so far; quick fixes missing for the early diagnostics).
   */
  async ready(): Promise<void> {
    while (!this.loaded && this.loading) await this.loading;
    await this.flush();
  }

  /** Apply pending document changes now (before answering a request). */
  async flush(duringLoad = false): Promise<boolean> {
    if (this.dirty.size === 0) return false;
    // Still loading: the load applies open documents when it is done.
    if (!duringLoad && !this.loaded && this.loading) return false;
    const pending = [...this.dirty];
    this.dirty.clear();
    for (const abs of pending) {
      const text = this.docs.openText(abs);
      if (text === undefined) {
        // Closed or changed on disk: back to the disk's text (files discovery knows only).
        if (!fs.existsSync(abs)) this.session.removeFile(abs);
        else if (this.session.hasFile(abs)) await this.session.updateFile(abs, null);
      } else if (!this.isExcluded(abs)) await this.applyText(abs, text);
    }
    return true;
  }

  /**
   * Make open documents win over what a load read from the disk: each analysed whole, as the
   * early file-local findings published during the load were (lens.ts), so that those are
   * among what the load publishes.
   */
  private async reapplyOpenDocuments(): Promise<void> {
    for (const abs of this.docs.openPaths()) {
      if (!this.contains(abs) || this.isExcluded(abs)) continue;
      const text = this.docs.openText(abs);
      if (text !== undefined && this.session.sourceOf(abs) !== text)
        await this.applyText(abs, text, true);
    }
  }

  /**
   * Discover and analyse every file (cached facts are kept unless `fresh`). The engine yields
   * between files, so requests are answered meanwhile. Returns false when cancelled.
   * `discovered` and `first`: see EngineSession.loadAll.
   */
  async load(
    progress?: (done: number, total: number) => void,
    cancelled?: () => boolean,
    fresh = false,
    discovered?: (inputs: string, files: string[]) => void | Promise<void>,
    first?: ReadonlySet<string>,
  ): Promise<boolean> {
    const session = fresh ? this.newSession(true) : this.session;
    await session.loadAll(progress ?? (() => undefined), cancelled, discovered, first);
    if (cancelled?.()) {
      if (session !== this.session) session.dispose();
      return false;
    }
    if (session !== this.session) this.session.dispose();
    this.session = session;
    await this.reapplyOpenDocuments();
    await this.flush(true);
    this.loaded = true;
    this.publishedOnce = false;
    return true;
  }

  /**
   * The findings of an open document that its text alone decides, with that text (lens.ts
   * publishes them while the folder loads); null when the load will not analyse this text
   * (not open, excluded, binary: the disk's is read) or the engine cannot analyse it here.
   */
  async fileLocalFindings(abs: string): Promise<{ text: string; result: FileLocalResult } | null> {
    const text = this.docs.openText(abs);
    if (text === undefined || text.includes(NUL) || !this.contains(abs) || this.isExcluded(abs))
      return null;
    const result = await this.session.fileLocalFindings(abs, text);
    return result && { text, result };
  }

  analysis(): Analysis {
    return this.session.analysis();
  }

  findings(): Finding[] {
    return this.session.findings();
  }

  /** Findings of one file (absolute path). */
  findingsOf(abs: string): Finding[] {
    return this.session.findingsOf(this.rel(abs));
  }

  /** Current text of a file: open buffer, engine copy, or disk. */
  sourceOf(abs: string): string | null {
    const open = this.docs.openText(abs);
    if (open !== undefined) return open;
    const cached = this.session.sourceOf(abs);
    if (cached !== null) return cached;
    const read = readSource(abs, DEFAULT_MAX_FILE_BYTES);
    return 'source' in read ? read.source : null;
  }
}
