import * as path from 'node:path';
import {
  ResponseError,
  type CancellationToken,
  type WorkDoneProgressReporter,
} from 'vscode-languageserver/node';
import type { Finding } from '../engine/findings';
import type { EngineDiagnostic, Route, RoutesReport } from '../engine/types';
import { rulesByCode } from '../engine/scan';
import { renderJson, type JsonDiagnostic } from '../cli/jsonFormat';
import { renderRoutes } from '../cli/routesFormat';
import { renderSarif } from '../cli/sarifFormat';
import { summarize } from '../cli/textFormat';
import type {
  ExportParams,
  ExportResult,
  RoutesParams,
  RoutesResult,
  ScanWorkspaceParams,
  ScanWorkspaceResult,
} from '../protocol';
import type { LensFolder } from './folder';
import type { Lens } from './lens';
import { pathToUri, uriToPath } from './uri';

/**
 * Custom requests: `fastapiLens/routes` (the JSON of `fastapi-lens routes --format json`),
 * `fastapiLens/scanWorkspace` (full rescan with progress and cancellation) and
 * `fastapiLens/export` (routes as Markdown/CSV/JSON, findings as JSON/SARIF/Markdown/CSV).
 */

/** Folders a request is about: the one named, or all. */
function foldersOf(lens: Lens, folderUri?: string): LensFolder[] {
  if (folderUri) {
    const abs = uriToPath(folderUri);
    const f = lens.folders.find((x) => x.uri === folderUri || (abs !== null && x.root === abs));
    return f ? [f] : [];
  }
  return lens.folders.length ? lens.folders : [...lens.singles.values()];
}

function commonRoot(folders: LensFolder[]): string {
  if (folders.length === 1) return folders[0].root;
  let common = folders[0].root;
  for (const f of folders.slice(1)) {
    while (path.relative(common, f.root).startsWith('..')) common = path.dirname(common);
  }
  return common;
}

function rebase(folder: LensFolder, root: string, rel: string): string {
  if (folder.root === root) return rel;
  return path.relative(root, folder.abs(rel)).split(path.sep).join('/');
}

async function ready(folders: LensFolder[], lens: Lens): Promise<void> {
  for (const f of folders) {
    if (!f.loaded) await lens.loadFolder(f);
    await f.flush();
  }
}

export async function routesRequest(
  lens: Lens,
  params: RoutesParams | undefined,
): Promise<RoutesResult> {
  const folders = foldersOf(lens, params?.folderUri);
  await ready(folders, lens);
  if (folders.length === 0) return { version: 1, root: '.', routes: [], diagnostics: [] };
  const root = commonRoot(folders);
  const routes: Route[] = [];
  const diagnostics: EngineDiagnostic[] = [];
  for (const f of folders) {
    const report = f.analysis().report;
    for (const r of report.routes)
      routes.push(
        f.root === root
          ? r
          : {
              ...r,
              file: rebase(f, root, r.file),
              auth: r.auth.map((a) => ({ ...a, file: a.file && rebase(f, root, a.file) })),
            },
      );
    for (const d of report.diagnostics) diagnostics.push({ ...d, file: rebase(f, root, d.file) });
  }
  const report: RoutesReport = { version: 1, root: '.', routes, diagnostics };
  return { ...report, rootUri: pathToUri(root) };
}

function findingsOf(lens: Lens, folders: LensFolder[], root: string): Finding[] {
  const out: Finding[] = [];
  for (const f of folders)
    for (const x of lens.findingsOf(f))
      out.push(f.root === root ? x : { ...x, file: rebase(f, root, x.file) });
  return out;
}

export async function scanWorkspaceRequest(
  lens: Lens,
  params: ScanWorkspaceParams | undefined,
  token: CancellationToken,
  progress: WorkDoneProgressReporter,
): Promise<ScanWorkspaceResult> {
  if (params?.uri) {
    const abs = uriToPath(params.uri);
    const folder = abs ? lens.folderFor(abs, true) : null;
    if (!abs || !folder) return { files: 0, findings: [], cancelled: false };
    await ready([folder], lens);
    const rel = folder.rel(abs);
    lens.publish(folder);
    return {
      files: 1,
      findings: lens.findingsOf(folder).filter((f) => f.file === rel),
      cancelled: false,
    };
  }
  const folders = foldersOf(lens);
  progress.begin('FastAPI Security Lens: scanning', 0, 'discovering files', true);
  let files = 0;
  let cancelled = false;
  try {
    for (const folder of folders) {
      let last = 0;
      const ok = await folder.load(
        (done, total) => {
          last = total;
          progress.report(total ? Math.round((done / total) * 100) : 100, `${done}/${total} files`);
        },
        () => token.isCancellationRequested,
        true,
      );
      if (!ok) {
        cancelled = true;
        break;
      }
      files += last || folder.session.fileCount();
      lens.publish(folder);
    }
  } finally {
    progress.done();
  }
  if (cancelled) return { files, findings: [], cancelled: true };
  return { files, findings: findingsOf(lens, folders, commonRoot(folders)), cancelled: false };
}

function findingsMarkdown(findings: Finding[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    '| Severity | Code | Location | Route | Message |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const f of findings) {
    const route = f.route ? `${f.route.methods.join(',')} ${f.route.path}` : '';
    lines.push(
      `| ${f.severity} | ${f.code} | ${cell(`${f.file}:${f.line}`)} | ${cell(route)} | ${cell(f.message)} |`,
    );
  }
  return lines.join('\n') + '\n';
}

function findingsCsv(findings: Finding[]): string {
  const cell = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = ['severity,code,file,line,column,route,exposure,message'];
  for (const f of findings)
    lines.push(
      [
        f.severity,
        f.code,
        f.file,
        String(f.line),
        String(f.column),
        f.route ? `${f.route.methods.join(' ')} ${f.route.path}` : '',
        f.route?.exposure ?? '',
        f.message,
      ]
        .map(cell)
        .join(','),
    );
  return lines.join('\n') + '\n';
}

export async function exportRequest(lens: Lens, params: ExportParams): Promise<ExportResult> {
  const format = params?.format;
  if (!['markdown', 'csv', 'json', 'sarif'].includes(format))
    throw new ResponseError(-32602, `unknown export format ${String(format)}`);
  const folders = foldersOf(lens);
  await ready(folders, lens);
  const root = folders.length ? commonRoot(folders) : process.cwd();
  if (format === 'sarif' || params.what === 'findings') {
    const findings = findingsOf(lens, folders, root);
    const diagnostics: JsonDiagnostic[] = [];
    let files = 0;
    let routes = 0;
    for (const f of folders) {
      files += f.session.fileCount();
      const report = f.analysis().report;
      routes += report.routes.length;
      for (const d of report.diagnostics)
        diagnostics.push({
          source: 'engine',
          file: rebase(f, root, d.file),
          line: d.line,
          level: 'note',
          message: d.message,
        });
    }
    switch (format) {
      case 'sarif':
        return {
          content: renderSarif(findings, diagnostics, {
            cwd: root,
            rules: [...rulesByCode().values()].map((r) => r.meta),
          }),
          fileName: 'fastapi-lens.sarif',
        };
      case 'json':
        return {
          content: renderJson(findings, diagnostics, summarize(findings, files, routes)),
          fileName: 'fastapi-lens-findings.json',
        };
      case 'csv':
        return { content: findingsCsv(findings), fileName: 'fastapi-lens-findings.csv' };
      default:
        return { content: findingsMarkdown(findings), fileName: 'fastapi-lens-findings.md' };
    }
  }
  const report = await routesRequest(lens, undefined);
  const { rootUri: _rootUri, ...plain } = report;
  const ext = format === 'markdown' ? 'md' : format;
  return { content: renderRoutes(plain, format, false), fileName: `fastapi-routes.${ext}` };
}
