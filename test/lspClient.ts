import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import type {
  CodeAction,
  Diagnostic,
  Hover,
  InitializeResult,
  MarkupContent,
  PublishDiagnosticsParams,
  Range,
  TextDocumentEdit,
  TextEdit,
  WorkspaceEdit,
} from 'vscode-languageserver-protocol';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { ProjectConfigResolver } from '../server/src/engine/config';
import type { Finding } from '../server/src/engine/findings';
import { scanWorkspace } from '../server/src/engine/index';
import { DEFAULT_SETTINGS, type LensSettings } from '../server/src/protocol';

/**
 * A minimal LSP client for the tests that drive the bundled server (dist/server.js) over stdio
 * like an editor does, plus the checks those tests share: Python's own parser, "no line
 * deleted", applying a WorkspaceEdit to file texts, and the engine's findings for a folder.
 * Not a test file itself (no `.test.ts`): `lsp.test.ts` and `fix-runtime.test.ts` import it.
 */

export const ROOT = path.resolve(__dirname, '..');
export const SERVER = path.join(ROOT, 'dist', 'server.js');
export const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** The bundled server over stdio: its process and a connection to it (not listening yet). */
export function spawnServer(args = [SERVER, '--stdio']): {
  proc: ChildProcess;
  conn: MessageConnection;
} {
  const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const conn = createMessageConnection(
    new StreamMessageReader(proc.stdout!),
    new StreamMessageWriter(proc.stdin!),
  );
  return { proc, conn };
}

/** Shut a server down as an editor does (shutdown, exit), killing it if it does not go. */
export async function stopServer(proc: ChildProcess, conn: MessageConnection): Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once('exit', () => resolve());
  });
  try {
    await Promise.race([conn.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 5000))]);
    await conn.sendNotification('exit');
  } catch {
    // already gone
  }
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  conn.dispose();
  if (proc.exitCode === null && proc.signalCode === null) proc.kill();
}

/** Build the bundle when `dist/server.js` is missing (tests run from sources otherwise). */
export function buildServerIfMissing(): void {
  if (!fs.existsSync(SERVER))
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
}

export interface ProgressParams {
  token: string | number;
  value: unknown;
}

export const uriOf = (abs: string) => pathToFileURL(abs).href;

export function parsesWithPython(text: string): string | null {
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
export function keepsLines(before: string, after: string): string | null {
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

export class Client {
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
    const { proc, conn } = spawnServer(args);
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

  /** Code actions for a range with no diagnostics in the context (the server finds them). */
  codeActionsAt(abs: string, range: Range, only?: string[]): Promise<CodeAction[]> {
    return this.conn.sendRequest('textDocument/codeAction', {
      textDocument: { uri: uriOf(abs) },
      range,
      context: { diagnostics: [], only },
    });
  }

  stop(): Promise<void> {
    return stopServer(this.proc, this.conn);
  }
}

/** Apply a WorkspaceEdit to file texts (paths -> text); returns the touched files. */
export function applyWorkspaceEdit(
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

/** The text edits a WorkspaceEdit makes to one file. */
export function editsOf(edit: WorkspaceEdit, abs: string): TextEdit[] {
  const uri = uriOf(abs);
  const out: TextEdit[] = [...(edit.changes?.[uri] ?? [])];
  for (const change of edit.documentChanges ?? [])
    if (!('kind' in change) && change.textDocument.uri === uri)
      out.push(...(change.edits as TextEdit[]));
  return out;
}

/**
 * Where whole lines of `range` are after `edits` (insertions and replacements): each edit that
 * starts on an earlier line, or at the start of the first line, shifts them by the lines it adds.
 */
export function movedRange(range: Range, edits: TextEdit[]): Range {
  const shift = (line: number) => {
    let delta = 0;
    for (const e of edits) {
      const s = e.range.start;
      if (s.line < line || (s.line === line && s.character === 0))
        delta += e.newText.split('\n').length - 1 - (e.range.end.line - s.line);
    }
    return line + delta;
  };
  return {
    start: { line: shift(range.start.line), character: 0 },
    end: { line: shift(range.end.line), character: 0 },
  };
}

export async function engineFindings(dir: string): Promise<Finding[]> {
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

export function msg(d: Diagnostic): string {
  return typeof d.message === 'string' ? d.message : d.message.value;
}

export function hoverText(h: Hover | null): string {
  assert.ok(h, 'a hover');
  return (h.contents as MarkupContent).value;
}

export async function until(test: () => boolean, what: string, timeout = 10000): Promise<void> {
  const end = Date.now() + timeout;
  while (!test()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
