/**
 * Command implementations (category "FastAPI Security"). Each one asks the server and presents
 * the answer; no analysis happens here.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { WorkDoneProgress, type WorkDoneProgressReport } from 'vscode-languageclient/node';
import type { Finding } from '../../server/src/engine/findings';
import {
  COMMANDS,
  EXPORT_REQUEST,
  SCAN_WORKSPACE_REQUEST,
  type ExportFormat,
  type ExportParams,
  type ExportResult,
  type ScanWorkspaceParams,
  type ScanWorkspaceResult,
} from '../../server/src/protocol';
import type { ScanRecord } from './api';
import { publicMarkerEdit, routeLabel, type GroupBy, type RouteFilter } from './routeModel';
import { resolveRouteFile, routeFromArg, routeUri, type RoutesTreeProvider } from './routesTree';
import type { ServerController } from './server';

export interface CommandContext {
  server: ServerController;
  tree: RoutesTreeProvider;
  output: vscode.LogOutputChannel;
  onScan(record: ScanRecord): void;
}

/** Optional arguments so that scripts and tests can run the commands without dialogs. */
export interface ExportArgs {
  format?: ExportFormat;
  what?: 'routes' | 'findings';
  /** `untitled` opens a new editor; a URI string saves there; omitted asks. */
  destination?: 'untitled' | string;
}

const FORMATS: { format: ExportFormat; label: string; language: string; ext: string }[] = [
  { format: 'markdown', label: 'Markdown', language: 'markdown', ext: 'md' },
  { format: 'csv', label: 'CSV', language: 'csv', ext: 'csv' },
  { format: 'json', label: 'JSON', language: 'json', ext: 'json' },
  { format: 'sarif', label: 'SARIF (findings)', language: 'json', ext: 'sarif' },
];

let scanSeq = 0;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function summary(result: ScanWorkspaceResult): string {
  const by = { error: 0, warning: 0, info: 0 };
  for (const f of result.findings) by[f.severity]++;
  const parts = [
    by.error ? plural(by.error, 'error') : '',
    by.warning ? plural(by.warning, 'warning') : '',
    by.info ? `${by.info} info` : '',
  ].filter(Boolean);
  return `${plural(result.findings.length, 'finding')}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

function isCancellation(err: unknown): boolean {
  const e = err as { code?: number; name?: string } | undefined;
  return e?.code === -32800 || e?.name === 'Canceled';
}

export function registerCommands(ctx: CommandContext): vscode.Disposable[] {
  const { server, tree, output } = ctx;

  async function scan(uri?: vscode.Uri): Promise<ScanWorkspaceResult | undefined> {
    await server.ready();
    const token = `fastapiLens/scan/${++scanSeq}`;
    const progressLog: string[] = [];
    const title = uri
      ? `FastAPI Security Lens: scanning ${path.basename(uri.fsPath)}`
      : 'FastAPI Security Lens: scanning workspace';
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title, cancellable: true },
      async (progress, cancel) => {
        let last = 0;
        const sub = server.client.onProgress(WorkDoneProgress.type, token, (value) => {
          if (value.kind === 'end') return;
          const v = value as WorkDoneProgressReport;
          const increment =
            v.percentage !== undefined ? Math.max(0, v.percentage - last) : undefined;
          if (v.percentage !== undefined) last = v.percentage;
          if (v.message) progressLog.push(v.message);
          progress.report({ message: v.message, increment });
        });
        try {
          const params: ScanWorkspaceParams = { uri: uri?.toString(), workDoneToken: token };
          const result = await server.client.sendRequest<ScanWorkspaceResult>(
            SCAN_WORKSPACE_REQUEST,
            params,
            cancel,
          );
          ctx.onScan({ result, progress: progressLog });
          if (result.cancelled || cancel.isCancellationRequested) {
            void vscode.window.showInformationMessage(
              `FastAPI Security Lens: scan cancelled after ${plural(result.files, 'file')}.`,
            );
          } else {
            const where = uri ? path.basename(uri.fsPath) : plural(result.files, 'file');
            void vscode.window
              .showInformationMessage(
                `FastAPI Security Lens: scanned ${where}: ${summary(result)}.`,
                'Show Problems',
              )
              .then((pick) => {
                if (pick) void vscode.commands.executeCommand('workbench.actions.view.problems');
              });
          }
          tree.invalidate();
          return result;
        } catch (err) {
          if (isCancellation(err)) {
            const result: ScanWorkspaceResult = { files: 0, findings: [], cancelled: true };
            ctx.onScan({ result, progress: progressLog });
            void vscode.window.showInformationMessage('FastAPI Security Lens: scan cancelled.');
            return result;
          }
          throw err;
        } finally {
          sub.dispose();
        }
      },
    );
  }

  async function requestExport(params: ExportParams): Promise<ExportResult> {
    await server.ready();
    return server.client.sendRequest<ExportResult>(EXPORT_REQUEST, params);
  }

  /** Shows or saves an export; returns the document or file it went to. */
  async function deliver(
    result: ExportResult,
    format: ExportFormat,
    destination: string | undefined,
  ): Promise<vscode.Uri | undefined> {
    const info = FORMATS.find((f) => f.format === format) ?? FORMATS[0]!;
    let dest = destination;
    if (!dest) {
      const pick = await vscode.window.showQuickPick(
        [
          { label: '$(new-file) Open in an editor', value: 'untitled' },
          { label: '$(save-as) Save to a file…', value: 'file' },
        ],
        { title: `Export ${info.label}` },
      );
      if (!pick) return undefined;
      dest = pick.value;
    }
    if (dest === 'untitled') {
      const doc = await vscode.workspace.openTextDocument({
        language: info.language,
        content: result.content,
      });
      await vscode.window.showTextDocument(doc, { preview: false });
      return doc.uri;
    }
    let target: vscode.Uri | undefined;
    if (dest === 'file') {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      target = await vscode.window.showSaveDialog({
        defaultUri: folder ? vscode.Uri.joinPath(folder, result.fileName) : undefined,
        filters: { [info.label]: [info.ext] },
        title: `Export ${info.label}`,
      });
      if (!target) return undefined;
    } else {
      target = vscode.Uri.parse(dest);
    }
    await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(result.content));
    void vscode.window
      .showInformationMessage(
        `FastAPI Security Lens: saved ${path.basename(target.fsPath)}.`,
        'Open',
      )
      .then((pick) => {
        if (pick) void vscode.window.showTextDocument(target);
      });
    return target;
  }

  async function exportRoutes(args?: ExportArgs): Promise<vscode.Uri | undefined> {
    let format = args?.format;
    if (!format) {
      const pick = await vscode.window.showQuickPick(
        FORMATS.map((f) => ({ label: f.label, format: f.format })),
        { title: 'Export the route exposure report as' },
      );
      if (!pick) return undefined;
      format = pick.format;
    }
    const what = format === 'sarif' ? 'findings' : (args?.what ?? 'routes');
    return deliver(await requestExport({ format, what }), format, args?.destination);
  }

  async function showReport(): Promise<vscode.Uri> {
    const result = await requestExport({ format: 'markdown', what: 'routes' });
    const doc = await vscode.workspace.openTextDocument({
      language: 'markdown',
      content: result.content,
    });
    await vscode.window.showTextDocument(doc, { preview: false });
    // The preview is a nicety: the built-in Markdown extension may be disabled.
    await vscode.commands
      .executeCommand('markdown.showPreviewToSide', doc.uri)
      .then(undefined, () => undefined);
    return doc.uri;
  }

  async function openRoute(arg: unknown): Promise<void> {
    const route = routeFromArg(arg);
    if (!route) return;
    const line = Math.max(0, (route.handlerLine ?? route.line) - 1);
    const pos = new vscode.Position(line, 0);
    const editor = await vscode.window.showTextDocument(routeUri(route), {
      selection: new vscode.Range(pos, pos),
      preserveFocus: false,
    });
    editor.revealRange(
      new vscode.Range(pos, pos),
      vscode.TextEditorRevealType.InCenterIfOutsideViewport,
    );
  }

  async function markPublic(arg: unknown, reasonArg?: string): Promise<boolean> {
    const route = routeFromArg(arg);
    if (!route) return false;
    const reason =
      reasonArg ??
      (await vscode.window.showInputBox({
        title: `Mark ${routeLabel(route)} public`,
        prompt:
          'Why may anyone call this route without logging in? (kept in the code as a comment)',
        placeHolder: 'e.g. health check for the load balancer',
        validateInput: (v) =>
          v.trim() ? undefined : 'Give a reason, so reviewers know it is deliberate.',
      }));
    if (reason === undefined) return false;
    const uri = routeUri(route);
    const doc = await vscode.workspace.openTextDocument(uri);
    const lineNo = route.line - 1;
    if (lineNo < 0 || lineNo >= doc.lineCount) return false;
    const edit = publicMarkerEdit(doc.lineAt(lineNo).text, reason);
    const we = new vscode.WorkspaceEdit();
    we.replace(uri, new vscode.Range(lineNo, edit.startColumn, lineNo, edit.endColumn), edit.text, {
      label: 'Mark route public',
      needsConfirmation: false,
    });
    const ok = await vscode.workspace.applyEdit(we);
    if (ok) {
      // Show the comment (unsaved, like a quick fix) so that the change is visible and undoable.
      // Appended or inserted above, the comment is on the decorator's former line number.
      const text = doc.lineAt(lineNo).text;
      const start = text.indexOf('# fastapi-lens: public');
      await vscode.window.showTextDocument(doc, {
        selection: new vscode.Range(lineNo, Math.max(0, start), lineNo, text.length),
        preview: false,
      });
    }
    return ok;
  }

  async function showFindings(arg: unknown): Promise<Finding[]> {
    const route = routeFromArg(arg);
    if (!route) return [];
    await server.ready();
    const result = await server.client.sendRequest<ScanWorkspaceResult>(SCAN_WORKSPACE_REQUEST, {
      uri: routeUri(route).toString(),
    } satisfies ScanWorkspaceParams);
    const mine = result.findings.filter(
      (f) =>
        f.route &&
        f.route.path === route.path &&
        f.route.line === route.line &&
        f.route.methods.join() === route.methods.join(),
    );
    if (mine.length === 0) {
      void vscode.window.showInformationMessage(`No findings on ${routeLabel(route)}.`);
      return mine;
    }
    const pick = await vscode.window.showQuickPick(
      mine.map((f) => ({
        label: `$(${f.severity === 'error' ? 'error' : f.severity === 'warning' ? 'warning' : 'info'}) ${f.code}`,
        description: `${path.basename(f.file)}:${f.line}`,
        detail: f.message,
        finding: f,
      })),
      { title: `Findings on ${routeLabel(route)}`, matchOnDetail: true },
    );
    if (pick) {
      const f = pick.finding;
      const range = new vscode.Range(f.line - 1, f.column, f.endLine - 1, f.endColumn);
      await vscode.window.showTextDocument(vscode.Uri.file(resolveRouteFile(f.file)), {
        selection: range,
      });
    }
    return mine;
  }

  async function copyPath(arg: unknown): Promise<string | undefined> {
    const route = routeFromArg(arg);
    if (!route) return undefined;
    await vscode.env.clipboard.writeText(route.path);
    vscode.window.setStatusBarMessage(`Copied ${route.path}`, 2000);
    return route.path;
  }

  async function filterRoutes(arg?: RouteFilter): Promise<RouteFilter | undefined> {
    let filter = arg;
    if (!filter) {
      const items = [
        { label: 'Public routes only', key: 'publicOnly' as const, picked: tree.filter.publicOnly },
        {
          label: 'Write methods only',
          description: 'POST, PUT, PATCH, DELETE',
          key: 'writeOnly' as const,
          picked: tree.filter.writeOnly,
        },
      ];
      const picks = await vscode.window.showQuickPick(items, {
        canPickMany: true,
        title: 'Show only… (pick none to show every route)',
      });
      if (!picks) return undefined;
      filter = {
        publicOnly: picks.some((p) => p.key === 'publicOnly'),
        writeOnly: picks.some((p) => p.key === 'writeOnly'),
      };
    }
    tree.setFilter(filter);
    return filter;
  }

  async function groupRoutes(arg?: GroupBy): Promise<GroupBy | undefined> {
    let groupBy = arg;
    if (!groupBy) {
      const pick = await vscode.window.showQuickPick(
        [
          {
            label: 'Exposure',
            description: 'public, unknown, middleware, authenticated, scoped',
            value: 'exposure' as const,
          },
          {
            label: 'Router',
            description: 'the APIRouter (or app) that declares the route',
            value: 'router' as const,
          },
          { label: 'File', value: 'file' as const },
        ].map((i) => ({ ...i, picked: i.value === tree.groupBy })),
        { title: 'Group routes by' },
      );
      if (!pick) return undefined;
      groupBy = pick.value;
    }
    tree.setGroupBy(groupBy);
    return groupBy;
  }

  const run =
    <A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R | undefined> => {
      try {
        return await fn(...args);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        output.error(`${name} failed: ${message}`);
        void vscode.window
          .showErrorMessage(`FastAPI Security Lens: ${name} failed: ${message}`, 'Show Output')
          .then((p) => {
            if (p) output.show(true);
          });
        return undefined;
      }
    };

  const reg = vscode.commands.registerCommand;
  return [
    reg(
      COMMANDS.scanWorkspace,
      run('Scan Workspace', () => scan()),
    ),
    reg(
      COMMANDS.scanFile,
      run('Scan Current File', async (uri?: vscode.Uri) => {
        const target =
          uri instanceof vscode.Uri ? uri : vscode.window.activeTextEditor?.document.uri;
        if (!target || target.scheme !== 'file') {
          void vscode.window.showInformationMessage(
            'FastAPI Security Lens: open a Python file to scan it.',
          );
          return undefined;
        }
        return scan(target);
      }),
    ),
    reg(COMMANDS.showReport, run('Show Route Exposure Report', showReport)),
    reg(
      COMMANDS.exportSarif,
      run('Export SARIF', (args?: ExportArgs) =>
        exportRoutes({
          ...args,
          format: 'sarif',
          what: 'findings',
          destination: args?.destination ?? 'file',
        }),
      ),
    ),
    reg(
      COMMANDS.exportRoutes,
      run('Export', (args?: ExportArgs) => exportRoutes(args)),
    ),
    reg(
      COMMANDS.restartServer,
      run('Restart Server', async () => {
        await server.restart();
        tree.invalidate();
      }),
    ),
    reg(COMMANDS.showOutput, () => output.show(true)),
    reg(
      COMMANDS.refreshRoutes,
      run('Refresh', () => tree.reload()),
    ),
    reg(COMMANDS.filterRoutes, run('Filter', filterRoutes)),
    reg(`${COMMANDS.filterRoutes}.active`, run('Filter', filterRoutes)),
    reg(COMMANDS.groupRoutes, run('Group By', groupRoutes)),
    reg(COMMANDS.copyPath, run('Copy Path', copyPath)),
    reg(COMMANDS.markPublic, run('Mark Public', markPublic)),
    reg(COMMANDS.showFindings, run('Show Findings', showFindings)),
    reg(COMMANDS.openRoute, run('Open Handler', openRoute)),
  ];
}
