import * as path from 'node:path';
import {
  CodeActionKind,
  createConnection,
  DidChangeConfigurationNotification,
  DidChangeWatchedFilesNotification,
  FileChangeType,
  ProposedFeatures,
  TextDocumentSyncKind,
  type Connection,
  type InitializeParams,
  type InitializeResult,
  type WorkspaceFolder,
} from 'vscode-languageserver/node';
import {
  EXPORT_REQUEST,
  FIX_ALL_KIND,
  ROUTES_REQUEST,
  SCAN_WORKSPACE_REQUEST,
  type ExportParams,
  type ExportResult,
  type RoutesParams,
  type RoutesResult,
  type ScanWorkspaceParams,
  type ScanWorkspaceResult,
} from '../protocol';
import { VERSION } from '../cli/ruleInfo';
import { onParserFault } from '../engine/parser';
import { codeActions } from './codeActions';
import { codeLenses } from './codeLens';
import { executeCommand, SERVER_COMMANDS } from './commands';
import { LensFolder } from './folder';
import { hover } from './hover';
import { clientFeatures, Lens } from './lens';
import { exportRequest, routesRequest, scanWorkspaceRequest } from './routes';
import { errorText, guard, type Logger } from './safe';
import { pathToUri, uriToPath } from './uri';

/**
 * The FastAPI Security Lens language server (dist/server.js; also `fastapi-lens lsp --stdio`).
 * It only translates the engine's results: diagnostics, code actions, hovers, code lenses and
 * the custom `fastapiLens/*` requests. Each feature lives in its own module.
 */

export function startServer(connection: Connection): Lens {
  const log: Logger = {
    error: (m) => connection.console.error(m),
    warn: (m) => connection.console.warn(m),
    info: (m) => connection.console.info(m),
  };
  const lens = new Lens(connection, log);
  // Once per trap: the engine leaves the trapped WebAssembly instance and parses in a new one.
  onParserFault(({ fault, renewable }) =>
    log.error(
      renewable
        ? `the Python parser trapped (${fault}): its syntax trees are dropped and parsing goes on in a fresh parser instance`
        : `the Python parser trapped (${fault}) too many times: parsing stays off until the server restarts`,
    ),
  );
  const folderFrom = (f: WorkspaceFolder): LensFolder | null => {
    const root = uriToPath(f.uri);
    return root ? new LensFolder(f.uri, root, [root], lens, { cacheDir: lens.cacheDir }) : null;
  };

  connection.onInitialize((params: InitializeParams): InitializeResult => {
    lens.features = clientFeatures(params.capabilities);
    const init = params.initializationOptions as
      | {
          settings?: unknown;
          debounceMs?: unknown;
          verifyIdleMs?: unknown;
          logTimings?: unknown;
          warmUp?: unknown;
          cacheDir?: unknown;
          publishEveryVersion?: unknown;
        }
      | undefined;
    if (init && typeof init === 'object' && init.settings !== undefined)
      lens.pushedSettings = init.settings;
    // Delay between an edit and its re-analysis (default 150 ms; the latency benchmark uses 0),
    // and before the full check of open documents once typing pauses (0: never).
    const ms = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null);
    lens.debounceMs = ms(init?.debounceMs) ?? lens.debounceMs;
    lens.verifyIdleMs = ms(init?.verifyIdleMs) ?? lens.verifyIdleMs;
    lens.logTimings = init?.logTimings === true;
    lens.warmUp = init?.warmUp !== false;
    lens.publishEveryVersion = init?.publishEveryVersion === true;
    // Per-file facts kept between sessions (null: none).
    if (init?.cacheDir === null) lens.cacheDir = null;
    else if (typeof init?.cacheDir === 'string') lens.cacheDir = init.cacheDir;
    const folders: WorkspaceFolder[] = params.workspaceFolders ?? [];
    if (folders.length === 0 && params.rootUri)
      folders.push({ uri: params.rootUri, name: path.basename(params.rootUri) });
    else if (folders.length === 0 && params.rootPath)
      folders.push({ uri: pathToUri(params.rootPath), name: path.basename(params.rootPath) });
    lens.folders = folders.map(folderFrom).filter((f): f is LensFolder => f !== null);
    return {
      capabilities: {
        textDocumentSync: {
          openClose: true,
          change: TextDocumentSyncKind.Incremental,
        },
        hoverProvider: true,
        codeActionProvider: {
          codeActionKinds: [CodeActionKind.QuickFix, FIX_ALL_KIND],
          resolveProvider: false,
        },
        codeLensProvider: { resolveProvider: false },
        executeCommandProvider: { commands: SERVER_COMMANDS },
        workspace: { workspaceFolders: { supported: true, changeNotifications: true } },
      },
      serverInfo: { name: 'fastapi-lens', version: VERSION },
    };
  });

  connection.onInitialized(
    guard(
      log,
      'initialized',
      () => undefined,
      async () => {
        if (lens.features.watchedFilesDynamic)
          await connection.client.register(DidChangeWatchedFilesNotification.type, {
            watchers: [{ globPattern: '**/*.py' }, { globPattern: '**/pyproject.toml' }],
          });
        if (lens.features.configurationDynamic)
          await connection.client.register(DidChangeConfigurationNotification.type, {
            section: 'fastapiLens',
          });
        if (lens.features.workspaceFolders)
          connection.workspace.onDidChangeWorkspaceFolders(
            guard(
              log,
              'workspace folders',
              () => undefined,
              (e) => {
                for (const removed of e.removed) {
                  const f = lens.folders.find((x) => x.uri === removed.uri);
                  if (!f) continue;
                  lens.folders = lens.folders.filter((x) => x !== f);
                  lens.clearFolder(f);
                }
                for (const added of e.added) {
                  const f = folderFrom(added);
                  if (!f) continue;
                  lens.folders.push(f);
                  void lens.loadFolder(f);
                }
              },
            ),
          );
        for (const f of lens.folders) void lens.loadFolder(f);
      },
    ),
  );

  const docs = lens.documents;
  docs.onDidOpen(
    guard(
      log,
      'didOpen',
      () => undefined,
      (e) => lens.documentOpened(e.document.uri),
    ),
  );
  docs.onDidChangeContent(
    guard(
      log,
      'didChange',
      () => undefined,
      (e) => {
        if (lens.isOpen(uriToPath(e.document.uri) ?? '')) lens.documentChanged(e.document.uri);
      },
    ),
  );
  docs.onDidClose(
    guard(
      log,
      'didClose',
      () => undefined,
      (e) => lens.documentClosed(e.document.uri),
    ),
  );
  docs.listen(connection);

  connection.onDidChangeWatchedFiles(
    guard(
      log,
      'watched files',
      () => undefined,
      async (params) => {
        const touched = new Set<LensFolder>();
        const reconfigure = new Set<LensFolder>();
        for (const change of params.changes) {
          const abs = uriToPath(change.uri);
          if (!abs) continue;
          const folder = lens.folderFor(abs, false);
          if (!folder) continue;
          if (path.basename(abs) === 'pyproject.toml') {
            reconfigure.add(folder);
            continue;
          }
          if (!abs.endsWith('.py') || lens.isOpen(abs)) continue;
          if (change.type === FileChangeType.Deleted) folder.session.removeFile(abs);
          else if (change.type === FileChangeType.Created) reconfigure.add(folder);
          else if (folder.session.hasFile(abs)) folder.dirty.add(abs);
          touched.add(folder);
        }
        for (const f of reconfigure) {
          await lens.refreshSettings(f);
          await f.load();
          lens.publish(f);
          touched.delete(f);
        }
        for (const f of touched) lens.schedule(f, 50);
      },
    ),
  );

  connection.onDidChangeConfiguration(
    guard(
      log,
      'configuration',
      () => undefined,
      async (params) => {
        if (params.settings !== undefined && params.settings !== null)
          lens.pushedSettings = params.settings;
        for (const f of lens.allFolders()) {
          await lens.refreshSettings(f);
          if (f.loaded) {
            await f.load();
            lens.publish(f);
          }
        }
      },
    ),
  );

  connection.onHover(
    guard(
      log,
      'hover',
      () => null,
      (p) => hover(lens, p),
    ),
  );
  connection.onCodeAction(
    guard(
      log,
      'codeAction',
      () => [],
      (p) => codeActions(lens, p),
    ),
  );
  connection.onCodeLens(
    guard(
      log,
      'codeLens',
      () => [],
      (p) => codeLenses(lens, p),
    ),
  );
  connection.onExecuteCommand(
    guard(
      log,
      'executeCommand',
      () => null,
      (p) => executeCommand(lens, p),
    ),
  );

  connection.onRequest(
    ROUTES_REQUEST,
    guard(
      log,
      ROUTES_REQUEST,
      (): RoutesResult => ({ version: 1, root: '.', routes: [], diagnostics: [] }),
      (params: RoutesParams | undefined) => routesRequest(lens, params),
    ),
  );
  connection.onRequest(
    SCAN_WORKSPACE_REQUEST,
    guard(
      log,
      SCAN_WORKSPACE_REQUEST,
      (): ScanWorkspaceResult => ({ files: 0, findings: [], cancelled: false }),
      (params: ScanWorkspaceParams | undefined, token) =>
        scanWorkspaceRequest(
          lens,
          params,
          token,
          connection.window.attachWorkDoneProgress(params?.workDoneToken),
        ),
    ),
  );
  connection.onRequest(EXPORT_REQUEST, async (params: ExportParams): Promise<ExportResult> => {
    try {
      return await exportRequest(lens, params);
    } catch (err) {
      // Usage errors (unknown format) go back to the client as errors; bugs are logged too.
      log.error(`${EXPORT_REQUEST} failed: ${errorText(err)}`);
      throw err;
    }
  });

  connection.onShutdown(() => {
    // Write pending facts caches and diagnostics now: the next start may be moments away.
    for (const f of lens.allFolders()) {
      f.snapshot?.flush();
      f.session.dispose();
    }
  });
  connection.listen();
  return lens;
}

process.on('uncaughtException', (err) => {
  // Never die on a stray exception (a timer callback, a worker); the client logs stderr.
  process.stderr.write(`fastapi-lens server: uncaught exception: ${errorText(err)}\n`);
});
process.on('unhandledRejection', (err) => {
  process.stderr.write(`fastapi-lens server: unhandled rejection: ${errorText(err)}\n`);
});

startServer(createConnection(ProposedFeatures.all));
