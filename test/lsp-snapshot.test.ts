import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Diagnostic } from 'vscode-languageserver-protocol';
import { buildServerIfMissing, ROOT, spawnServer, stopServer, uriOf } from './lspClient';
import { DEFAULT_SETTINGS, type LensSettings } from '../server/src/protocol';

/**
 * A restart in an unchanged workspace publishes the last session's diagnostics (lsp/snapshot.ts)
 * before the load has read or parsed anything; the load then sends nothing new for them. Any
 * change to what the diagnostics are made of (a file on disk, the settings, an open document's
 * unsaved text) means no snapshot: the load's own diagnostics come, as on a first start.
 */

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-snapshot-'));
before(buildServerIfMissing);
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Event =
  | { kind: 'diagnostics'; uri: string; diagnostics: Diagnostic[] }
  | { kind: 'log'; message: string };

interface Run {
  events: Event[];
  /** The last diagnostics each file got. */
  last: Map<string, Diagnostic[]>;
  errors: string[];
}

/** Start the server, open `docs`, wait for the load and for quiet, then shut it down. */
async function run(
  root: string,
  cacheDir: string,
  docs: { abs: string; text: string }[],
  settings: LensSettings = DEFAULT_SETTINGS,
): Promise<Run> {
  const { proc, conn } = spawnServer();
  const out: Run = { events: [], last: new Map(), errors: [] };
  let routes = 0;
  conn.onNotification(
    'textDocument/publishDiagnostics',
    (p: { uri: string; diagnostics: Diagnostic[] }) => {
      out.events.push({ kind: 'diagnostics', uri: p.uri, diagnostics: p.diagnostics });
      out.last.set(p.uri, p.diagnostics);
    },
  );
  conn.onNotification('window/logMessage', (p: { type: number; message: string }) => {
    out.events.push({ kind: 'log', message: p.message });
    if (p.type === 1) out.errors.push(p.message);
  });
  conn.onNotification('fastapiLens/routesChanged', () => {
    routes++;
  });
  conn.onRequest('workspace/configuration', (p: { items: unknown[] }) =>
    p.items.map(() => settings),
  );
  conn.onRequest(() => null);
  conn.listen();
  try {
    await conn.sendRequest('initialize', {
      processId: process.pid,
      rootUri: uriOf(root),
      workspaceFolders: [{ uri: uriOf(root), name: path.basename(root) }],
      capabilities: { workspace: { configuration: true } },
      initializationOptions: { cacheDir, warmUp: false, verifyIdleMs: 0, logTimings: true },
    });
    await conn.sendNotification('initialized', {});
    for (const d of docs)
      await conn.sendNotification('textDocument/didOpen', {
        textDocument: { uri: uriOf(d.abs), languageId: 'python', version: 1, text: d.text },
      });
    const deadline = Date.now() + 60_000;
    let seen = -1;
    let since = Date.now();
    for (;;) {
      if (out.events.length !== seen) {
        seen = out.events.length;
        since = Date.now();
      } else if (routes > 0 && Date.now() - since >= 500) break;
      if (Date.now() > deadline) throw new Error('the load did not finish');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    // Shutdown writes the snapshot.
    await stopServer(proc, conn);
  }
  return out;
}

const logIndex = (r: Run, prefix: string) =>
  r.events.findIndex((e) => e.kind === 'log' && e.message.startsWith(prefix));

function publications(r: Run, abs: string): number {
  return r.events.filter((e) => e.kind === 'diagnostics' && e.uri === uriOf(abs)).length;
}

function copyExample(name: string): string {
  const dest = path.join(tmp, name);
  fs.cpSync(path.join(ROOT, 'examples', 'shop-api'), dest, { recursive: true });
  return dest;
}

describe("LSP: the last session's diagnostics at a restart", () => {
  it('an unchanged workspace gets them before the load, and the load sends nothing new', async () => {
    const root = copyExample('same');
    const cache = path.join(tmp, 'cache-same');
    const items = path.join(root, 'app', 'api', 'routes', 'items.py');
    const docs = [{ abs: items, text: fs.readFileSync(items, 'utf8') }];
    const first = await run(root, cache, docs);
    assert.deepEqual(first.errors, []);
    assert.equal(logIndex(first, 'snapshot '), -1, 'no snapshot at the first start');
    assert.ok((first.last.get(uriOf(items)) ?? []).length > 0, 'items.py has findings');
    assert.ok(
      fs.readdirSync(cache).some((n) => n.endsWith('.diagnostics.json')),
      'shutdown wrote the snapshot',
    );

    const second = await run(root, cache, docs);
    assert.deepEqual(second.errors, []);
    const snap = logIndex(second, 'snapshot ');
    const load = logIndex(second, 'load ');
    assert.ok(snap >= 0, 'the snapshot was published');
    assert.ok(load > snap, 'before the load finished');
    const firstSet = second.events.findIndex(
      (e) => e.kind === 'diagnostics' && e.uri === uriOf(items),
    );
    assert.ok(firstSet >= 0 && firstSet < load, "the open document's diagnostics came first");
    // The same diagnostics for every file, each sent once.
    assert.deepEqual(
      [...second.last].sort((a, b) => a[0].localeCompare(b[0])),
      [...first.last].filter(([, d]) => d.length > 0).sort((a, b) => a[0].localeCompare(b[0])),
    );
    assert.equal(publications(second, items), 1, 'items.py: not sent again by the load');

    // The documents open when it was written are kept, and sent first at the next start even
    // before the editor opens anything (an editor restores them).
    const file = fs.readdirSync(cache).find((n) => n.endsWith('.diagnostics.json')) as string;
    const text = fs.readFileSync(path.join(cache, file), 'utf8');
    const data = JSON.parse(text.slice(text.indexOf('\n') + 1)) as { open?: string[] };
    assert.deepEqual(data.open, [items]);
    const third = await run(root, cache, []);
    const firstSent = third.events.find((e) => e.kind === 'diagnostics');
    assert.equal(firstSent?.kind === 'diagnostics' && firstSent.uri, uriOf(items));
    assert.ok(logIndex(third, 'snapshot ') >= 0);
  });

  it('a file changed on disk, other settings or unsaved text: no snapshot', async () => {
    const root = copyExample('changed');
    const cache = path.join(tmp, 'cache-changed');
    const items = path.join(root, 'app', 'api', 'routes', 'items.py');
    const text = fs.readFileSync(items, 'utf8');
    const docs = [{ abs: items, text }];
    await run(root, cache, docs);
    assert.ok(logIndex(await run(root, cache, docs), 'snapshot ') >= 0, 'unchanged: used');

    // A route becomes public in another file.
    const users = path.join(root, 'app', 'api', 'routes', 'users.py');
    fs.appendFileSync(users, '\n\n@router.delete("/purge")\ndef purge_users():\n    return None\n');
    const changed = await run(root, cache, docs);
    assert.equal(logIndex(changed, 'snapshot '), -1, 'a file changed: not used');
    const purge = (changed.last.get(uriOf(users)) ?? []).filter((d) =>
      String(d.message).includes('DELETE /api/v1/users/purge is public'),
    );
    assert.equal(purge.length, 1, 'the new public route is reported');

    const ignored = await run(root, cache, docs, {
      ...DEFAULT_SETTINGS,
      rules: { select: [], ignore: ['AUTH001'] },
    });
    assert.equal(logIndex(ignored, 'snapshot '), -1, 'other settings: not used');
    assert.ok(
      [...ignored.last.values()].flat().every((d) => d.code !== 'AUTH001'),
      'the settings apply',
    );

    await run(root, cache, docs);
    const unsaved = await run(root, cache, [{ abs: items, text: `${text}\nimport os\n` }]);
    assert.equal(logIndex(unsaved, 'snapshot '), -1, 'unsaved changes: not used');
  });
});
