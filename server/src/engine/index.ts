import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Parser } from 'web-tree-sitter';
import { DependencyAnalyzer } from './dependencies';
import { discover, errText, moduleNameFor, relPath } from './discovery';
import { extractFacts, type ModuleFacts } from './facts';
import { FastApiModel } from './model';
import { createPythonParser, parseSource } from './parser';
import { buildRoutes, type RouteRecord } from './routes';
import { DEFAULT_CONFIG, runFileRules, scanAnalysis, type ConfigResolver } from './scan';
import { computeTaintFacts } from './taint/index';
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

export const DEFAULT_MAX_FILE_BYTES = 5 * 1024 * 1024;

let sharedParser: Promise<Parser> | null = null;
function parser(): Promise<Parser> {
  if (!sharedParser) sharedParser = createPythonParser();
  return sharedParser;
}

/** Read a file as Python source, or say why not. */
export function readSource(abs: string, maxBytes: number): { source: string } | { error: string } {
  let buf: Buffer;
  try {
    const st = fs.statSync(abs);
    if (st.size > maxBytes)
      return {
        error: `skipped: file is ${(st.size / 1024 / 1024).toFixed(1)} MB, over the ${(maxBytes / 1024 / 1024).toFixed(1)} MB limit`,
      };
    buf = fs.readFileSync(abs);
  } catch (err) {
    return { error: `cannot read: ${errText(err)}` };
  }
  const probe = buf.subarray(0, 8192);
  if (probe.includes(0)) return { error: 'skipped: binary file (contains NUL bytes)' };
  // Invalid UTF-8 is decoded with replacement characters rather than rejected.
  let source = new TextDecoder('utf-8', { fatal: false }).decode(buf);
  if (source.charCodeAt(0) === 0xfeff) source = source.slice(1);
  return { source };
}

export function factsFor(p: Parser, abs: string, source: string): ModuleFacts {
  const tree = parseSource(p, source);
  try {
    const facts = extractFacts(abs, tree);
    facts.local = runFileRules(abs, source, tree, facts);
    facts.taint = computeTaintFacts(tree, facts);
    return facts;
  } finally {
    tree.delete();
  }
}

export async function analyzeWorkspace(options: AnalyzeOptions): Promise<Analysis> {
  const cwd = path.resolve(options.cwd);
  const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const discovered = discover(options.roots, { exclude: options.exclude ?? [], cwd });
  const diagnostics: EngineDiagnostic[] = [...discovered.diagnostics];
  const p = await parser();
  const files: WorkspaceFile[] = [];
  for (const f of discovered.files) {
    const overlay = options.overlays?.get(f.abs);
    const read = overlay !== undefined ? { source: overlay } : readSource(f.abs, maxBytes);
    if ('error' in read) {
      diagnostics.push({ file: f.rel, message: read.error });
      continue;
    }
    let facts: ModuleFacts;
    try {
      facts = factsFor(p, f.abs, read.source);
    } catch (err) {
      diagnostics.push({ file: f.rel, message: `could not analyse: ${errText(err)}` });
      continue;
    }
    if (facts.parseErrors > 0)
      diagnostics.push({
        file: f.rel,
        message: `syntax errors (${facts.parseErrors}); analysed what could be parsed`,
      });
    const { module, isPackage } = moduleNameFor(f.abs, discovered.packages, discovered.sourceRoots);
    files.push({ abs: f.abs, rel: f.rel, module, isPackage, facts });
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
