/**
 * The Route Exposure view: a tree of the server's route inventory (`fastapiLens/routes`),
 * grouped by exposure, router or file, with filters. Presentation only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Route } from '../../server/src/engine/types';
import { COMMANDS } from '../../server/src/protocol';
import type { TreeItemSnapshot } from './api';
import {
  countPublicWrite,
  filterRoutes,
  groupDescription,
  groupRoutes,
  routeDescription,
  routeLabel,
  routeState,
  routeTooltip,
  type GroupBy,
  type RouteFilter,
  type RouteGroup,
  type RouteState,
} from './routeModel';

export const VIEW_ID = 'fastapiLens.routes';

type Node = { kind: 'group'; group: RouteGroup } | { kind: 'route'; route: Route; parent?: Node };

/** Folder the last report's paths are relative to (`rootUri` of `fastapiLens/routes`). */
let reportRoot: string | undefined;

export function setReportRoot(rootUri: string | undefined): void {
  reportRoot = rootUri ? vscode.Uri.parse(rootUri).fsPath : undefined;
}

/**
 * Absolute path of a file named in a report: absolute already, relative to the report's root, or
 * else relative to the workspace folder that has it.
 */
export function resolveRouteFile(file: string): string {
  if (path.isAbsolute(file)) return file;
  if (reportRoot) {
    const candidate = path.resolve(reportRoot, file);
    if (fs.existsSync(candidate)) return candidate;
  }
  const folders = vscode.workspace.workspaceFolders ?? [];
  for (const folder of folders) {
    const candidate = path.resolve(folder.uri.fsPath, file);
    if (fs.existsSync(candidate)) return candidate;
  }
  return path.resolve(folders[0]?.uri.fsPath ?? process.cwd(), file);
}

export function routeUri(route: Route): vscode.Uri {
  return vscode.Uri.file(resolveRouteFile(route.file));
}

/** Arguments of tree-item commands: the route node itself or a route. */
export function routeFromArg(arg: unknown): Route | undefined {
  if (!arg || typeof arg !== 'object') return undefined;
  const obj = arg as { kind?: string; route?: Route; path?: string; methods?: unknown };
  if (obj.kind === 'route' && obj.route) return obj.route;
  if (typeof obj.path === 'string' && Array.isArray(obj.methods)) return arg as Route;
  return undefined;
}

export class RoutesTreeProvider implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private routes: Route[] = [];
  private loaded = false;
  private loading: Promise<Route[]> | undefined;
  groupBy: GroupBy = 'exposure';
  filter: RouteFilter = { publicOnly: false, writeOnly: false };
  private view: vscode.TreeView<Node> | undefined;
  private readonly onRoutesEmitter = new vscode.EventEmitter<readonly Route[]>();
  /** Fires after every successful fetch. */
  readonly onRoutes = this.onRoutesEmitter.event;

  constructor(
    private readonly fetchRoutes: () => Promise<Route[]>,
    private readonly mediaRoot: vscode.Uri,
  ) {}

  attach(view: vscode.TreeView<Node>): void {
    this.view = view;
    this.updateViewChrome();
  }

  current(): readonly Route[] {
    return this.routes;
  }

  /** Marks the data stale and refetches now when the view is visible (else on next show). */
  invalidate(): void {
    this.loaded = false;
    if (this.view?.visible) void this.reload();
  }

  async reload(): Promise<Route[]> {
    if (this.loading) return this.loading;
    this.loading = (async () => {
      let failed = false;
      try {
        this.routes = await this.fetchRoutes();
        this.loaded = true;
        this.onRoutesEmitter.fire(this.routes);
        return this.routes;
      } catch (err) {
        failed = true;
        throw err;
      } finally {
        this.loading = undefined;
        await this.updateContext(failed);
        this.changed.fire(undefined);
      }
    })();
    return this.loading;
  }

  setGroupBy(groupBy: GroupBy): void {
    this.groupBy = groupBy;
    void vscode.commands.executeCommand('setContext', 'fastapiLens.groupBy', groupBy);
    this.updateViewChrome();
    this.changed.fire(undefined);
  }

  setFilter(filter: RouteFilter): void {
    this.filter = filter;
    void vscode.commands.executeCommand(
      'setContext',
      'fastapiLens.filtered',
      filter.publicOnly || filter.writeOnly,
    );
    this.updateViewChrome();
    this.changed.fire(undefined);
  }

  private updateViewChrome(): void {
    if (!this.view) return;
    const f = [
      this.filter.publicOnly ? 'public only' : '',
      this.filter.writeOnly ? 'write methods only' : '',
    ].filter(Boolean);
    const by = this.groupBy === 'exposure' ? '' : `by ${this.groupBy}`;
    this.view.description = [by, ...f].filter(Boolean).join(' · ') || undefined;
    const shown = filterRoutes(this.routes, this.filter).length;
    this.view.message =
      this.loaded && this.routes.length > 0 && shown === 0
        ? `No route matches the filter (${f.join(', ')}).`
        : undefined;
    const open = countPublicWrite(this.routes);
    this.view.badge =
      open > 0
        ? { value: open, tooltip: `${open} public write route${open === 1 ? '' : 's'}` }
        : undefined;
  }

  private async updateContext(failed: boolean): Promise<void> {
    const state = failed ? 'error' : this.routes.length > 0 ? 'ready' : 'noApp';
    await vscode.commands.executeCommand('setContext', 'fastapiLens.state', state);
    this.updateViewChrome();
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (!node) {
      if (!this.loaded) {
        try {
          await this.reload();
        } catch {
          return [];
        }
      }
      const routes = filterRoutes(this.routes, this.filter);
      return groupRoutes(routes, this.groupBy).map((group) => ({ kind: 'group', group }));
    }
    if (node.kind === 'group') {
      return node.group.routes.map((route) => ({ kind: 'route', route, parent: node }));
    }
    return [];
  }

  getParent(node: Node): Node | undefined {
    return node.kind === 'route' ? node.parent : undefined;
  }

  private stateIcon(state: RouteState): { light: vscode.Uri; dark: vscode.Uri } {
    const uri = vscode.Uri.joinPath(this.mediaRoot, 'states', `${state}.svg`);
    return { light: uri, dark: uri };
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === 'group') {
      const { group } = node;
      const item = new vscode.TreeItem(group.label, vscode.TreeItemCollapsibleState.Expanded);
      item.id = `group:${group.kind}:${group.key}`;
      // Exposure groups explain themselves in the tooltip; router and file groups name their module.
      item.description = [groupDescription(group), group.exposure ? '' : group.detail]
        .filter(Boolean)
        .join(' · ');
      item.contextValue = 'group';
      item.iconPath = group.exposure
        ? this.stateIcon(group.exposure)
        : new vscode.ThemeIcon(group.kind === 'router' ? 'symbol-namespace' : 'file-code');
      item.tooltip = `${group.label}: ${group.detail ? `${group.detail}, ` : ''}${groupDescription(group)}`;
      if (group.kind === 'file') item.resourceUri = vscode.Uri.file(resolveRouteFile(group.key));
      return item;
    }
    const { route } = node;
    const item = new vscode.TreeItem(routeLabel(route), vscode.TreeItemCollapsibleState.None);
    item.id = `route:${node.parent?.kind === 'group' ? node.parent.group.key : ''}:${route.file}:${route.line}:${routeLabel(route)}`;
    item.description = routeDescription(route);
    item.iconPath = this.stateIcon(routeState(route));
    item.contextValue = route.exposure === 'public' ? 'route.public' : 'route';
    const md = new vscode.MarkdownString(
      routeTooltip(route, (file, line) =>
        vscode.Uri.file(resolveRouteFile(file))
          .with({ fragment: `L${line}` })
          .toString(),
      ),
    );
    md.supportThemeIcons = true;
    item.tooltip = md;
    item.command = { command: COMMANDS.openRoute, title: 'Open Handler', arguments: [route] };
    item.accessibilityInformation = {
      label: `${routeLabel(route)}, ${route.exposure}, ${routeDescription(route)}`,
    };
    return item;
  }

  /** The whole tree as plain data (test hook). */
  async snapshot(): Promise<TreeItemSnapshot[]> {
    const walk = async (nodes: Node[]): Promise<TreeItemSnapshot[]> => {
      const out: TreeItemSnapshot[] = [];
      for (const node of nodes) {
        const item = this.getTreeItem(node);
        const icon = item.iconPath;
        let iconName = '';
        if (icon instanceof vscode.ThemeIcon) iconName = `$(${icon.id})`;
        else if (icon && typeof icon === 'object' && 'light' in icon) {
          iconName = path.basename((icon.light as vscode.Uri).path, '.svg');
        }
        const tooltip = item.tooltip;
        out.push({
          label: typeof item.label === 'string' ? item.label : (item.label?.label ?? ''),
          description: typeof item.description === 'string' ? item.description : '',
          contextValue: item.contextValue ?? '',
          icon: iconName,
          tooltip: typeof tooltip === 'string' ? tooltip : (tooltip?.value ?? ''),
          command: item.command?.command ?? null,
          children: await walk(await this.getChildren(node)),
        });
      }
      return out;
    };
    return walk(await this.getChildren());
  }

  dispose(): void {
    this.changed.dispose();
    this.onRoutesEmitter.dispose();
  }
}
