import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc/node';
import { DiagnosticSeverity, type Diagnostic } from 'vscode-languageserver-protocol';
import { generateLatencyProject } from '../bench/lsp-latency';
import { buildServerIfMissing, spawnServer, stopServer, uriOf } from './lspClient';
import { DEFAULT_SETTINGS, type LensSettings } from '../server/src/protocol';

/**
 * Start-up over stdio with the bundled server: documents open while the workspace loads get
 * their file-local findings at once (file rules not weighed by exposure, outside functions,
 * with configuration, editor settings and suppression comments applied), and then the complete
 * set. Every set sent before the complete one is part of it (same code, range, severity,
 * message): nothing shown early disappears. The documents are open before the load can finish:
 * this client answers the server's `client/registerCapability` (which the server waits for
 * before loading) only after sending them, as a busy editor may.
 */

const tmpRoots: string[] = [];
const servers: Server[] = [];

before(buildServerIfMissing);
after(async () => {
  for (const s of servers) await s.stop();
  for (const d of tmpRoots) fs.rmSync(d, { recursive: true, force: true });
});

const uri = uriOf;

interface Published {
  uri: string;
  diagnostics: Diagnostic[];
  /** routesChanged notifications received before it. */
  routesBefore: number;
}

class Server {
  readonly log: Published[] = [];
  readonly errors: string[] = [];
  routesChanged = 0;
  private constructor(
    private readonly proc: ChildProcess,
    readonly conn: MessageConnection,
  ) {}

  /** Start on `root`; the documents are opened before the server may start loading. */
  static async start(
    root: string,
    settings: LensSettings,
    docs: { abs: string; text: string }[],
  ): Promise<Server> {
    const { proc, conn } = spawnServer();
    const server = new Server(proc, conn);
    servers.push(server);
    conn.onNotification('textDocument/publishDiagnostics', (p: Published) => {
      server.log.push({ ...p, routesBefore: server.routesChanged });
    });
    conn.onNotification('fastapiLens/routesChanged', () => {
      server.routesChanged++;
    });
    conn.onNotification('window/logMessage', (p: { type: number; message: string }) => {
      if (p.type === 1) server.errors.push(p.message);
    });
    let opened: () => void = () => undefined;
    const allOpen = new Promise<void>((resolve) => (opened = resolve));
    conn.onRequest('client/registerCapability', async () => {
      await allOpen;
      return null;
    });
    conn.onRequest('workspace/configuration', (p: { items: unknown[] }) =>
      p.items.map(() => settings),
    );
    conn.onRequest(() => null);
    conn.listen();
    await conn.sendRequest('initialize', {
      processId: process.pid,
      rootUri: uri(root),
      workspaceFolders: [{ uri: uri(root), name: path.basename(root) }],
      capabilities: {
        workspace: { configuration: true, didChangeWatchedFiles: { dynamicRegistration: true } },
      },
      // A real load: no facts cache.
      initializationOptions: { cacheDir: null, warmUp: false, verifyIdleMs: 0 },
    });
    await conn.sendNotification('initialized', {});
    for (const d of docs)
      await conn.sendNotification('textDocument/didOpen', {
        textDocument: { uri: uri(d.abs), languageId: 'python', version: 1, text: d.text },
      });
    opened();
    return server;
  }

  /** Wait for the first complete publication, then for quiet. */
  async settle(quietMs = 500): Promise<void> {
    const deadline = Date.now() + 120_000;
    let seen = -1;
    let since = Date.now();
    for (;;) {
      if (this.log.length !== seen) {
        seen = this.log.length;
        since = Date.now();
      } else if (this.routesChanged > 0 && Date.now() - since >= quietMs) return;
      if (Date.now() > deadline) throw new Error('the load did not finish');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  sets(abs: string): Published[] {
    return this.log.filter((p) => p.uri === uri(abs));
  }

  stop(): Promise<void> {
    return stopServer(this.proc, this.conn);
  }
}

/** What an editor shows of a diagnostic. */
const shown = (d: Diagnostic) => JSON.stringify([d.code, d.range, d.severity, d.message, d.source]);

/** Each set sent before the last is part of the last. */
function assertSubsets(sets: Published[], what: string): void {
  assert.ok(sets.length > 0, `${what}: diagnostics were sent`);
  const final = new Set(sets[sets.length - 1].diagnostics.map(shown));
  sets.slice(0, -1).forEach((s, i) => {
    for (const d of s.diagnostics)
      assert.ok(final.has(shown(d)), `${what}: set ${i + 1} has ${shown(d)}, the complete set not`);
  });
}

const brief = (ds: Diagnostic[]) =>
  ds.map((d) => `${d.range.start.line + 1} ${String(d.code)} ${d.severity}`).sort();

const SETTINGS_PY = `import requests
from fastapi import APIRouter, FastAPI

SECRET_KEY = "9f2c6e1d8a7b4c3e5f60718293a4b5c6"
ADMIN_PASSWORD = "admin123!"  # fastapi-lens: ignore[SECRET001] the demo account
BOOT = requests.get("https://config.example.com/boot", verify=False)
debug_app = FastAPI(debug=True)
router = APIRouter()


@router.post("/reset")
def reset():
    r = requests.get("https://status.example.com", verify=False, timeout=5)
    return r.json()
`;

describe(
  'start-up: file-local diagnostics before the workspace is loaded',
  { timeout: 240_000 },
  () => {
    it('sends open documents their file-local findings first, each part of the complete set', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-early-'));
      tmpRoots.push(dir);
      generateLatencyProject(dir, 3000, 600);
      const settingsPy = path.join(dir, 'app', 'settings_local.py');
      fs.writeFileSync(settingsPy, SETTINGS_PY);
      fs.appendFileSync(
        path.join(dir, 'app', 'main.py'),
        '\nfrom app import settings_local\n\napp.include_router(settings_local.router)\n',
      );
      // Opened with unsaved changes: a new secret.
      const plain = path.join(dir, 'app', 'plain.py');
      const plainText = `${fs.readFileSync(plain, 'utf8')}\nAPI_SECRET = "n3w-s3cr3t-v4lu3-2024"\n`;
      // Nested deeper than the parser accepts: no early set, the load says why.
      const deep = path.join(dir, 'app', 'deep.py');
      const deepText = `${Array.from({ length: 300 }, (_, i) => `${' '.repeat(i)}if x:`).join('\n')}\n${' '.repeat(300)}pass\n`;
      fs.writeFileSync(deep, deepText);
      const settings: LensSettings = { ...DEFAULT_SETTINGS, severity: { CFG001: 'error' } };
      const server = await Server.start(dir, settings, [
        { abs: settingsPy, text: SETTINGS_PY },
        { abs: plain, text: plainText },
        { abs: deep, text: deepText },
      ]);
      // A quick fix asked for as soon as the early set shows: answered from the loaded
      // workspace (it waits for the load), with the fixes of the early diagnostic.
      while (server.sets(settingsPy).length === 0) await new Promise((r) => setTimeout(r, 5));
      const early = server.sets(settingsPy)[0];
      const secret = early.diagnostics.find((d) => d.code === 'SECRET001');
      assert.ok(secret, 'the early set has the secret');
      const actions = (await server.conn.sendRequest('textDocument/codeAction', {
        textDocument: { uri: uri(settingsPy) },
        range: secret.range,
        context: { diagnostics: [secret] },
      })) as { title: string }[];
      assert.ok(
        actions.some((a) => /ignore/i.test(a.title)),
        `quick fixes for the early diagnostic: ${actions.map((a) => a.title).join(' | ')}`,
      );
      await server.settle();
      assert.deepEqual(server.errors, []);

      const sets = server.sets(settingsPy);
      assertSubsets(sets, 'settings_local.py');
      // The early set: module-level findings of file rules, the editor's severity for CFG001,
      // the suppressed secret left out; the complete set adds what needs the workspace (the
      // route's findings).
      const [first] = sets;
      assert.equal(first.routesBefore, 0, 'sent before the load finished');
      assert.deepEqual(brief(first.diagnostics), [
        `4 SECRET001 ${DiagnosticSeverity.Warning}`,
        `6 TIMEOUT001 ${DiagnosticSeverity.Information}`,
        `6 TLS001 ${DiagnosticSeverity.Error}`,
        `7 CFG001 ${DiagnosticSeverity.Error}`,
        `7 CFG003 ${DiagnosticSeverity.Information}`,
      ]);
      const final = sets[sets.length - 1].diagnostics;
      assert.ok(sets.length >= 2, 'the complete set follows');
      assert.ok(
        final.some((d) => d.code === 'AUTH001') &&
          final.some((d) => d.code === 'TLS001' && d.range.start.line === 12),
        `the complete set has the route's findings: ${brief(final).join(', ')}`,
      );

      // The complete set is sent even when it equals the early one.
      const plainSets = server.sets(plain);
      assertSubsets(plainSets, 'plain.py');
      assert.equal(plainSets.length, 2, JSON.stringify(plainSets));
      for (const p of plainSets)
        assert.deepEqual(
          p.diagnostics.map((d) => d.code),
          ['SECRET001'],
          'the unsaved text is analysed',
        );

      // The refused document gets only the complete set (the load's note), nothing earlier.
      const deepSets = server.sets(deep);
      assert.equal(deepSets.length, 1, JSON.stringify(deepSets));
      assert.ok(deepSets[0].routesBefore === 0 && deepSets[0].diagnostics.length === 1);
      assert.match(String(deepSets[0].diagnostics[0].message), /could not analyse|nests more/);
    });
  },
);
