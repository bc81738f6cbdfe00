/**
 * FastAPI Security Lens for VS Code: a thin client. It starts the language server
 * (`dist/server.js --stdio`), shows its route inventory in the Route Exposure view and a status
 * bar count, and forwards commands. Diagnostics, hovers, code actions and CodeLens come from the
 * server through vscode-languageclient. Activation only wires things up; nothing is awaited.
 */
import * as vscode from 'vscode';
import { State } from 'vscode-languageclient/node';
import {
  ROUTES_CHANGED_NOTIFICATION,
  ROUTES_REQUEST,
  type RoutesChangedParams,
  type RoutesParams,
  type RoutesResult,
} from '../../server/src/protocol';
import type { LensApi, ScanRecord } from './api';
import { registerCommands } from './commands';
import { countPublicWrite } from './routeModel';
import { RoutesTreeProvider, setReportRoot, VIEW_ID } from './routesTree';
import { ServerController } from './server';

let controller: ServerController | undefined;

export function activate(context: vscode.ExtensionContext): LensApi {
  const started = performance.now();
  const output = vscode.window.createOutputChannel('FastAPI Security Lens', { log: true });
  const server = new ServerController(context.asAbsolutePath('dist/server.js'), output);
  controller = server;

  const tree = new RoutesTreeProvider(
    async () => {
      await server.ready();
      const report = await server.client.sendRequest<RoutesResult>(
        ROUTES_REQUEST,
        {} satisfies RoutesParams,
      );
      setReportRoot(report.rootUri);
      return report.routes;
    },
    vscode.Uri.joinPath(context.extensionUri, 'media'),
  );
  const view = vscode.window.createTreeView(VIEW_ID, {
    treeDataProvider: tree,
    showCollapseAll: true,
  });
  tree.attach(view);
  void vscode.commands.executeCommand('setContext', 'fastapiLens.state', 'starting');
  void vscode.commands.executeCommand('setContext', 'fastapiLens.groupBy', 'exposure');

  const status = vscode.window.createStatusBarItem(
    'fastapiLens.status',
    vscode.StatusBarAlignment.Left,
    50,
  );
  status.name = 'FastAPI Security Lens';
  status.command = `${VIEW_ID}.focus`;
  const showCounts = (counts: RoutesChangedParams): void => {
    if (counts.total === 0) {
      status.hide();
      return;
    }
    const n = counts.publicWrite;
    status.text =
      n > 0 ? `$(unlock) ${n} public write${n === 1 ? '' : 's'}` : '$(shield) 0 public writes';
    status.tooltip = new vscode.MarkdownString(
      `**FastAPI Security Lens**\n\n${counts.total} routes; ${n} public route${n === 1 ? '' : 's'} accept` +
        `${n === 1 ? 's' : ''} POST, PUT, PATCH or DELETE without authentication.\n\nClick to open Route Exposure.`,
    );
    status.backgroundColor =
      n > 0 ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    status.show();
  };
  tree.onRoutes((routes) =>
    showCounts({ total: routes.length, publicWrite: countPublicWrite(routes) }),
  );

  // The status bar and the view badge count from the routes themselves (routes marked public on
  // purpose do not count), so every change reloads them, visible view or not.
  server.client.onNotification(ROUTES_CHANGED_NOTIFICATION, (_params: RoutesChangedParams) => {
    void tree.reload().catch(() => undefined);
  });
  // Once running (and after every restart), load the inventory for the status bar and the view.
  server.client.onDidChangeState((e) => {
    if (e.newState === State.Running) void tree.reload().catch(() => undefined);
  });
  view.onDidChangeVisibility((e) => {
    if (e.visible) tree.invalidate();
  });

  let lastScan: ScanRecord | undefined;
  context.subscriptions.push(
    output,
    server,
    tree,
    view,
    status,
    ...registerCommands({ server, tree, output, onScan: (r) => (lastScan = r) }),
  );

  if (!server.start())
    void vscode.commands.executeCommand('setContext', 'fastapiLens.state', 'error');
  const activationMs = performance.now() - started;
  output.info(`Activated in ${activationMs.toFixed(1)} ms.`);

  return {
    activationMs,
    ready: (timeoutMs?: number) => server.ready(timeoutMs),
    routes: () => tree.current(),
    refresh: () => tree.reload(),
    test: {
      treeItems: () => tree.snapshot(),
      setView: async (groupBy, filter) => {
        tree.setGroupBy(groupBy);
        tree.setFilter(filter);
      },
      statusBarText: () => (status.text ? status.text : ''),
      lastScan: () => lastScan,
      killServer: () => server.kill(),
      crashNotices: () => server.crashNotices,
      serverState: () => server.state(),
    },
  };
}

export function deactivate(): Promise<void> | undefined {
  const c = controller;
  controller = undefined;
  return c?.stop();
}
