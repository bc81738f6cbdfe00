/**
 * The one typed module shared by the VS Code client and the language server: custom LSP
 * methods, their payloads, settings, and command ids. Types and constants only: the client
 * bundles it without pulling in any server code.
 */
import type { Finding } from './engine/findings';
import type { RoutesReport } from './engine/types';

/** `fastapiLens/routes` request: the same JSON as `fastapi-lens routes --format json`. */
export const ROUTES_REQUEST = 'fastapiLens/routes';
export interface RoutesParams {
  /** Workspace folder URI; all folders when omitted. */
  folderUri?: string;
}
export type RoutesResult = RoutesReport & {
  /** Folder URI that the routes' `file` paths are relative to (added by the server). */
  rootUri?: string;
};

/** `fastapiLens/routesChanged` notification, sent when the inventory changes. */
export const ROUTES_CHANGED_NOTIFICATION = 'fastapiLens/routesChanged';
export interface RoutesChangedParams {
  /** Number of routes, and of public write routes (for the status bar). */
  total: number;
  publicWrite: number;
}

/** `fastapiLens/scanWorkspace` request: full scan with progress (work done token). */
export const SCAN_WORKSPACE_REQUEST = 'fastapiLens/scanWorkspace';
export interface ScanWorkspaceParams {
  /** Only this file's findings when set (Scan Current File). */
  uri?: string;
  /**
   * Client-created LSP work done progress token (WorkDoneProgressParams). The client shows a
   * cancellable notification and expects `begin`/`report` with `message: '<done>/<total> files'`
   * and `percentage`; cancellation arrives as `$/cancelRequest` (answer `cancelled: true`).
   */
  workDoneToken?: number | string;
}
export interface ScanWorkspaceResult {
  files: number;
  findings: Finding[];
  cancelled: boolean;
}

/** `fastapiLens/exportReport` request: the route report or findings in a given format. */
export const EXPORT_REQUEST = 'fastapiLens/export';
export type ExportFormat = 'markdown' | 'csv' | 'json' | 'sarif';
export interface ExportParams {
  format: ExportFormat;
  /** What to export: the route inventory, or the findings (SARIF is always findings). */
  what: 'routes' | 'findings';
}
export interface ExportResult {
  content: string;
  /** Suggested file name, e.g. `fastapi-routes.md`. */
  fileName: string;
}

/** Settings section read per resource through workspace/configuration. */
export const SETTINGS_SECTION = 'fastapiLens';

export interface LensSettings {
  enable: boolean;
  authDependencies: string[];
  publicRoutes: string[];
  rules: { select: string[]; ignore: string[] };
  severity: Record<string, 'error' | 'warning' | 'info'>;
  codeLens: { enable: boolean };
  diagnostics: { scope: 'openFiles' | 'workspace' };
  exclude: string[];
  trace: { server: 'off' | 'messages' | 'verbose' };
}

export const DEFAULT_SETTINGS: LensSettings = {
  enable: true,
  authDependencies: [],
  publicRoutes: [],
  rules: { select: [], ignore: [] },
  severity: {},
  codeLens: { enable: true },
  diagnostics: { scope: 'workspace' },
  exclude: [],
  trace: { server: 'off' },
};

/** Command ids contributed by the extension (category "FastAPI Security"). */
export const COMMANDS = {
  scanWorkspace: 'fastapiLens.scanWorkspace',
  scanFile: 'fastapiLens.scanFile',
  showReport: 'fastapiLens.showRouteReport',
  exportSarif: 'fastapiLens.exportSarif',
  restartServer: 'fastapiLens.restartServer',
  showOutput: 'fastapiLens.showOutput',
  refreshRoutes: 'fastapiLens.refreshRoutes',
  filterRoutes: 'fastapiLens.filterRoutes',
  groupRoutes: 'fastapiLens.groupRoutes',
  exportRoutes: 'fastapiLens.exportRoutes',
  copyPath: 'fastapiLens.copyRoutePath',
  markPublic: 'fastapiLens.markRoutePublic',
  showFindings: 'fastapiLens.showRouteFindings',
  openRoute: 'fastapiLens.openRoute',
  /** Server-side command used by code actions ("show documentation"). */
  showDocs: 'fastapiLens.showRuleDocs',
  /**
   * Server-side command run by the route code lenses: arguments `[uri, position]`; shows a
   * one-line summary (window/showMessage) and returns the route card as Markdown (string).
   */
  showRouteCard: 'fastapiLens.showRouteCard',
} as const;

/** Code action kind for our fix-all. */
export const FIX_ALL_KIND = 'source.fixAll.fastapiLens';
