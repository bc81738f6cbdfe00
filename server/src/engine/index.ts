import * as path from 'node:path';
import { DependencyAnalyzer } from './dependencies';
import { discover, moduleNameFor, relPath } from './discovery';
import { DEFAULT_MAX_FILE_BYTES, factsFor, readSource } from './fileFacts';
import { FastApiModel } from './model';
import { computeAllFacts } from './pool';
import { buildRoutes, type RouteRecord } from './routes';
import { DEFAULT_CONFIG, scanAnalysis, type ConfigResolver } from './scan';
import type { Finding } from './findings';
import type { EngineDiagnostic, RoutesReport } from './types';
import { Workspace, type WorkspaceFile } from './workspace';

export * from './types';
export type { RouteRecord } from './routes';
export type { Finding, LocalFinding, Severity, Fix } from './findings';
export type { ConfigResolver, EffectiveConfig } from './scan';

/**
 * The engine's entry point: discover files, parse each once, extract per-file facts, then run
 * the cheap workspace passes (module index, FastAPI model, dependencies, route exposure).
 */

export interface AnalyzeOptions {
  /** Files or folders to analyse (absolute, or relative to cwd). */
  roots: string[];
  /** Paths in the report are relative to this folder. */
  cwd: string;
  exclude?: string[];
  authDependencies?: string[];
  /** Files larger than this are skipped with a diagnostic. */
  maxFileBytes?: number;
  /** In-memory contents that win over the disk (open editor buffers), by absolute path. */
  overlays?: Map<string, string>;
  /** Worker threads for parsing (default: one per core; 1 = in this thread). */
  threads?: number;
}

export interface Analysis {
  report: RoutesReport;
  records: RouteRecord[];
  workspace: Workspace;
  model: FastApiModel;
  deps: DependencyAnalyzer;
  /** Sources by absolute path, for rules that need text (kept only for FastAPI-related files). */
  files: WorkspaceFile[];
}

export { DEFAULT_MAX_FILE_BYTES, factsFor, readSource };

export async function analyzeWorkspace(options: AnalyzeOptions): Promise<Analysis> {
  const cwd = path.resolve(options.cwd);
  const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const discovered = discover(options.roots, { exclude: options.exclude ?? [], cwd });
  const diagnostics: EngineDiagnostic[] = [...discovered.diagnostics];
  const results = await computeAllFacts(
    discovered.files.map((f) => ({
      abs: f.abs,
      overlay: options.overlays?.get(f.abs),
      role: { test: f.test, docs: f.docs },
    })),
    { maxBytes, threads: options.threads },
  );
  const relOf = new Map(discovered.files.map((f) => [f.abs, f.rel]));
  const files: WorkspaceFile[] = [];
  for (const r of results) {
    const rel = relOf.get(r.abs) ?? r.abs;
    if ('error' in r) {
      diagnostics.push({ file: rel, message: r.error });
      continue;
    }
    if (r.facts.parseErrors > 0)
      diagnostics.push({
        file: rel,
        message: `syntax errors (${r.facts.parseErrors}); analysed what could be parsed`,
      });
    const { module, isPackage } = moduleNameFor(r.abs, discovered.packages, discovered.sourceRoots);
    files.push({ abs: r.abs, rel, module, isPackage, facts: r.facts });
  }
  return combine(files, diagnostics, cwd, options);
}

/** The workspace passes over already extracted facts: cheap, run after every change. */
export function combine(
  files: WorkspaceFile[],
  diagnostics: EngineDiagnostic[],
  cwd: string,
  options: Pick<AnalyzeOptions, 'authDependencies'>,
): Analysis {
  const workspace = new Workspace(files);
  const deps = new DependencyAnalyzer(workspace, {
    authDependencies: options.authDependencies ?? [],
  });
  const model = new FastApiModel(workspace, deps);
  model.build();
  const records = buildRoutes(workspace, model, deps);
  const report: RoutesReport = {
    version: 1,
    root: relPath(process.cwd(), cwd),
    routes: records.map((r) => r.route),
    diagnostics,
  };
  return { report, records, workspace, model, deps, files };
}

export interface ScanWorkspaceOptions extends AnalyzeOptions {
  config?: ConfigResolver;
}

/** Analyse and run every rule: the findings of `fastapi-lens scan`. */
export async function scanWorkspace(
  options: ScanWorkspaceOptions,
): Promise<{ analysis: Analysis; findings: Finding[] }> {
  const analysis = await analyzeWorkspace(options);
  const config = options.config ?? { forFile: () => DEFAULT_CONFIG };
  const findings = scanAnalysis(analysis, {
    config,
    sourceOf: (abs) => {
      const overlay = options.overlays?.get(abs);
      if (overlay !== undefined) return overlay;
      const read = readSource(abs, options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES);
      return 'source' in read ? read.source : null;
    },
  });
  return { analysis, findings };
}
