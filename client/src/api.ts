/**
 * What `activate()` returns: a small API for other extensions and the integration tests
 * (`test/vscode/suite.ts`). Plain data only.
 */
import type { Route } from '../../server/src/engine/types';
import type { ScanWorkspaceResult } from '../../server/src/protocol';
import type { GroupBy, RouteFilter, RouteState } from './routeModel';

/** One node of the Route Exposure tree as the user sees it. */
export interface TreeItemSnapshot {
  label: string;
  description: string;
  /** `group` for group nodes, `route` / `route.public` for routes. */
  contextValue: string;
  /** Icon: a route state (`media/states/<state>.svg`) or `$(codicon)` for ThemeIcons. */
  icon: string;
  tooltip: string;
  /** Command run on click, if any. */
  command: string | null;
  children: TreeItemSnapshot[];
}

export interface ScanRecord {
  result: ScanWorkspaceResult;
  /** Progress messages shown in the notification, in order. */
  progress: string[];
}

export interface LensApi {
  /** Milliseconds spent in `activate()`. */
  readonly activationMs: number;
  /** Resolves when the language server is running (rejects after `timeoutMs`). */
  ready(timeoutMs?: number): Promise<void>;
  /** Routes as last received from the server. */
  routes(): readonly Route[];
  /** Fetches the routes again and refreshes the view. */
  refresh(): Promise<readonly Route[]>;
  /** Test hooks; not a stable interface. */
  readonly test: {
    treeItems(): Promise<TreeItemSnapshot[]>;
    setView(groupBy: GroupBy, filter: RouteFilter): Promise<void>;
    statusBarText(): string;
    lastScan(): ScanRecord | undefined;
    /** Kills the server process (to test the restart), returning its pid. */
    killServer(): number | undefined;
    /** How many times the user was told the server stopped. */
    crashNotices(): number;
    serverState(): 'starting' | 'running' | 'stopped';
  };
}

export type { GroupBy, RouteFilter, RouteState };
