import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MessageConnection } from 'vscode-jsonrpc/node';
import type { Diagnostic } from 'vscode-languageserver-protocol';
import { generateLatencyProject } from '../bench/lsp-latency';
import { buildServerIfMissing, spawnServer, stopServer, uriOf } from './lspClient';

/**
 * Publishing after edits, over stdio with the bundled server: after an edit, the edited
 * document's diagnostics are sent first; the other files follow only when their diagnostics
 * changed (never the same list twice in a row); and what the editor ends up with equals what
 * a server started afresh on the same texts publishes. Covers edits inside a handler (the warm
 * path), a router gaining a dependency (the cold path: every route of the module changes
 * exposure), and a dependency in another module losing its role check (routes of other
 * modules change).
 */

const tmpRoots: string[] = [];
const servers: Server[] = [];

before(buildServerIfMissing);
after(async () => {
  for (const s of servers) await s.stop();
  for (const d of tmpRoots) fs.rmSync(d, { recursive: true, force: true });
});

interface Published {
  uri: string;
  version?: number;
  diagnostics: Diagnostic[];
}

class Server {
  /** Every publishDiagnostics, in order. */
  readonly log: Published[] = [];
  /** The diagnostics the editor has, by URI. */
  readonly state = new Map<string, Diagnostic[]>();
  private constructor(
    private readonly proc: ChildProcess,
    readonly conn: MessageConnection,
    readonly root: string,
  ) {}

  static async start(root: string): Promise<Server> {
    const { proc, conn } = spawnServer();
    const server = new Server(proc, conn, root);
    servers.push(server);
    conn.onNotification('textDocument/publishDiagnostics', (p: Published) => {
      server.log.push(p);
      server.state.set(p.uri, p.diagnostics);
    });
    conn.onRequest(() => null);
    conn.listen();
    await conn.sendRequest('initialize', {
      processId: process.pid,
      rootUri: uri(root),
      workspaceFolders: [{ uri: uri(root), name: path.basename(root) }],
      capabilities: {},
      initializationOptions: {
        debounceMs: 0,
        verifyIdleMs: 0,
        warmUp: false,
        cacheDir: null,
        // An edited document gets an answer for each version (so the order can be checked).
        publishEveryVersion: true,
      },
    });
    await conn.sendNotification('initialized', {});
    return server;
  }

  /** Wait until nothing was published for `quietMs` (after at least `min` messages). */
  async settle(min = 1, quietMs = 600): Promise<void> {
    const deadline = Date.now() + 60_000;
    let seen = -1;
    let since = Date.now();
    for (;;) {
      if (this.log.length !== seen) {
        seen = this.log.length;
        since = Date.now();
      } else if (this.log.length >= min && Date.now() - since >= quietMs) return;
      if (Date.now() > deadline) throw new Error(`no quiet after ${this.log.length} messages`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  stop(): Promise<void> {
    return stopServer(this.proc, this.conn);
  }
}

const uri = uriOf;

/** Diagnostics by file relative to the root, with the root taken out of related URIs. */
function relative(state: Map<string, Diagnostic[]>, root: string): Map<string, string> {
  const prefix = uri(root);
  const out = new Map<string, string>();
  for (const [u, diags] of state)
    if (diags.length) out.set(u.slice(prefix.length), JSON.stringify(diags).split(prefix).join(''));
  return out;
}

describe('publishing diagnostics after edits', { timeout: 180_000 }, () => {
  it('sends the edited document first, then only the files whose diagnostics changed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-publish-'));
    tmpRoots.push(dir);
    const big = generateLatencyProject(dir, 1500, 700);
    const deps = path.join(dir, 'app', 'deps.py');
    const service = path.join(dir, 'app', 'big', 'service.py');
    const server = await Server.start(dir);
    await server.settle(2);
    const texts = new Map<string, { text: string; version: number }>();
    for (const file of [big, deps, service]) {
      const text = fs.readFileSync(file, 'utf8');
      texts.set(file, { text, version: 1 });
      await server.conn.sendNotification('textDocument/didOpen', {
        textDocument: { uri: uri(file), languageId: 'python', version: 1, text },
      });
    }
    await server.settle();

    const edit = async (file: string, from: string, to: string) => {
      const doc = texts.get(file) as { text: string; version: number };
      assert.ok(doc.text.includes(from), from);
      doc.text = doc.text.replace(from, to);
      doc.version++;
      const start = server.log.length;
      const before = new Map(server.state);
      await server.conn.sendNotification('textDocument/didChange', {
        textDocument: { uri: uri(file), version: doc.version },
        contentChanges: [{ text: doc.text }],
      });
      await server.settle(start + 1);
      const sent = server.log.slice(start);
      assert.equal(sent[0].uri, uri(file), 'the edited document comes first');
      assert.equal(sent[0].version, doc.version);
      const others = sent.slice(1);
      for (const p of others) {
        assert.notEqual(p.uri, uri(file), 'the edited document is sent once');
        assert.notDeepEqual(
          p.diagnostics,
          before.get(p.uri) ?? [],
          `${p.uri} was sent with the diagnostics it had`,
        );
      }
      assert.equal(new Set(others.map((p) => p.uri)).size, others.length, 'each file once');
      return others.length;
    };

    // Typing in a handler (the warm path).
    await edit(
      big,
      '    item = service.get(db, item_id)',
      '    item = service.get(db, item_id, 1)',
    );
    // A service method starts rejecting callers: the routes calling it (in a module listed
    // before it) are reported differently, after the edited module.
    await edit(service, 'import sqlite3\n', 'import sqlite3\nfrom fastapi import HTTPException\n');
    const remove = '        db.execute("DELETE FROM big_items WHERE id = ?", (item_id,))';
    const rejects = '        raise HTTPException(status_code=401, detail="Not authenticated")';
    assert.ok((await edit(service, remove, rejects)) > 0, 'the route module changed');
    await edit(service, rejects, remove);
    // The router gets a dependency: every route of the module changes exposure.
    const router = 'router = APIRouter(prefix="/big", tags=["big"]';
    const guarded = `${router}, dependencies=[Depends(get_current_user)]`;
    const files = [...server.state.values()].filter((d) => d.length).length;
    const changed = await edit(big, router, guarded);
    assert.ok(changed < files - 1, `${changed} of ${files} files sent again`);
    // The superuser check goes: routes in the generated modules change too.
    const check = 'if not user.get("is_superuser"):';
    await edit(deps, check, 'if False:');
    await edit(deps, 'if False:', check);
    await edit(big, guarded, router);

    // What the editor has equals what a server started on the same texts publishes.
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-publish-fresh-'));
    tmpRoots.push(copy);
    fs.cpSync(dir, copy, { recursive: true });
    for (const [file, doc] of texts)
      fs.writeFileSync(path.join(copy, path.relative(dir, file)), doc.text);
    const fresh = await Server.start(copy);
    await fresh.settle(2);
    const expected = relative(fresh.state, copy);
    assert.ok(expected.size > 5);
    assert.deepEqual(relative(server.state, dir), expected);
  });
});
