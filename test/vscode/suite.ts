/**
 * Integration suite that runs INSIDE VS Code's extension host (code-server in `npm test`, or
 * desktop VS Code through @vscode/test-electron), with the full `vscode` API, against a copy of
 * test/vscode/workspace. Bundled to dist/test/suite.js; VS Code calls `run()`.
 *
 * Results go to `<workspace>/../results/result.json` (or $FASTAPI_LENS_TEST_RESULTS). When a
 * driver is watching (it writes `driver.json` there), `screenshot(name)` asks it for a picture
 * of the workbench (after dragging the side bar to `sidebarWidth` pixels, if given) and waits
 * until it is taken.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { LensApi, TreeItemSnapshot } from '../../client/src/api';
import type { Finding } from '../../server/src/engine/findings';
import type { Route } from '../../server/src/engine/types';
import { COMMANDS, type ScanWorkspaceResult } from '../../server/src/protocol';

const EXTENSION_ID = 'fastapi-lens.fastapi-security-lens';
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

interface TestResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
  notes?: string[];
}

let resultsDir = '';
let api: LensApi;
let notes: string[] = [];

function log(message: string): void {
  const line = `[${new Date().toISOString()}] ${message}\n`;
  try {
    fs.appendFileSync(path.join(resultsDir, 'suite.log'), line);
  } catch {
    // results dir not ready yet
  }
  console.log(`[fastapi-lens suite] ${message}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns a truthy value; fails with `what` and the last value seen. */
async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 20_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`,
      );
    }
    await sleep(100);
  }
}

/** Asks the driver (if any) for a screenshot and waits until it has been taken. */
async function screenshot(name: string, options: { sidebarWidth?: number } = {}): Promise<void> {
  if (!fs.existsSync(path.join(resultsDir, 'driver.json'))) return;
  await sleep(800); // let the workbench paint
  fs.writeFileSync(path.join(resultsDir, `${name}.request`), JSON.stringify(options));
  await waitFor(
    `screenshot ${name}`,
    () => fs.existsSync(path.join(resultsDir, `${name}.done`)),
    20_000,
  );
}

function workspaceFile(rel: string): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'a workspace folder is open');
  return vscode.Uri.joinPath(folder.uri, rel);
}

function codeOf(d: vscode.Diagnostic): string {
  const c = d.code;
  if (c === undefined) return '';
  return typeof c === 'object' ? String(c.value) : String(c);
}

function diagnosticsOf(rel: string, code?: string): vscode.Diagnostic[] {
  return vscode.languages
    .getDiagnostics(workspaceFile(rel))
    .filter((d) => !code || codeOf(d) === code);
}

function find(items: TreeItemSnapshot[], label: string): TreeItemSnapshot | undefined {
  for (const item of items) {
    if (item.label === label) return item;
    const inner = find(item.children, label);
    if (inner) return inner;
  }
  return undefined;
}

function parentOf(items: TreeItemSnapshot[], label: string): TreeItemSnapshot | undefined {
  return items.find((g) => g.children.some((c) => c.label === label));
}

function routeBy(method: string, routePath: string): Route {
  const route = api.routes().find((r) => r.path === routePath && r.methods.includes(method));
  assert.ok(route, `route ${method} ${routePath} is in the inventory`);
  return route;
}

function pythonParses(file: string): void {
  const res = spawnSync(PYTHON, ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], {
    input: fs.readFileSync(file, 'utf8'),
    encoding: 'utf8',
  });
  assert.equal(
    res.status,
    0,
    `${path.basename(file)} is valid Python after the fix:\n${res.stderr}`,
  );
}

async function openEditor(rel: string, line: number, character = 0): Promise<vscode.TextEditor> {
  const doc = await vscode.workspace.openTextDocument(workspaceFile(rel));
  const pos = new vscode.Position(line, character);
  const editor = await vscode.window.showTextDocument(doc, {
    selection: new vscode.Range(pos, pos),
    preview: false,
  });
  editor.revealRange(new vscode.Range(pos, pos), vscode.TextEditorRevealType.InCenter);
  return editor;
}

/** 0-based line of the first line of `rel` containing `text`. */
function lineOf(rel: string, text: string): number {
  const lines = fs.readFileSync(workspaceFile(rel).fsPath, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(text));
  assert.ok(i >= 0, `${rel} contains ${text}`);
  return i;
}

const tests: { name: string; timeoutMs?: number; fn: () => Promise<void> }[] = [];
function test(name: string, fn: () => Promise<void>, timeoutMs?: number): void {
  tests.push({ name, fn, timeoutMs });
}

test('activates and starts the language server', async () => {
  const ext = vscode.extensions.getExtension<LensApi>(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is loaded`);
  api = await ext.activate();
  // Speed is measured by the benchmark, never asserted in a test: this only records it.
  notes.push(`activate() took ${api.activationMs.toFixed(1)} ms`);
  await api.ready(30_000);
  assert.equal(api.test.serverState(), 'running');
});

test('Problems panel: diagnostics for every file of the workspace, unopened ones included', async () => {
  // debug.py is never opened: its findings come from the workspace-wide analysis.
  const reset = await waitFor(
    'AUTH001 in app/routers/debug.py',
    () => diagnosticsOf('app/routers/debug.py', 'AUTH001')[0],
  );
  assert.match(reset.message, /POST \/debug\/reset/);
  // The debug router is only included `if settings.DEBUG`: one level below a public write.
  assert.equal(reset.severity, vscode.DiagnosticSeverity.Warning);
  assert.match(reset.message, /registered only under `if settings.DEBUG`/);
  const items = await waitFor('AUTH001 on POST /items/', () =>
    diagnosticsOf('app/routers/items.py', 'AUTH001').find((d) =>
      d.message.includes('POST /items/ '),
    ),
  );
  assert.equal(items.range.start.line, lineOf('app/routers/items.py', '@router.post("/")'));
  assert.ok(items.source, 'diagnostics name their source');
  const code = items.code;
  assert.ok(typeof code === 'object' && code.target, 'the code links to the rule documentation');
  const hidden = diagnosticsOf('app/routers/items.py', 'AUTH008');
  assert.equal(hidden.length, 1, 'AUTH008 for the hidden public route');
  // The route marked `# fastapi-lens: public <reason>` is not reported.
  assert.deepEqual(diagnosticsOf('app/main.py', 'AUTH001'), []);
  const all = vscode.languages.getDiagnostics().filter(([, ds]) => ds.length > 0);
  notes.push(
    `Problems: ${all.map(([u, ds]) => `${path.basename(u.fsPath)}: ${ds.map(codeOf).join(', ')}`).join('; ')}`,
  );
});

test('Route Exposure tree: every route with its exposure, description and icon', async () => {
  await api.test.setView('exposure', { publicOnly: false, writeOnly: false });
  await api.refresh();
  const items = await api.test.treeItems();
  assert.deepEqual(
    items.map((g) => g.label),
    ['Public', 'Unknown', 'Middleware only', 'Authenticated', 'Scoped'],
  );
  assert.deepEqual(
    items.map((g) => g.icon),
    ['public', 'unknown', 'middleware', 'authenticated', 'scoped'],
  );
  const expect = (label: string, group: string, icon: string, description: string): void => {
    const item = find(items, label);
    assert.ok(item, `tree has ${label}`);
    assert.equal(parentOf(items, label)?.label, group, `${label} is under ${group}`);
    assert.equal(item.icon, icon, `${label} icon`);
    assert.equal(item.description, description, `${label} description`);
    assert.equal(item.command, COMMANDS.openRoute, `${label} opens its handler on click`);
  };
  expect('POST /items/', 'Public', 'public', 'no auth');
  expect('GET /items/export', 'Public', 'hidden-public', 'no auth · hidden');
  expect('POST /debug/reset', 'Public', 'conditional-public', 'no auth · if settings.DEBUG');
  expect('GET /health', 'Public', 'public-marked', 'public: load balancer probe');
  expect('POST /items/import', 'Unknown', 'unknown', 'unresolved: require_staff');
  expect('GET /orders', 'Middleware only', 'middleware', 'require_gateway_key · middleware');
  expect(
    'DELETE /items/{item_id}',
    'Authenticated',
    'authenticated',
    'get_current_user · parameter',
  );
  expect('GET /admin/stats', 'Authenticated', 'authenticated', 'get_current_user · include');
  expect('PUT /items/{item_id}', 'Scoped', 'scoped', 'get_scoped_user [items:write] · parameter');
  assert.equal(find(items, 'POST /items/')?.contextValue, 'route.public');
  assert.equal(find(items, 'DELETE /items/{item_id}')?.contextValue, 'route');
  const tip = find(items, 'PUT /items/{item_id}')?.tooltip ?? '';
  assert.match(tip, /\*\*Scoped\*\*/);
  assert.match(tip, /`get_scoped_user` \(parameter level, scopes `items:write`\)/);
  assert.match(tip, /Handler: `replace_item` in \[/);
  assert.equal(api.test.statusBarText(), '$(unlock) 2 public writes');

  // Filters and grouping through the commands the title bar runs.
  await vscode.commands.executeCommand(COMMANDS.filterRoutes, {
    publicOnly: true,
    writeOnly: true,
  });
  const writes = await api.test.treeItems();
  assert.deepEqual(
    writes.flatMap((g) => g.children.map((c) => c.label)),
    ['POST /debug/reset', 'POST /items/'],
  );
  await vscode.commands.executeCommand(COMMANDS.groupRoutes, 'router');
  const byRouter = await api.test.treeItems();
  assert.deepEqual(
    byRouter.map((g) => `${g.label} ${g.description}`),
    [
      'router 1 route · 1 public · app.routers.debug',
      'router 1 route · 1 public · app.routers.items',
    ],
  );
  await vscode.commands.executeCommand(COMMANDS.groupRoutes, 'file');
  await vscode.commands.executeCommand(COMMANDS.filterRoutes, {
    publicOnly: false,
    writeOnly: false,
  });
  const byFile = await api.test.treeItems();
  assert.deepEqual(
    byFile.map((g) => g.label),
    ['main.py', 'admin.py', 'debug.py', 'items.py', 'main.py'],
  );
  await vscode.commands.executeCommand(COMMANDS.groupRoutes, 'exposure');
});

test('screenshot: workbench with the Route Exposure view and the Problems panel', async () => {
  await vscode.commands.executeCommand('notifications.clearAll');
  await openEditor('app/routers/items.py', lineOf('app/routers/items.py', '@router.post("/")'));
  await vscode.commands.executeCommand('workbench.view.extension.fastapiLens');
  await vscode.commands.executeCommand('workbench.actions.view.problems');
  await vscode.commands.executeCommand('workbench.action.focusActiveEditorGroup');
  // A wider side bar, so that the descriptions (the auth dependencies) are readable.
  await screenshot('tree-view', { sidebarWidth: 440 });
});

test('hover on a route decorator: exposure card', async () => {
  const rel = 'app/routers/items.py';
  const line = lineOf(rel, '@router.post("/")');
  const hovers = await waitFor('a hover', async () => {
    const hs = await vscode.commands.executeCommand<vscode.Hover[]>(
      'vscode.executeHoverProvider',
      workspaceFile(rel),
      new vscode.Position(line, 3),
    );
    return hs.length > 0 ? hs : undefined;
  });
  const text = hovers
    .flatMap((h) => h.contents)
    .map((c) => (typeof c === 'string' ? c : c.value))
    .join('\n');
  assert.match(text, /POST/);
  assert.match(text, /\/items\//);
  assert.match(text, /public/i);
  notes.push(`hover: ${text.slice(0, 300).replace(/\n/g, ' | ')}`);

  await vscode.commands.executeCommand('notifications.clearAll');
  await vscode.commands.executeCommand('workbench.action.closePanel');
  await openEditor(rel, line, 3);
  await vscode.commands.executeCommand('workbench.action.focusActiveEditorGroup');
  await sleep(300);
  await vscode.commands.executeCommand('editor.action.showHover');
  await screenshot('hover');
  await vscode.commands.executeCommand('editor.action.hideHover').then(undefined, () => undefined);
});

test('quick fix: protect the public POST route, then the finding is gone', async () => {
  const rel = 'app/routers/items.py';
  const uri = workspaceFile(rel);
  const diag = await waitFor('AUTH001 on POST /items/', () =>
    diagnosticsOf(rel, 'AUTH001').find((d) => d.message.includes('POST /items/ ')),
  );
  const actions = await vscode.commands.executeCommand<(vscode.CodeAction | vscode.Command)[]>(
    'vscode.executeCodeActionProvider',
    uri,
    diag.range,
  );
  const fixes = actions.filter((a): a is vscode.CodeAction => 'edit' in a || 'kind' in a);
  notes.push(`code actions: ${fixes.map((a) => a.title).join(' | ')}`);
  const protect =
    fixes.find(
      (a) =>
        a.edit &&
        /protect|authenticat|depend/i.test(a.title) &&
        !/router|public|ignore/i.test(a.title),
    ) ?? fixes.find((a) => a.edit && !/public|ignore/i.test(a.title));
  assert.ok(
    protect?.edit,
    `a quick fix that protects the route (got: ${fixes.map((a) => a.title).join(', ')})`,
  );
  notes.push(`applied: ${protect.title}`);
  assert.ok(await vscode.workspace.applyEdit(protect.edit), 'the edit applies');
  if (protect.command)
    await vscode.commands.executeCommand(
      protect.command.command,
      ...(protect.command.arguments ?? []),
    );
  for (const doc of vscode.workspace.textDocuments) if (doc.isDirty) await doc.save();
  pythonParses(uri.fsPath);
  await waitFor(
    'AUTH001 on POST /items/ to disappear',
    () => !diagnosticsOf(rel, 'AUTH001').some((d) => d.message.includes('POST /items/ ')),
  );
  // GET /items/ in the same file is still reported: the fix touched one route only.
  assert.ok(diagnosticsOf(rel, 'AUTH001').some((d) => d.message.includes('GET /items/ ')));
  await api.refresh();
  assert.notEqual(routeBy('POST', '/items/').exposure, 'public');
});

test('context menu: mark a route public with a reason, copy its path, show its findings', async () => {
  await api.refresh();
  const route = routeBy('GET', '/items/');
  const ok = await vscode.commands.executeCommand<boolean>(
    COMMANDS.markPublic,
    route,
    'the catalogue is public',
  );
  assert.equal(ok, true);
  // The edit is left unsaved, like a quick fix, in an editor that shows it.
  const doc = await vscode.workspace.openTextDocument(workspaceFile('app/routers/items.py'));
  assert.equal(vscode.window.activeTextEditor?.document, doc);
  assert.ok(doc.isDirty);
  const text = doc.getText();
  assert.match(text, /@router\.get\("\/"\) {2}# fastapi-lens: public the catalogue is public\n/);
  await doc.save();
  await waitFor('GET /items/ to carry its public reason', async () => {
    await api.refresh();
    return routeBy('GET', '/items/').publicReason === 'the catalogue is public';
  });
  const copied = await vscode.commands.executeCommand<string>(COMMANDS.copyPath, route);
  assert.equal(copied, '/items/');
  // Show Findings lists the route's findings in a quick pick (closed here without a choice).
  const pending = vscode.commands.executeCommand<Finding[]>(
    COMMANDS.showFindings,
    routeBy('POST', '/debug/reset'),
  );
  await sleep(1000);
  await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
  const findings = await pending;
  assert.deepEqual(
    findings.map((f) => f.code),
    ['AUTH001'],
  );
});

test('Scan Workspace: progress with a file count, then a summary', async () => {
  const result = await vscode.commands.executeCommand<ScanWorkspaceResult>(COMMANDS.scanWorkspace);
  assert.ok(result, 'the command returns the scan result');
  assert.equal(result.cancelled, false);
  assert.ok(result.files >= 8, `scanned ${result.files} files`);
  assert.ok(result.findings.some((f) => f.code === 'AUTH001'));
  const record = api.test.lastScan();
  assert.ok(record && record.progress.length > 0, 'the server reported progress');
  assert.ok(
    record.progress.some((m) => /\d+\s*\/\s*\d+/.test(m) || /\d+ files?/.test(m)),
    `progress messages count files: ${record.progress.join(' | ')}`,
  );
  notes.push(
    `scan: ${result.files} files, ${result.findings.length} findings; progress: ${record.progress.slice(0, 3).join(' | ')}…`,
  );
  const one = await vscode.commands.executeCommand<ScanWorkspaceResult>(
    COMMANDS.scanFile,
    workspaceFile('app/routers/debug.py'),
  );
  assert.ok(
    one && one.findings.length > 0 && one.findings.every((f) => f.file.endsWith('debug.py')),
  );
});

test('exports: JSON and CSV into editors, SARIF to a file, the Markdown report', async () => {
  const jsonUri = await vscode.commands.executeCommand<vscode.Uri>(COMMANDS.exportRoutes, {
    format: 'json',
    destination: 'untitled',
  });
  assert.ok(jsonUri);
  const jsonDoc = vscode.workspace.textDocuments.find(
    (d) => d.uri.toString() === jsonUri.toString(),
  );
  const report = JSON.parse(jsonDoc?.getText() ?? '{}') as { routes?: unknown[] };
  assert.equal(report.routes?.length, 11);
  const csvUri = await vscode.commands.executeCommand<vscode.Uri>(COMMANDS.exportRoutes, {
    format: 'csv',
    destination: 'untitled',
  });
  const csv =
    vscode.workspace.textDocuments
      .find((d) => d.uri.toString() === csvUri?.toString())
      ?.getText() ?? '';
  assert.match(csv, /\/debug\/reset/);
  const sarifFile = vscode.Uri.file(path.join(resultsDir, 'findings.sarif'));
  await vscode.commands.executeCommand(COMMANDS.exportSarif, { destination: sarifFile.toString() });
  const sarif = JSON.parse(fs.readFileSync(sarifFile.fsPath, 'utf8')) as {
    version?: string;
    runs?: unknown[];
  };
  assert.equal(sarif.version, '2.1.0');
  const mdUri = await vscode.commands.executeCommand<vscode.Uri>(COMMANDS.showReport);
  const md =
    vscode.workspace.textDocuments.find((d) => d.uri.toString() === mdUri?.toString())?.getText() ??
    '';
  assert.match(md, /\/items\/export/);
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
});

test('restarts the server after a crash and tells the user once', async () => {
  const pid = api.test.killServer();
  assert.ok(pid, 'a server process was running');
  await waitFor(
    'the server to stop',
    () => api.test.serverState() !== 'running' || undefined,
    5_000,
  ).catch(() => undefined);
  await waitFor('the server to run again', () => api.test.serverState() === 'running', 20_000);
  const routes = await api.refresh();
  assert.equal(routes.length, 11);
  assert.equal(api.test.crashNotices(), 1);
});

export async function run(): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) throw new Error('open test/vscode/workspace (a copy) as the workspace folder');
  resultsDir =
    process.env.FASTAPI_LENS_TEST_RESULTS ?? path.join(path.dirname(folder.uri.fsPath), 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  log(`suite started in VS Code ${vscode.version}, workspace ${folder.uri.fsPath}`);
  const results: TestResult[] = [];
  for (const t of tests) {
    notes = [];
    const started = Date.now();
    log(`test: ${t.name}`);
    try {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        t.fn(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`test timed out after ${t.timeoutMs ?? 30_000} ms`)),
            t.timeoutMs ?? 30_000,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      results.push({ name: t.name, ok: true, ms: Date.now() - started, notes });
      log(`  ok (${Date.now() - started} ms)`);
    } catch (err) {
      const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      results.push({ name: t.name, ok: false, ms: Date.now() - started, error, notes });
      log(`  FAILED: ${error}`);
      if (!api) break; // nothing else can work without the extension
    }
  }
  const failed = results.filter((r) => !r.ok).length;
  fs.writeFileSync(
    path.join(resultsDir, 'result.json'),
    JSON.stringify(
      { vscode: vscode.version, passed: results.length - failed, failed, tests: results },
      null,
      2,
    ),
  );
  log(`suite finished: ${results.length - failed} passed, ${failed} failed`);
  if (failed > 0)
    throw new Error(`${failed} of ${results.length} VS Code integration tests failed`);
}
