import * as path from 'node:path';
import type { Parser } from 'web-tree-sitter';
import { discover, errText, moduleNameFor, relPath } from './discovery';
import type { ModuleFacts } from './facts';
import type { Finding } from './findings';
import {
  combine,
  DEFAULT_MAX_FILE_BYTES,
  factsFor,
  readSource,
  type Analysis,
  type AnalyzeOptions,
} from './index';
import { createPythonParser } from './parser';
import { computeAllFacts } from './pool';
import { DEFAULT_CONFIG, scanAnalysis, type ConfigResolver } from './scan';
import type { EngineDiagnostic } from './types';
import type { WorkspaceFile } from './workspace';

/**
 * A long-lived engine for editors: per-file facts are cached and recomputed for one changed
 * file alone; the workspace passes (model, dependencies, exposure, rules) rerun over the cached
 * facts, which is cheap. The CLI uses the one-shot `analyzeWorkspace` instead.
 */

interface CachedFile {
  abs: string;
  rel: string;
  facts: ModuleFacts | null;
  /** Why the file has no facts (too big, binary, unreadable). */
  error: string | null;
  /** Source text as last analysed (open documents and files read from disk). */
  source: string | null;
}

export interface SessionOptions extends Omit<AnalyzeOptions, 'overlays'> {
  config?: ConfigResolver;
}

export class EngineSession {
  private parser: Parser | null = null;
  private readonly files = new Map<string, CachedFile>();
  private packages = new Set<string>();
  private sourceRoots = new Set<string>();
  private discoveryDiagnostics: EngineDiagnostic[] = [];
  private cachedAnalysis: Analysis | null = null;
  private cachedFindings: Finding[] | null = null;
  private readonly cwd: string;
  private readonly maxBytes: number;

  constructor(private options: SessionOptions) {
    this.cwd = path.resolve(options.cwd);
    this.maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  }

  setOptions(options: Partial<SessionOptions>): void {
    this.options = { ...this.options, ...options };
    this.invalidate();
  }

  private async ensureParser(): Promise<Parser> {
    if (!this.parser) this.parser = await createPythonParser();
    return this.parser;
  }

  /** Discover and analyse every file under the roots. Calls `progress(done, total)`. */
  async loadAll(
    progress?: (done: number, total: number) => void,
    cancelled?: () => boolean,
  ): Promise<void> {
    const found = discover(this.options.roots, {
      exclude: this.options.exclude ?? [],
      cwd: this.cwd,
    });
    this.packages = found.packages;
    this.sourceRoots = found.sourceRoots;
    this.discoveryDiagnostics = found.diagnostics;
    const keep = new Set(found.files.map((f) => f.abs));
    for (const abs of [...this.files.keys()]) if (!keep.has(abs)) this.files.delete(abs);
    const todo = found.files.filter((f) => {
      const existing = this.files.get(f.abs);
      return !existing || existing.facts === null;
    });
    const results = await computeAllFacts(
      todo.map((f) => ({ abs: f.abs })),
      {
        maxBytes: this.maxBytes,
        keepSource: true,
        progress,
        cancelled,
        threads: this.options.threads,
      },
    );
    for (const r of results) {
      const rel = relPath(this.cwd, r.abs);
      this.files.set(
        r.abs,
        'error' in r
          ? { abs: r.abs, rel, facts: null, error: r.error, source: null }
          : { abs: r.abs, rel, facts: r.facts, error: null, source: r.source ?? null },
      );
    }
    this.invalidate();
  }

  private analyseFromDisk(p: Parser, abs: string): CachedFile {
    const read = readSource(abs, this.maxBytes);
    if ('error' in read)
      return { abs, rel: relPath(this.cwd, abs), facts: null, error: read.error, source: null };
    return this.analyseText(p, abs, read.source);
  }

  private analyseText(p: Parser, abs: string, source: string): CachedFile {
    const rel = relPath(this.cwd, abs);
    if (source.length > this.maxBytes)
      return { abs, rel, facts: null, error: 'skipped: file is over the size limit', source: null };
    try {
      return { abs, rel, facts: factsFor(p, abs, source), error: null, source };
    } catch (err) {
      return { abs, rel, facts: null, error: `could not analyse: ${errText(err)}`, source: null };
    }
  }

  /** A file's text changed (open document) or appeared on disk; `null` text re-reads the disk. */
  async updateFile(abs: string, text: string | null): Promise<void> {
    const p = await this.ensureParser();
    const before = this.files.get(abs);
    const next = text === null ? this.analyseFromDisk(p, abs) : this.analyseText(p, abs, text);
    this.files.set(abs, next);
    if (path.basename(abs) === '__init__.py' && !before) this.packages.add(path.dirname(abs));
    this.invalidate();
  }

  removeFile(abs: string): void {
    if (this.files.delete(abs)) {
      if (path.basename(abs) === '__init__.py') this.packages.delete(path.dirname(abs));
      this.invalidate();
    }
  }

  hasFile(abs: string): boolean {
    return this.files.has(abs);
  }

  sourceOf(abs: string): string | null {
    return this.files.get(abs)?.source ?? null;
  }

  fileCount(): number {
    return this.files.size;
  }

  private invalidate(): void {
    this.cachedAnalysis = null;
    this.cachedFindings = null;
  }

  /** The workspace model over the cached facts (memoized until the next change). */
  analysis(): Analysis {
    if (this.cachedAnalysis) return this.cachedAnalysis;
    const files: WorkspaceFile[] = [];
    const diagnostics: EngineDiagnostic[] = [...this.discoveryDiagnostics];
    for (const f of this.files.values()) {
      if (!f.facts) {
        if (f.error) diagnostics.push({ file: f.rel, message: f.error });
        continue;
      }
      if (f.facts.parseErrors > 0)
        diagnostics.push({
          file: f.rel,
          message: `syntax errors (${f.facts.parseErrors}); analysed what could be parsed`,
        });
      const { module, isPackage } = moduleNameFor(f.abs, this.packages, this.sourceRoots);
      files.push({ abs: f.abs, rel: f.rel, module, isPackage, facts: f.facts });
    }
    this.cachedAnalysis = combine(files, diagnostics, this.cwd, this.options);
    return this.cachedAnalysis;
  }

  findings(): Finding[] {
    if (this.cachedFindings) return this.cachedFindings;
    const config = this.options.config ?? { forFile: () => DEFAULT_CONFIG };
    this.cachedFindings = scanAnalysis(this.analysis(), {
      config,
      sourceOf: (abs) => this.sourceOf(abs),
    });
    return this.cachedFindings;
  }
}
