import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import type {
  CodeAction,
  CodeLens,
  Diagnostic,
  Hover,
  InitializeResult,
  MarkupContent,
  PublishDiagnosticsParams,
  TextDocumentEdit,
  TextEdit,
  WorkDoneProgressBegin,
  WorkDoneProgressReport,
  WorkspaceEdit,
} from 'vscode-languageserver-protocol';
import { TextDocument } from 'vscode-languageserver-textdocument';

interface ProgressParams {
  token: string | number;
  value: unknown;
}
import { ProjectConfigResolver } from '../server/src/engine/config';
import type { Finding } from '../server/src/engine/findings';
import { scanWorkspace } from '../server/src/engine/index';
import {
  DEFAULT_SETTINGS,
  EXPORT_REQUEST,
  FIX_ALL_KIND,
  ROUTES_REQUEST,
  SCAN_WORKSPACE_REQUEST,
  type ExportResult,
  type LensSettings,
  type RoutesResult,
  type ScanWorkspaceResult,
} from '../server/src/protocol';

/**
 * End to end over stdio: spawn the bundled server (dist/server.js), drive it like an editor
 * with vscode-jsonrpc, and check diagnostics, hovers, code lenses and code actions. Every quick
 * fix offered on the fixture projects is applied to a copy of the project, parsed by Python's
 * own parser and re-analysed by the engine (its finding is gone, nothing new appears, no line is
 * lost); re-requesting code actions on the edited buffer no longer offers it.
 */

const ROOT = path.resolve(__dirname, '..');
const SERVER = path.join(ROOT, 'dist', 'server.js');
const FIXTURES = path.join(__dirname, 'fixtures', 'lsp');
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

const tmpRoots: string[] = [];
function copyProject(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lens-lsp-${name}-`));
  tmpRoots.push(dir);
  fs.cpSync(path.join(FIXTURES, name), dir, { recursive: true });
  return dir;
}
const uriOf = (abs: string) => pathToFileURL(abs).href;

function parsesWithPython(text: string): string | null {
  try {
    execFileSync(PYTHON, ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], {
      input: text,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return null;
  } catch (err) {
    return (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
  }
}

function isSubsequence(small: string, big: string): boolean {
  let i = 0;
  for (const ch of big) if (i < small.length && ch === small[i]) i++;
  return i === small.length;
}

/** No line of `before` is deleted: each survives in order, possibly with text inserted. */
function keepsLines(before: string, after: string): string | null {
  const next = after.split(/\r?\n/);
  let j = 0;
  for (const line of before.split(/\r?\n/)) {
    while (j < next.length && !isSubsequence(line, next[j])) j++;
    if (j >= next.length) return line;
    j++;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// A minimal LSP client

interface Waiter {
  uri: string;
  test: (d: Diagnostic[]) => boolean;
  resolve: (d: Diagnostic[]) => void;
}

class Client {
  readonly diagnostics = new Map<string, Diagnostic[]>();
  readonly progress: ProgressParams[] = [];
  readonly logs: string[] = [];
  readonly routesChanged: unknown[] = [];
  private waiters: Waiter[] = [];
  private versions = new Map<string, number>();
  readonly texts = new Map<string, string>();
  stderr = '';

  private constructor(
    readonly proc: ChildProcess,
    readonly conn: MessageConnection,
    public settings: LensSettings,
  ) {}

  static async start(
    root: string,
    settings: Partial<LensSettings> = {},
    args = [SERVER, '--stdio'],
  ): Promise<Client> {
    const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const conn = createMessageConnection(
      new StreamMessageReader(proc.stdout!),
      new StreamMessageWriter(proc.stdin!),
    );
    const client = new Client(proc, conn, { ...DEFAULT_SETTINGS, ...settings });
    proc.stderr!.on('data', (d: Buffer) => (client.stderr += d.toString()));
    conn.onNotification('textDocument/publishDiagnostics', (p: PublishDiagnosticsParams) => {
      client.diagnostics.set(p.uri, p.diagnostics);
      client.waiters = client.waiters.filter((w) => {
        if (w.uri !== p.uri || !w.test(p.diagnostics)) return true;
        w.resolve(p.diagnostics);
        return false;
      });
    });
    conn.onNotification('$/progress', (p: ProgressParams) => {
      client.progress.push(p);
    });
    conn.onNotification('window/logMessage', (p: { message: string }) => {
      client.logs.push(p.message);
    });
    conn.onNotification('window/showMessage', (p: { message: string }) => {
      client.logs.push(p.message);
    });
    conn.onNotification('fastapiLens/routesChanged', (p: unknown) => {
      client.routesChanged.push(p);
    });
    conn.onRequest('workspace/configuration', (p: { items: unknown[] }) =>
      p.items.map(() => client.settings),
    );
    conn.onRequest('client/registerCapability', () => null);
    conn.onRequest('window/workDoneProgress/create', () => null);
    conn.onRequest('workspace/codeLens/refresh', () => null);
    conn.onRequest('window/showDocument', () => ({ success: true }));
    conn.listen();
    const init = (await conn.sendRequest('initialize', {
      processId: process.pid,
      rootUri: uriOf(root),
      workspaceFolders: [{ uri: uriOf(root), name: path.basename(root) }],
      capabilities: {
        workspace: {
          configuration: true,
          workspaceFolders: true,
          didChangeWatchedFiles: { dynamicRegistration: true },
          workspaceEdit: { documentChanges: true, resourceOperations: ['create'] },
          codeLens: { refreshSupport: true },
        },
        window: { workDoneProgress: true, showDocument: { support: true } },
        textDocument: {
          publishDiagnostics: { relatedInformation: true, codeDescriptionSupport: true },
          codeAction: { isPreferredSupport: true },
        },
      },
    })) as InitializeResult;
    assert.ok(init.capabilities.hoverProvider);
    await conn.sendNotification('initialized', {});
    return client;
  }

  waitFor(abs: string, test: (d: Diagnostic[]) => boolean, timeout = 15000): Promise<Diagnostic[]> {
    const uri = uriOf(abs);
    const now = this.diagnostics.get(uri);
    if (now && test(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no matching diagnostics for ${abs} within ${timeout} ms; last: ${JSON.stringify(this.diagnostics.get(uri)?.map((d) => `${d.code}@${d.range.start.line}`))}\nstderr: ${this.stderr}`,
            ),
          ),
        timeout,
      );
      this.waiters.push({
        uri,
        test,
        resolve: (d) => {
          clearTimeout(timer);
          resolve(d);
        },
      });
    });
  }

  open(abs: string, text = fs.readFileSync(abs, 'utf8')): Promise<void> {
    const uri = uriOf(abs);
    this.versions.set(uri, 1);
    this.texts.set(uri, text);
    return this.conn.sendNotification('textDocument/didOpen', {
      textDocument: { uri, languageId: 'python', version: 1, text },
    });
  }

  /** Replace the whole text (an incremental change covering the document). */
  change(abs: string, text: string): Promise<void> {
    const uri = uriOf(abs);
    const version = (this.versions.get(uri) ?? 1) + 1;
    this.versions.set(uri, version);
    const old = TextDocument.create(uri, 'python', 1, this.texts.get(uri) ?? '');
    this.texts.set(uri, text);
    return this.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri, version },
      contentChanges: [
        {
          range: { start: { line: 0, character: 0 }, end: old.positionAt(old.getText().length) },
          text,
        },
      ],
    });
  }

  close(abs: string): Promise<void> {
    const uri = uriOf(abs);
    this.texts.delete(uri);
    return this.conn.sendNotification('textDocument/didClose', { textDocument: { uri } });
  }

  hover(abs: string, line: number, character: number): Promise<Hover | null> {
    return this.conn.sendRequest('textDocument/hover', {
      textDocument: { uri: uriOf(abs) },
      position: { line, character },
    });
  }

  codeActions(abs: string, diagnostics: Diagnostic[], only?: string[]): Promise<CodeAction[]> {
    const range = diagnostics[0]?.range ?? {
      start: { line: 0, character: 0 },
      end: { line: 0, character: 0 },
    };
    return this.conn.sendRequest('textDocument/codeAction', {
      textDocument: { uri: uriOf(abs) },
      range,
      context: { diagnostics, only },
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) resolve();
      else this.proc.once('exit', () => resolve());
    });
    try {
      await Promise.race([
        this.conn.sendRequest('shutdown'),
        new Promise((r) => setTimeout(r, 5000)),
      ]);
      await this.conn.sendNotification('exit');
    } catch {
      // already gone
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    this.conn.dispose();
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill();
  }
}

/** Apply a WorkspaceEdit to file texts (paths -> text); returns the touched files. */
function applyWorkspaceEdit(
  edit: WorkspaceEdit,
  read: (abs: string) => string,
): Map<string, string> {
  const out = new Map<string, string>();
  const text = (abs: string) => out.get(abs) ?? read(abs);
  const apply = (uri: string, edits: TextEdit[]) => {
    const abs = fileURLToPath(uri);
    const doc = TextDocument.create(uri, 'python', 0, text(abs));
    out.set(abs, TextDocument.applyEdits(doc, edits));
  };
  for (const [uri, edits] of Object.entries(edit.changes ?? {})) apply(uri, edits);
  for (const change of edit.documentChanges ?? []) {
    if ('kind' in change) {
      assert.equal(change.kind, 'create', 'only file creation is expected');
      const abs = fileURLToPath(change.uri);
      assert.ok(!fs.existsSync(abs), `a fix creates ${abs}, which exists`);
      out.set(abs, '');
    } else {
      const e = change as TextDocumentEdit;
      apply(e.textDocument.uri, e.edits as TextEdit[]);
    }
  }
  return out;
}

async function engineFindings(dir: string): Promise<Finding[]> {
  const resolver = new ProjectConfigResolver({ cwd: dir, roots: [dir] });
  const ws = resolver.workspaceOptions();
  const { findings } = await scanWorkspace({
    roots: [dir],
    cwd: dir,
    exclude: ws.exclude,
    authDependencies: ws.authDependencies,
    config: resolver,
  });
  return findings;
}

function msg(d: Diagnostic): string {
  return typeof d.message === 'string' ? d.message : d.message.value;
}

function hoverText(h: Hover | null): string {
  assert.ok(h, 'a hover');
  return (h.contents as MarkupContent).value;
}

async function until(test: () => boolean, what: string, timeout = 10000): Promise<void> {
  const end = Date.now() + timeout;
  while (!test()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const clients: Client[] = [];
async function startClient(
  root: string,
  settings: Partial<LensSettings> = {},
  args?: string[],
): Promise<Client> {
  const c = await Client.start(root, settings, args);
  clients.push(c);
  return c;
}

before(() => {
  if (!fs.existsSync(SERVER))
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
});
after(async () => {
  for (const c of clients) await c.stop();
  for (const d of tmpRoots) fs.rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe('language server over stdio', { timeout: 120000 }, () => {
  it('publishes workspace diagnostics with code, docs link, severity, related info and data', async () => {
    const dir = copyProject('classic');
    const c = await startClient(dir);
    const users = await c.waitFor(path.join(dir, 'users.py'), (d) => d.length === 2);
    const byLine = new Map(users.map((d) => [d.range.start.line, d]));
    const post = byLine.get(17);
    const get = byLine.get(10);
    assert.ok(post && get, JSON.stringify(users.map((d) => d.range)));
    assert.equal(post.code, 'AUTH001');
    assert.equal(post.severity, 1, 'public POST is an error');
    assert.equal(get.severity, 2, 'public GET is a warning');
    assert.deepEqual(post.range.start, { line: 17, character: 0 });
    assert.equal(post.source, 'fastapi-lens');
    assert.match(post.codeDescription?.href ?? '', /AUTH001\.md$/);
    assert.match(msg(post), /POST \/users\/ is public/);
    assert.equal((post.data as { code: string }).code, 'AUTH001');
    const orders = await c.waitFor(path.join(dir, 'orders.py'), (d) => d.length === 2);
    assert.deepEqual(orders.map((d) => d.code).sort(), ['AUTH002', 'DESER001']);
    // The YAML finding sits in an authenticated handler: its chain is related information.
    const deser = orders.find((d) => d.code === 'DESER001');
    const related = deser?.relatedInformation ?? [];
    assert.ok(
      related.some(
        (r) =>
          /auth: `get_current_user` at parameter level/.test(r.message) &&
          r.location.uri.endsWith('/auth.py'),
      ),
      JSON.stringify(related),
    );
    assert.ok(related.some((r) => /route POST \/orders\/import \(authenticated\)/.test(r.message)));
    assert.equal(deser?.severity, 2, 'an error lowered one level behind authentication');
    // `public-routes = ["/status"]` in pyproject.toml: main.py has nothing to report.
    assert.equal(c.diagnostics.get(uriOf(path.join(dir, 'main.py'))), undefined);
    await until(() => c.routesChanged.length > 0, 'routesChanged notification');
    const annotated = copyProject('annotated');
    const a = await startClient(annotated);
    const items = await a.waitFor(
      path.join(annotated, 'app/api/routes/items.py'),
      (d) => d.length === 1,
    );
    assert.equal(items[0].code, 'AUTH002');
    const withRelated = await a.waitFor(
      path.join(annotated, 'app/api/routes/utils.py'),
      (d) => d.length === 2,
    );
    assert.ok(withRelated.every((d) => d.code === 'AUTH001'));
  });

  it('hovers: route card on the decorator and handler name, dependency card on Depends(...)', async () => {
    const dir = copyProject('classic');
    const c = await startClient(dir);
    const orders = path.join(dir, 'orders.py');
    await c.waitFor(orders, (d) => d.length === 2);
    await c.open(orders);
    const deco = hoverText(await c.hover(orders, 25, 3));
    assert.match(deco, /DELETE `\/orders\/\{order_id\}`/);
    assert.match(deco, /public/);
    assert.match(deco, /AUTH002/);
    const handler = hoverText(await c.hover(orders, 10, 6));
    assert.match(handler, /GET `\/orders\/`/);
    assert.match(handler, /`get_current_user` at \*\*parameter\*\* level/);
    assert.match(handler, /auth\.py:16\]\(file:\/\/.*auth\.py#L16\)/);
    const depends = hoverText(await c.hover(orders, 10, 50));
    assert.match(depends, /`get_current_user`\*\* — authentication dependency/);
    assert.match(depends, /protects 3 routes/);
    assert.match(depends, /chain: `get_current_user` → `bearer`/);
    assert.equal(await c.hover(orders, 17, 4), null, 'no hover inside a handler body');
    const lenses = (await c.conn.sendRequest('textDocument/codeLens', {
      textDocument: { uri: uriOf(orders) },
    })) as CodeLens[];
    assert.deepEqual(
      lenses.map((l) => `${l.range.start.line}:${l.command?.title}`),
      [
        '9:🔒 get_current_user · parameter',
        '14:🔒 get_current_user · parameter',
        '20:🔒 get_current_user · parameter',
        '25:⚠ public · DELETE',
      ],
    );
    const card = await c.conn.sendRequest('workspace/executeCommand', {
      command: lenses[3].command?.command,
      arguments: lenses[3].command?.arguments,
    });
    assert.match(String(card), /DELETE `\/orders\/\{order_id\}`/);
    // An Annotated alias in a signature is a dependency too.
    const annotated = copyProject('annotated');
    const a = await startClient(annotated);
    const items = path.join(annotated, 'app/api/routes/items.py');
    await a.waitFor(items, (d) => d.length === 1);
    await a.open(items);
    const alias = hoverText(await a.hover(items, 13, 35));
    assert.match(alias, /`CurrentUser`\*\* — authentication dependency/);
    assert.match(alias, /chain: `CurrentUser` → `get_current_user` → `reusable_oauth2`/);
    assert.match(alias, /GET `\/api\/v1\/items\/`\*\* — authenticated/);
  });

  it('offers the quick fixes, and every one applied parses, fixes its finding and adds none', async () => {
    for (const name of ['classic', 'annotated', 'noauth']) {
      const dir = copyProject(name);
      const c = await startClient(dir);
      const baseline = await engineFindings(dir);
      const files = [...new Set(baseline.map((f) => f.file))];
      assert.ok(files.length > 0, `${name} has findings`);
      let applied = 0;
      for (const rel of files) {
        const abs = path.join(dir, rel);
        const expected = baseline.filter((f) => f.file === rel).length;
        const diags = await c.waitFor(abs, (d) => d.length === expected);
        await c.open(abs);
        for (const diag of diags) {
          const actions = await c.codeActions(abs, [diag]);
          const titles = actions.map((a) => a.title);
          assert.ok(
            titles.some((t) => t.startsWith(`Show documentation for ${diag.code}`)),
            titles.join('\n'),
          );
          assert.ok(
            titles.some((t) => t.startsWith(`Ignore ${diag.code}`)),
            titles.join('\n'),
          );
          if (diag.code === 'AUTH001' || diag.code === 'AUTH002') {
            assert.ok(
              titles.some((t) => t.startsWith('Mark ')),
              titles.join('\n'),
            );
            if (name === 'noauth')
              assert.ok(
                titles.some((t) => t.startsWith('Scaffold ')),
                titles.join('\n'),
              );
            else {
              assert.ok(
                titles.some((t) => /add parameter/.test(t)),
                titles.join('\n'),
              );
              assert.ok(
                titles.some((t) => /to the decorator/.test(t)),
                titles.join('\n'),
              );
            }
          }
          const finding = baseline.find(
            (f) => f.file === rel && f.line - 1 === diag.range.start.line && f.code === diag.code,
          );
          assert.ok(finding, `engine finding for ${diag.code}`);
          for (const action of actions) {
            if (!action.edit || action.kind !== 'quickfix') continue;
            applied++;
            const what = `${name}/${rel}:${diag.range.start.line + 1} ${diag.code}: ${action.title}`;
            const edited = applyWorkspaceEdit(
              action.edit,
              (p) => c.texts.get(uriOf(p)) ?? fs.readFileSync(p, 'utf8'),
            );
            // 1. Python parses every touched file; no existing line is deleted.
            for (const [file, text] of edited) {
              const err = parsesWithPython(text);
              assert.equal(err, null, `${what}: ${file} does not parse:\n${err}\n${text}`);
              if (fs.existsSync(file)) {
                const lost = keepsLines(fs.readFileSync(file, 'utf8'), text);
                assert.equal(lost, null, `${what}: deleted the line ${JSON.stringify(lost)}`);
              }
            }
            // 2. The engine on the edited project: the finding is gone, nothing new.
            const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-lsp-applied-'));
            tmpRoots.push(copy);
            fs.cpSync(dir, copy, { recursive: true });
            for (const [file, text] of edited)
              fs.writeFileSync(path.join(copy, path.relative(dir, file)), text);
            const afterFix = await engineFindings(copy);
            const same = (f: Finding) =>
              f.code === finding.code &&
              f.file === finding.file &&
              (f.route
                ? f.route.path === finding.route?.path &&
                  f.route.methods.join() === finding.route?.methods.join()
                : f.message === finding.message);
            assert.ok(!afterFix.some(same), `${what}: the finding is still reported`);
            const key = (f: Finding) =>
              `${f.code}|${f.file}|${f.route?.methods.join()} ${f.route?.path ?? f.message}`;
            const before = new Set(baseline.map(key));
            const added = afterFix.filter((f) => !before.has(key(f)));
            assert.deepEqual(added.map(key), [], `${what}: new findings`);
            // 3. Applied in the editor, the same fix is not offered again.
            const opened: string[] = [];
            for (const [file, text] of edited) {
              if (c.texts.has(uriOf(file))) await c.change(file, text);
              else {
                await c.open(file, text);
                opened.push(file);
              }
            }
            const again = await c.codeActions(abs, [diag]);
            assert.ok(
              !again.some((a) => a.title === action.title && a.edit),
              `${what}: offered twice`,
            );
            for (const file of opened) await c.close(file);
            for (const [file] of edited)
              if (c.texts.has(uriOf(file))) await c.change(file, fs.readFileSync(file, 'utf8'));
          }
        }
      }
      assert.ok(applied >= 5, `${name}: applied ${applied} fixes`);
    }
  });

  it('fix-all applies the safe fixes of a file', async () => {
    const dir = copyProject('classic');
    const c = await startClient(dir);
    const orders = path.join(dir, 'orders.py');
    await c.waitFor(orders, (d) => d.length === 2);
    await c.open(orders);
    const all = await c.codeActions(orders, [], [FIX_ALL_KIND]);
    assert.equal(all.length, 1);
    assert.equal(all[0].kind, FIX_ALL_KIND);
    const edited = applyWorkspaceEdit(all[0].edit!, (p) => fs.readFileSync(p, 'utf8'));
    assert.match(edited.get(orders) ?? '', /yaml\.safe_load\(body\)/);
    const quick = await c.codeActions(
      orders,
      c.diagnostics.get(uriOf(orders))!.filter((d) => d.code === 'DESER001'),
    );
    const preferred = quick.find((a) => a.isPreferred);
    assert.equal(preferred?.title, 'Use yaml.safe_load');
    assert.ok(
      !quick.some((a) => a.isPreferred && /Require|Scaffold/.test(a.title)),
      'auth fixes are never preferred',
    );
    // Scan Current File: that file's findings.
    const one = (await c.conn.sendRequest(SCAN_WORKSPACE_REQUEST, {
      uri: uriOf(orders),
    })) as ScanWorkspaceResult;
    assert.deepEqual(one.findings.map((f) => f.code).sort(), ['AUTH002', 'DESER001']);
    assert.equal(one.files, 1);
  });

  it('updates the diagnostics of other files when a router dependency changes (cross-file)', async () => {
    const dir = copyProject('classic');
    const c = await startClient(dir);
    const users = path.join(dir, 'users.py');
    const main = path.join(dir, 'main.py');
    await c.waitFor(users, (d) => d.length === 2);
    await c.open(main);
    const text = fs.readFileSync(main, 'utf8');
    const protectedText = text
      .replace(
        'from fastapi import FastAPI',
        'from fastapi import Depends, FastAPI\n\nfrom auth import get_current_user',
      )
      .replace(
        'app.include_router(users.router)',
        'app.include_router(users.router, dependencies=[Depends(get_current_user)])',
      );
    await c.change(main, protectedText);
    await c.waitFor(users, (d) => d.length === 0);
    const hover = hoverText(await c.hover(users, 10, 1));
    assert.match(hover, /`get_current_user` at \*\*include\*\* level/);
    await c.change(main, text);
    await c.waitFor(users, (d) => d.length === 2);
  });

  it('answers fastapiLens/routes with the same JSON as `fastapi-lens routes --format json`', async () => {
    for (const name of ['classic', 'annotated']) {
      const dir = copyProject(name);
      const c = await startClient(dir);
      const result = (await c.conn.sendRequest(ROUTES_REQUEST, {})) as RoutesResult;
      assert.equal(result.rootUri, uriOf(dir));
      const cli = JSON.parse(
        execFileSync(
          process.execPath,
          [path.join(ROOT, 'bin', 'fastapi-lens.js'), 'routes', '--format', 'json'],
          {
            cwd: dir,
            encoding: 'utf8',
          },
        ),
      );
      const { rootUri: _rootUri, ...report } = result;
      const sortDiags = (r: { diagnostics: { file: string; message: string }[] }) =>
        [...r.diagnostics].sort((a, b) =>
          `${a.file}${a.message}`.localeCompare(`${b.file}${b.message}`),
        );
      assert.deepEqual(
        { ...report, diagnostics: sortDiags(report) },
        { ...cli, diagnostics: sortDiags(cli) },
      );
      const md = (await c.conn.sendRequest(EXPORT_REQUEST, {
        format: 'markdown',
        what: 'routes',
      })) as ExportResult;
      const cliMd = execFileSync(
        process.execPath,
        [path.join(ROOT, 'bin', 'fastapi-lens.js'), 'routes', '--format', 'markdown'],
        { cwd: dir, encoding: 'utf8' },
      );
      assert.equal(md.content, cliMd);
      const sarif = (await c.conn.sendRequest(EXPORT_REQUEST, {
        format: 'sarif',
        what: 'findings',
      })) as ExportResult;
      const log = JSON.parse(sarif.content);
      assert.equal(log.version, '2.1.0');
      assert.ok(log.runs[0].results.length > 0);
    }
  });

  it('scans the workspace with progress, answers requests meanwhile, and can be cancelled', async () => {
    const dir = copyProject('classic');
    // Enough files to take a while.
    const many = path.join(dir, 'generated');
    fs.mkdirSync(many);
    // Enough files (with some bulk) that a scan takes a while, few routes.
    const filler = Array.from(
      { length: 40 },
      (_, k) =>
        `\n\ndef helper_${k}(x, y=${k}):\n    total = [x * y for _ in range(${k})]\n    return {"k": ${k}, "total": sum(total)}\n`,
    ).join('');
    for (let i = 0; i < 150; i++)
      fs.writeFileSync(
        path.join(many, `m${i}.py`),
        `from fastapi import APIRouter\n\nrouter = APIRouter()\n${filler}\n\n@router.get("/r${i}")\ndef h(q: str = ""):\n    return {"q": q}\n`,
      );
    const c = await startClient(dir);
    await c.waitFor(path.join(dir, 'users.py'), (d) => d.length === 2, 60000);
    const token = 'scan-1';
    const scan = c.conn.sendRequest(SCAN_WORKSPACE_REQUEST, {
      workDoneToken: token,
    }) as Promise<ScanWorkspaceResult>;
    const order: string[] = [];
    void scan.then(() => order.push('scan'));
    // Asked once the scan is under way: answered before the scan ends.
    await until(() => c.progress.some((p) => p.token === token), 'scan progress');
    const hoverDuring = await c.hover(path.join(dir, 'orders.py'), 25, 3);
    order.push('hover');
    assert.match(hoverText(hoverDuring), /DELETE/);
    const result = await scan;
    assert.deepEqual(order, ['hover', 'scan'], 'the hover was answered during the scan');
    assert.equal(result.cancelled, false);
    assert.ok(result.files >= 155, `files: ${result.files}`);
    assert.ok(result.findings.some((f) => f.code === 'AUTH002'));
    const mine = c.progress
      .filter((p) => p.token === token)
      .map((p) => p.value as WorkDoneProgressBegin | WorkDoneProgressReport | { kind: 'end' });
    assert.equal(mine[0]?.kind, 'begin');
    assert.equal(mine[mine.length - 1]?.kind, 'end');
    assert.ok(mine.some((v) => v.kind === 'report' && /\d+\/\d+ files/.test(v.message ?? '')));
    // Cancelled: the request's cancellation token stops the scan.
    const { CancellationTokenSource } = await import('vscode-jsonrpc');
    const source = new CancellationTokenSource();
    const cancelToken = 'scan-2';
    const cancelled = c.conn.sendRequest(
      SCAN_WORKSPACE_REQUEST,
      { workDoneToken: cancelToken },
      source.token,
    ) as Promise<ScanWorkspaceResult>;
    await until(
      () =>
        c.progress.some(
          (p) => p.token === cancelToken && (p.value as { kind: string }).kind === 'report',
        ),
      'progress of the second scan',
    );
    source.cancel();
    const outcome = await cancelled.then(
      (r) => r,
      (err: { code?: number }) => ({ code: err.code }),
    );
    if ('cancelled' in outcome) assert.equal(outcome.cancelled, true, 'scan reports cancelled');
    else assert.equal(outcome.code, -32800, 'RequestCancelled');
    // Still alive and serving.
    const routes = (await c.conn.sendRequest(ROUTES_REQUEST, {})) as RoutesResult;
    assert.ok(routes.routes.length > 150);
  });

  it('survives binary and 20 MB files: a clear note, no crash', async () => {
    const dir = copyProject('classic');
    const binary = path.join(dir, 'blob.py');
    fs.writeFileSync(binary, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 1, 2, 3]));
    const huge = path.join(dir, 'huge.py');
    const line = 'x = "' + 'a'.repeat(90) + '"\n';
    fs.writeFileSync(huge, line.repeat(Math.ceil((20 * 1024 * 1024) / line.length)));
    const c = await startClient(dir);
    const blobDiags = await c.waitFor(binary, (d) => d.length === 1);
    assert.match(msg(blobDiags[0]), /binary/);
    assert.equal(blobDiags[0].severity, 3);
    const hugeDiags = await c.waitFor(huge, (d) => d.length === 1);
    assert.match(msg(hugeDiags[0]), /MB/);
    // Opened in the editor too (20 MB over the wire, NUL bytes in a buffer).
    await c.open(huge);
    await c.open(binary, fs.readFileSync(binary, 'latin1'));
    assert.equal(await c.hover(huge, 0, 1), null);
    await c.waitFor(huge, (d) => d.length === 1 && /size limit|MB/.test(msg(d[0])));
    assert.equal(await c.hover(path.join(dir, 'nowhere.py'), 3, 3), null);
    assert.deepEqual(
      await c.conn.sendRequest('textDocument/codeLens', { textDocument: { uri: 'untitled:1' } }),
      [],
    );
    const users = path.join(dir, 'users.py');
    await c.open(users);
    assert.match(hoverText(await c.hover(users, 17, 2)), /POST `\/users\/`/);
    assert.equal(c.proc.exitCode, null, `server exited: ${c.stderr}`);
  });

  it('follows .py and pyproject.toml changes on disk (watched files)', async () => {
    const dir = copyProject('classic');
    const c = await startClient(dir);
    const users = path.join(dir, 'users.py');
    const orders = path.join(dir, 'orders.py');
    await c.waitFor(users, (d) => d.length === 2);
    await c.waitFor(orders, (d) => d.length === 2);
    const pyproject = path.join(dir, 'pyproject.toml');
    fs.appendFileSync(pyproject, 'ignore = ["AUTH001"]\n');
    fs.writeFileSync(
      orders,
      fs.readFileSync(orders, 'utf8').replace('yaml.load(body)', 'yaml.safe_load(body)'),
    );
    await c.conn.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [
        { uri: uriOf(pyproject), type: 2 },
        { uri: uriOf(orders), type: 2 },
      ],
    });
    await c.waitFor(users, (d) => d.length === 0);
    const left = await c.waitFor(orders, (d) => d.length === 1);
    assert.equal(left[0].code, 'AUTH002');
    // A new file on disk joins the workspace.
    const extra = path.join(dir, 'extra.py');
    fs.writeFileSync(
      extra,
      'from fastapi import APIRouter\n\nrouter = APIRouter()\n\n\n@router.put("/x")\ndef put_x():\n    return {}\n',
    );
    await c.conn.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [{ uri: uriOf(extra), type: 1 }],
    });
    const routes = async () =>
      ((await c.conn.sendRequest(ROUTES_REQUEST, {})) as RoutesResult).routes.map((r) => r.path);
    let paths = await routes();
    for (let i = 0; i < 50 && !paths.includes('/x'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      paths = await routes();
    }
    assert.ok(paths.includes('/x'), paths.join());
  });

  it('analyses a file opened outside every workspace folder on its own', async () => {
    const dir = copyProject('classic');
    const elsewhere = copyProject('noauth');
    const c = await startClient(dir);
    await c.waitFor(path.join(dir, 'users.py'), (d) => d.length === 2);
    const notes = path.join(elsewhere, 'app', 'notes.py');
    await c.open(notes);
    const d = await c.waitFor(notes, (x) => x.length === 2);
    assert.ok(d.every((x) => x.code === 'AUTH001'));
    assert.match(hoverText(await c.hover(notes, 11, 2)), /POST `\/notes\/`/);
    await c.close(notes);
    await c.waitFor(notes, (x) => x.length === 0);
  });

  it('starts the same server as `fastapi-lens lsp --stdio`', async () => {
    const dir = copyProject('classic');
    const c = await startClient(dir, {}, [
      path.join(ROOT, 'bin', 'fastapi-lens.js'),
      'lsp',
      '--stdio',
    ]);
    const users = await c.waitFor(path.join(dir, 'users.py'), (d) => d.length === 2);
    assert.ok(users.every((d) => d.code === 'AUTH001'));
    await c.stop();
    assert.equal(c.proc.exitCode, 0, 'the server exits cleanly after shutdown and exit');
  });

  it('honours settings: diagnostics scope openFiles, rules.ignore, severity, codeLens off', async () => {
    const dir = copyProject('classic');
    const c = await startClient(dir, {
      diagnostics: { scope: 'openFiles' },
      rules: { select: [], ignore: ['DESER001'] },
      severity: { AUTH002: 'info' },
      codeLens: { enable: false },
    });
    const orders = path.join(dir, 'orders.py');
    const users = path.join(dir, 'users.py');
    await c.open(orders);
    const d = await c.waitFor(orders, (x) => x.length === 1);
    assert.equal(d[0].code, 'AUTH002');
    assert.equal(d[0].severity, 3);
    assert.equal(c.diagnostics.get(uriOf(users)), undefined, 'closed files get nothing');
    assert.deepEqual(
      await c.conn.sendRequest('textDocument/codeLens', { textDocument: { uri: uriOf(orders) } }),
      [],
    );
    await c.close(orders);
    await c.waitFor(orders, (x) => x.length === 0);
  });
});
