import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateProject } from './generate';
import { loadRuff } from './ruff';

/**
 * Project used by the LSP latency benchmark and test/incremental.test.ts: a generated project
 * (bench/generate.ts) plus one 2,000-line route module (`app/big/routes.py`) with a service
 * module holding SQL and shell sinks, included into the app.
 */

/** A route module of about `lines` lines: 8 kinds of route, in turn. */
export function bigRouteModule(lines = 2000): string {
  const out: string[] = [
    'import subprocess',
    'from typing import Annotated',
    '',
    'from fastapi import APIRouter, Depends, HTTPException, Request',
    'from pydantic import BaseModel',
    '',
    'from app.big.service import BigService',
    'from app.deps import CurrentUser, get_current_superuser, get_current_user, get_db',
    '',
    'router = APIRouter(prefix="/big", tags=["big"])',
    'service = BigService()',
    '',
    '',
    'class Item(BaseModel):',
    '    name: str',
    '    description: str = ""',
    '    quantity: int = 0',
    '',
  ];
  for (let r = 0; out.length < lines - 12; r++) {
    const kind = r % 8;
    out.push('');
    if (kind === 0) {
      out.push(`@router.get("/items${r}/{item_id}")`);
      out.push(`def read_item_${r}(item_id: int, user: CurrentUser, db=Depends(get_db)):`);
      out.push('    item = service.get(db, item_id)');
      out.push('    if item is None:');
      out.push('        raise HTTPException(status_code=404, detail="Not found")');
      out.push('    return item');
    } else if (kind === 1) {
      out.push(`@router.post("/items${r}", dependencies=[Depends(get_current_superuser)])`);
      out.push(`def create_item_${r}(item: Item, db=Depends(get_db)):`);
      out.push('    created = service.create(db, item.name, item.description)');
      out.push('    return created');
    } else if (kind === 2) {
      out.push(`@router.get("/search${r}")`);
      out.push(`def search_${r}(q: str = "", limit: int = 10, db=Depends(get_db)):`);
      out.push('    results = service.search(db, q)');
      out.push('    return results[:limit]');
    } else if (kind === 3) {
      out.push(`@router.post("/run${r}")`);
      out.push(`def run_${r}(cmd: str, user=Depends(get_current_user)):`);
      out.push('    out = subprocess.run(cmd, shell=True, capture_output=True)');
      out.push('    return {"code": out.returncode}');
    } else if (kind === 4) {
      out.push(`@router.get("/report${r}")`);
      out.push(`async def report_${r}(request: Request, user: CurrentUser):`);
      out.push('    name = request.query_params.get("name", "")');
      out.push('    rows = service.lookup(name)');
      out.push('    total = 0');
      out.push('    for row in rows:');
      out.push('        total += 1');
      out.push('    return {"rows": rows, "total": total}');
    } else if (kind === 5) {
      out.push(`@router.delete("/items${r}/{item_id}")`);
      out.push(`def delete_item_${r}(item_id: int, db=Depends(get_db)):`);
      out.push('    service.delete(db, item_id)');
      out.push('    return {"deleted": item_id}');
    } else if (kind === 6) {
      out.push(`@router.put("/items${r}/{item_id}")`);
      out.push(
        `def update_item_${r}(item_id: int, item: Item, user: CurrentUser, db=Depends(get_db)):`,
      );
      out.push('    current = service.get(db, item_id)');
      out.push('    if current is None:');
      out.push('        raise HTTPException(status_code=404, detail="Not found")');
      out.push('    return service.create(db, item.name, item.description)');
    } else {
      out.push(`@router.get("/health${r}")`);
      out.push(`def health_${r}():`);
      out.push('    return {"ok": True}');
    }
  }
  return out.join('\n') + '\n';
}

const BIG_SERVICE = `import sqlite3
import subprocess


class BigService:
    table = "big_items"

    def get(self, db, item_id):
        cur = db.execute(f"SELECT * FROM {self.table} WHERE id = ?", (item_id,))
        return cur.fetchone()

    def create(self, db, name, description):
        db.execute("INSERT INTO big_items (name, description) VALUES (?, ?)", (name, description))
        return {"name": name}

    def search(self, db, q):
        sql = "SELECT * FROM big_items WHERE name LIKE '%" + q + "%'"
        return db.execute(sql).fetchall()

    def lookup(self, name):
        conn = sqlite3.connect("big.db")
        return conn.execute(f"SELECT * FROM big_items WHERE name = '{name}'").fetchall()

    def delete(self, db, item_id):
        db.execute("DELETE FROM big_items WHERE id = ?", (item_id,))
`;

const PLAIN = `import json


def load_settings(path):
    with open(path) as f:
        return json.load(f)


def merge(a, b):
    out = dict(a)
    out.update(b)
    return out
`;

/**
 * Generate the benchmark project in `dir`: bench/generate.ts' project of about `lines` lines,
 * plus app/big/routes.py (`bigLines` lines), app/big/service.py and app/plain.py (a module that
 * nothing imports and that does not use FastAPI). Returns the big route module's path.
 */
export function generateLatencyProject(dir: string, lines: number, bigLines = 2000): string {
  generateProject(dir, lines);
  const big = path.join(dir, 'app', 'big');
  fs.mkdirSync(big, { recursive: true });
  fs.writeFileSync(path.join(big, '__init__.py'), '');
  fs.writeFileSync(path.join(big, 'routes.py'), bigRouteModule(bigLines));
  fs.writeFileSync(path.join(big, 'service.py'), BIG_SERVICE);
  fs.writeFileSync(path.join(dir, 'app', 'plain.py'), PLAIN);
  const main = path.join(dir, 'app', 'main.py');
  const text = fs.readFileSync(main, 'utf8');
  fs.writeFileSync(
    main,
    text.replace(
      'from fastapi import FastAPI\n',
      'from fastapi import FastAPI\n\nfrom app.big import routes as big_routes\n',
    ) + 'app.include_router(big_routes.router, prefix="/api")\n',
  );
  return path.join(big, 'routes.py');
}

// ---------------------------------------------------------------------------------------------
// The benchmark: `node --import tsx bench/lsp-latency.ts [--sizes 10000,100000] [--baseline]`
// (bench/run.ts runs it when dist/server.js exists). LSP_BENCH_DEBUG=1 prints the edits that did
// not take the expected path, and the server's load and early-diagnostics timings;
// LSP_BENCH_TIMINGS=FILE appends the
// server's timing line of every edit (JSON: steps, file/workspace/publish ms) to FILE.

interface Position {
  line: number;
  character: number;
}
interface Change {
  range: { start: Position; end: Position };
  text: string;
}
interface Step {
  kind: 'body' | 'exposure';
  /** Document the edit is made in. */
  file: string;
  change: Change;
}

/** A text and its edits as LSP incremental changes (ASCII text: offsets are characters). */
export class Doc {
  constructor(
    readonly file: string,
    public text: string,
    public version = 1,
  ) {}

  pos(offset: number): Position {
    const before = this.text.slice(0, offset);
    const line = before.split('\n').length - 1;
    return { line, character: offset - (before.lastIndexOf('\n') + 1) };
  }

  /** Replace [from, to) with `text`; returns the LSP change. */
  edit(from: number, to: number, text: string): Change {
    const change = { range: { start: this.pos(from), end: this.pos(to) }, text };
    this.text = this.text.slice(0, from) + text + this.text.slice(to);
    return change;
  }
}

/** The scripted edit session: 444 edits (the benchmark does not count the first 8). */
export function script(big: Doc, deps: Doc): Step[] {
  const steps: Step[] = [];
  const body = (doc: Doc, change: Change) => steps.push({ kind: 'body', file: doc.file, change });
  const exposure = (doc: Doc, change: Change) =>
    steps.push({ kind: 'exposure', file: doc.file, change });
  /**
   * Type `text` on a new line at the start of the body of the handler found at `frac` of the
   * `handlers` matches, one character per edit, the closing parenthesis inserted with the
   * opening one and typed over (as editors do).
   */
  const typeInHandler = (handlers: RegExp, frac: number, text: string) => {
    const found = [...big.text.matchAll(handlers)];
    const m = found[Math.floor(found.length * frac)];
    let at = (m.index as number) + m[0].length;
    body(big, big.edit(at, at, '    \n'));
    at += 4;
    for (const ch of text) {
      if (ch !== ')') body(big, big.edit(at, at, ch === '(' ? '()' : ch));
      at++;
    }
  };
  // 1. Typing a statement in five handlers spread over the module.
  const statement = 'total_value = compute_total(item_id, limit=10)';
  for (const frac of [0.1, 0.3, 0.5, 0.7, 0.9])
    typeInHandler(/\ndef (read_item|search|run|update_item)_\d+\(.*\n/g, frac, statement);
  // 1b. A guard clause typed into two handlers: the `if` header is a syntax error until its
  //     colon, then the block is empty until its statement is typed.
  const guard = 'if item_id < 0:\n        raise HTTPException(status_code=400, detail="bad id")';
  for (const frac of [0.2, 0.6]) typeInHandler(/\ndef read_item_\d+\(.*\n/g, frac, guard);
  // 2. Lines added above the routes, and removed again; a comment in the middle.
  const top = big.text.indexOf('\n\nclass Item') + 1;
  for (let i = 0; i < 10; i++) body(big, big.edit(top, top, '\n'));
  for (let i = 0; i < 10; i++) body(big, big.edit(top, top + 1, ''));
  const mid = big.text.indexOf('\n@router', big.text.length >> 1) + 1;
  const note = '# TODO: paginate\n';
  for (let i = 0; i < 5; i++) {
    body(big, big.edit(mid, mid, note));
    body(big, big.edit(mid, mid + note.length, ''));
  }
  // 3. Exposure: the router gets a dependency and loses it; a route gets one; a dependency
  //    in another module stops checking the superuser flag (routes of every module change).
  const deco = 'tags=["big"]';
  const add = ', dependencies=[Depends(get_current_user)]';
  for (let i = 0; i < 5; i++) {
    const at = big.text.indexOf(deco) + deco.length;
    exposure(big, big.edit(at, at, add));
    exposure(big, big.edit(at, at + add.length, ''));
  }
  const route = big.text.indexOf('@router.get("/search');
  // Inside the decorator's parentheses, after the path.
  const close = big.text.indexOf('")', route) + 1;
  for (let i = 0; i < 5; i++) {
    exposure(big, big.edit(close, close, add));
    exposure(big, big.edit(close, close + add.length, ''));
  }
  const check = 'if not user.get("is_superuser"):';
  for (let i = 0; i < 5; i++) {
    const at = deps.text.indexOf(check);
    exposure(deps, deps.edit(at, at + check.length, 'if False:'));
    exposure(deps, deps.edit(at, at + 'if False:'.length, check));
  }
  return steps;
}

/** The p-quantile (0..1) of a sample, by rank (NaN when empty). */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
}

interface LatencyResult {
  label: string;
  files: number;
  lines: number;
  initializeMs: number;
  /** spawn → the opened file's first diagnostics (its file-local findings, sent during the load). */
  firstDiagnosticsMs: number;
  /** spawn → its complete diagnostics (after the workspace passes). */
  completeDiagnosticsMs: number;
  afterOpenMs: number;
  afterOpenCompleteMs: number;
  /** The first diagnostics came before the complete ones (the load had not finished). */
  early: boolean;
  rows: {
    kind: string;
    n: number;
    p50: number;
    p95: number;
    max: number;
    warm: number;
    server50: number;
    server95: number;
    publish50: number;
    publish95: number;
  }[];
  peakRssMb: number | null;
}

async function measureServer(
  dir: string,
  big: string,
  label: string,
  env: NodeJS.ProcessEnv,
  startOnly = false,
): Promise<LatencyResult> {
  const { spawn } = await import('node:child_process');
  const rpc = await import('vscode-jsonrpc/node');
  const { pathToFileURL } = await import('node:url');
  const server = path.join(__dirname, '..', 'dist', 'server.js');
  const uri = (abs: string) => pathToFileURL(abs).href;
  const t0 = performance.now();
  // LSP_BENCH_NODE_ARGS: extra node flags for the server (e.g. `--cpu-prof --cpu-prof-dir=DIR`).
  const nodeArgs = (process.env.LSP_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, server, '--stdio'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const conn = rpc.createMessageConnection(
    new rpc.StreamMessageReader(proc.stdout!),
    new rpc.StreamMessageWriter(proc.stdin!),
  );
  const waiting = new Map<string, { version: number | null; resolve: () => void }>();
  /** When each document's diagnostics were received (start-up: the first and complete set). */
  const received = new Map<string, number[]>();
  /** What each publication of a document held (JSON), in order: a complete set is recognised by its content. */
  const contents = new Map<string, string[]>();
  let routesNotified = false;
  conn.onNotification('fastapiLens/routesChanged', () => {
    routesNotified = true;
  });
  conn.onNotification(
    'textDocument/publishDiagnostics',
    (p: { uri: string; version?: number; diagnostics: unknown[] }) => {
      const times = received.get(p.uri) ?? [];
      received.set(p.uri, times);
      times.push(performance.now());
      if (startOnly) {
        const list = contents.get(p.uri) ?? [];
        contents.set(p.uri, list);
        list.push(JSON.stringify(p.diagnostics));
      }
      const w = waiting.get(p.uri);
      if (w && (w.version === null || p.version === w.version)) {
        waiting.delete(p.uri);
        w.resolve();
      }
    },
  );
  interface Timing {
    uri: string;
    version: number | null;
    path: string;
    reason: string | null;
    fileMs: number;
    workspaceMs: number;
    flushMs: number;
    publishMs: number;
  }
  const timings = new Map<string, Timing>();
  // The server logs `load` once it has sent the complete diagnostics of the open documents
  // (before it, the file-local ones may have come): the last set received by then is complete.
  let loadedAt: (counts: Map<string, number>) => void = () => undefined;
  const loaded = new Promise<Map<string, number>>((resolve) => (loadedAt = resolve));
  conn.onNotification('window/logMessage', (p: { message: string }) => {
    if (/^load /.test(p.message))
      loadedAt(new Map([...received].map(([u, times]) => [u, times.length])));
    const m = /^timing (.*)$/.exec(p.message);
    if (m) {
      const t = JSON.parse(m[1]) as Timing;
      timings.set(`${t.uri}#${t.version}`, t);
      if (process.env.LSP_BENCH_TIMINGS)
        fs.appendFileSync(process.env.LSP_BENCH_TIMINGS, m[1] + '\n');
    } else if (/^(load|early) /.test(p.message) && process.env.LSP_BENCH_DEBUG)
      console.error(label, p.message, `at ${(performance.now() - t0).toFixed(0)} ms`);
  });
  conn.onRequest(() => null);
  conn.listen();
  const wait = (abs: string, version: number | null) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no diagnostics for ${abs} v${version}\n${stderr}`)),
        120_000,
      );
      waiting.set(uri(abs), {
        version,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });

  await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: uri(dir),
    workspaceFolders: [{ uri: uri(dir), name: path.basename(dir) }],
    capabilities: {},
    // No debounce; diagnostics sent for every version even when unchanged (so each edit is
    // answered); timings logged; no idle full pass (it would run during the session).
    initializationOptions: {
      debounceMs: 0,
      verifyIdleMs: 0,
      logTimings: true,
      publishEveryVersion: true,
    },
  });
  const tInit = performance.now();
  await conn.sendNotification('initialized', {});
  const docs = new Map<string, Doc>();
  const open = async (abs: string) => {
    const doc = new Doc(abs, fs.readFileSync(abs, 'utf8'));
    docs.set(abs, doc);
    const first = wait(abs, null);
    const tOpen = performance.now();
    await conn.sendNotification('textDocument/didOpen', {
      textDocument: { uri: uri(abs), languageId: 'python', version: 1, text: doc.text },
    });
    await first;
    return { doc, tOpen, tFirst: performance.now() };
  };
  const opened = await open(big);
  // Edits start once the load is done (before it, each version gets its file-local findings).
  const counts = await loaded;
  const times = received.get(uri(big)) ?? [];
  let completeAt = (counts.get(uri(big)) ?? times.length) - 1;
  // The first set equal to that one was already complete (a restart that published the last
  // session's diagnostics sends the same set again for an edited document: publishEveryVersion).
  const sets = contents.get(uri(big)) ?? [];
  if (sets[completeAt] !== undefined) completeAt = sets.indexOf(sets[completeAt]);
  const tComplete = times[completeAt] ?? opened.tFirst;
  const deps = (await open(path.join(dir, 'app', 'deps.py'))).doc;
  // LSP_BENCH_KINDS=body (or exposure): replay only those edits (profiling one kind).
  const kinds = process.env.LSP_BENCH_KINDS?.split(',');
  const steps = startOnly
    ? []
    : script(opened.doc, deps).filter((s) => !kinds || kinds.includes(s.kind));
  // Replay: each edit waits for the diagnostics of its version.
  const replay = new Map<string, Doc>(
    [...docs.keys()].map((k) => [k, new Doc(k, fs.readFileSync(k, 'utf8'))]),
  );
  const rows = new Map<
    string,
    { ms: number[]; warm: number; server: number[]; publish: number[] }
  >();
  let i = 0;
  for (const step of steps) {
    const doc = replay.get(step.file) as Doc;
    doc.version++;
    const done = wait(step.file, doc.version);
    const t = performance.now();
    if (process.env.LSP_BENCH_TIMINGS)
      fs.appendFileSync(
        process.env.LSP_BENCH_TIMINGS,
        JSON.stringify({
          sentAt: performance.timeOrigin + t,
          kind: step.kind,
          change: step.change,
        }) + '\n',
      );
    await conn.sendNotification('textDocument/didChange', {
      textDocument: { uri: uri(step.file), version: doc.version },
      contentChanges: [step.change],
    });
    await done;
    const ms = performance.now() - t;
    if (process.env.LSP_BENCH_TIMINGS)
      fs.appendFileSync(
        process.env.LSP_BENCH_TIMINGS,
        JSON.stringify({ receivedAt: performance.timeOrigin + t + ms }) + '\n',
      );
    // The first edits compile the code paths (JIT): not counted.
    if (i++ < 8) continue;
    const row = rows.get(step.kind) ?? { ms: [], warm: 0, server: [], publish: [] };
    rows.set(step.kind, row);
    row.ms.push(ms);
    // The server logs its timing (with the document version) just after publishing.
    const id = `${uri(step.file)}#${doc.version}`;
    for (let k = 0; k < 100 && !timings.has(id); k++) await new Promise((r) => setTimeout(r, 2));
    const u = timings.get(id);
    if (u) {
      if (u.path === 'warm') {
        row.warm++;
        if (process.env.LSP_BENCH_DEBUG && step.kind === 'exposure')
          console.error('warm exposure edit', JSON.stringify(step.change));
      } else if (process.env.LSP_BENCH_DEBUG)
        console.error(step.kind, u.path, u.reason, JSON.stringify(step.change));
      row.server.push(u.flushMs);
      row.publish.push(u.flushMs + u.publishMs);
    }
  }
  let peakRssMb: number | null = null;
  try {
    const status = fs.readFileSync(`/proc/${proc.pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    if (m) peakRssMb = Math.round(Number(m[1]) / 1024);
  } catch {
    peakRssMb = null;
  }
  // A start without edits ends as a session does, once every file's diagnostics are out (the
  // server then keeps them for the next start).
  for (let k = 0; startOnly && !routesNotified && k < 300; k++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  await conn.sendRequest('shutdown');
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  await conn.sendNotification('exit');
  // A server that exits by itself writes its --cpu-prof profile; one that does not is killed.
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
  conn.dispose();
  proc.kill();
  const found = countLines(dir);
  return {
    label,
    ...found,
    initializeMs: tInit - t0,
    firstDiagnosticsMs: opened.tFirst - t0,
    completeDiagnosticsMs: tComplete - t0,
    afterOpenMs: opened.tFirst - opened.tOpen,
    afterOpenCompleteMs: tComplete - opened.tOpen,
    early: tComplete > opened.tFirst,
    rows: [...rows].map(([kind, r]) => ({
      kind,
      n: r.ms.length,
      p50: percentile(r.ms, 0.5),
      p95: percentile(r.ms, 0.95),
      max: Math.max(...r.ms),
      warm: r.warm / r.ms.length,
      server50: percentile(r.server, 0.5),
      server95: percentile(r.server, 0.95),
      publish50: percentile(r.publish, 0.5),
      publish95: percentile(r.publish, 0.95),
    })),
    peakRssMb,
  };
}

/** Python files and their lines under `dir` (as the benchmark tables report workspaces). */
export function countLines(dir: string): { files: number; lines: number } {
  let files = 0;
  let lines = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.py')) {
        files++;
        lines += fs.readFileSync(p, 'utf8').split('\n').length - 1;
      }
    }
  };
  walk(dir);
  return { files, lines };
}

/** VS Code client activation, as the code-server suite recorded it (test-output/vscode). */
function activationNote(): string {
  const file = path.join(__dirname, '..', 'test-output', 'vscode', 'results', 'result.json');
  try {
    const result = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      vscode?: string;
      tests: { notes?: string[] }[];
    };
    for (const t of result.tests)
      for (const n of t.notes ?? []) {
        const m = /activate\(\) took ([\d.]+) ms/.exec(n);
        if (m)
          return `VS Code client activation: ${m[1]} ms of extension-host time (code-server ${result.vscode ?? '?'} suite, ${path.relative(process.cwd(), file)}).`;
      }
    return `VS Code client activation: not recorded in ${path.relative(process.cwd(), file)}.`;
  } catch {
    return 'VS Code client activation: no code-server suite results (test-output/vscode/results/result.json); run `npm test -- vscode` to record them.';
  }
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '');

/**
 * The peer for keystroke latency, measured in the same run: Ruff-WASM (rules S and FAST)
 * checking the edited module once, which is what a linter that re-lints the document on every
 * change (as Ruff's own language server does) pays per keystroke. In a child process, so that
 * its WASM memory and garbage are not the benchmark client's; 5 checks to warm up, then 40.
 */
function ruffFileCheck(file: string): { p50: number; p95: number } | null {
  const out = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--ruff-file', file], {
    encoding: 'utf8',
  });
  const line = out.stdout?.trim().split('\n').pop();
  try {
    return line ? (JSON.parse(line) as { p50: number; p95: number }) : null;
  } catch {
    return null;
  }
}

function ruffFileCheckHere(file: string): void {
  const ws = loadRuff()();
  const text = fs.readFileSync(file, 'utf8');
  const ms: number[] = [];
  for (let i = 0; i < 45; i++) {
    const t = performance.now();
    ws.check(text);
    if (i >= 5) ms.push(performance.now() - t);
  }
  process.stdout.write(
    `${JSON.stringify({ p50: percentile(ms, 0.5), p95: percentile(ms, 0.95) })}\n`,
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--ruff-file') return ruffFileCheckHere(args[1]);
  let sizes = [10_000, 100_000];
  let baseline = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--sizes') sizes = args[++i].split(',').map(Number);
    else if (args[i] === '--baseline') baseline = true;
  }
  const os = await import('node:os');
  console.log(
    '### LSP latency: didChange → publishDiagnostics of the edited document (debounce off: `initializationOptions.debounceMs: 0`)',
  );
  console.log('');
  console.log(
    '| workspace | mode | edits | n | p50 ms | p95 ms | max ms | warm path | re-analysis p50 / p95 ms | + publishing p50 / p95 ms | ruff-wasm re-lint of the module p50 / p95 ms | lens / ruff p50, p95 |',
  );
  console.log('|' + ' --- |'.repeat(12));
  const starts: LatencyResult[] = [];
  for (const size of sizes) {
    const dir = path.join(os.tmpdir(), 'fastapi-lens-bench', `lsp-${size}`);
    const big = generateLatencyProject(dir, size);
    // A cache folder of its own, empty at first: the first start parses everything, the
    // restart after the session reads the facts cache, the one after that (nothing changed
    // since a start without edits) publishes the last session's diagnostics at once.
    const cacheDir = path.join(os.tmpdir(), 'fastapi-lens-bench', `cache-${size}`);
    fs.rmSync(cacheDir, { recursive: true, force: true });
    const modes: [string, NodeJS.ProcessEnv][] = [
      ['incremental', { FASTAPI_LENS_CACHE_DIR: cacheDir }],
    ];
    if (baseline)
      modes.push(['full re-run', { FASTAPI_LENS_WARM: '0', FASTAPI_LENS_CACHE_DIR: '' }]);
    for (const [mode, env] of modes) {
      const r = await measureServer(dir, big, mode, env);
      // Right after the session, so that both see the machine in the same state.
      const ruff = ruffFileCheck(big);
      if (mode === 'incremental') {
        starts.push({ ...r, label: 'first start' });
        const again = await measureServer(dir, big, mode, env, true);
        starts.push({ ...again, label: 'restart (facts cache)' });
        // That restart made no edits: its shutdown kept its diagnostics for the next start.
        const unchanged = await measureServer(dir, big, mode, env, true);
        starts.push({ ...unchanged, label: 'restart, nothing changed (last diagnostics)' });
      }
      for (const row of r.rows)
        console.log(
          `| ${r.lines.toLocaleString('en-US')} lines / ${r.files} files | ${mode} | ${row.kind} | ${row.n} | ${f1(row.p50)} | ${f1(row.p95)} | ${f1(row.max)} | ${Math.round(row.warm * 100)}% | ${f1(row.server50)} / ${f1(row.server95)} | ${f1(row.publish50)} / ${f1(row.publish95)} | ${ruff ? `${f1(ruff.p50)} / ${f1(ruff.p95)}` : 'not measured'} | ${ruff ? `${(row.p50 / ruff.p50).toFixed(2)}, ${(row.p95 / ruff.p95).toFixed(2)}` : ''} |`,
        );
    }
  }
  console.log('');
  console.log('### Start-up');
  console.log('');
  console.log(
    '| workspace | start | spawn → initialize result ms | spawn → first diagnostics of the opened file (file-local) ms | spawn → its complete diagnostics ms | didOpen → first / complete ms | server peak RSS MB |',
  );
  console.log('|' + ' --- |'.repeat(7));
  for (const r of starts)
    console.log(
      `| ${r.lines.toLocaleString('en-US')} lines / ${r.files} files | ${r.label} | ${f1(r.initializeMs)} | ${r.early ? f1(r.firstDiagnosticsMs) : 'none before the complete set'} | ${f1(r.completeDiagnosticsMs)} | ${r.early ? f1(r.afterOpenMs) : '–'} / ${f1(r.afterOpenCompleteMs)} | ${r.peakRssMb ?? ''} |`,
    );
  console.log('');
  console.log(activationNote());
}

if (require.main === module) void main();
