/**
 * Soak: a long scripted editing session against the built language server, to show that its
 * memory stays flat and its latency stays within the performance goals over time (issue 6,
 * item 5). Not run in CI; results go to docs/RELIABILITY.md ("Soak").
 *
 *   npm run soak -- [--minutes 20] [--lines 100000] [--seed N] [--out test-output/soak.json]
 *                   [--sample-seconds 10] [--stall-ms 30000] [--server dist/server.js] [--keep]
 *                   [--live-heap]
 *
 * It generates a workspace under the system temporary folder (bench/lsp-latency.ts: the
 * generated project plus a 2,000-line route module), copies the built server there (so that a
 * rebuild of dist/ during the run does not change the server under test), starts it over stdio
 * as an editor would and, with a fixed seed, replays a varied edit mix for the whole duration
 * while opening and closing documents across many files. Every edit waits for the
 * `publishDiagnostics` of its version; no answer within --stall-ms is recorded as a stall. Every
 * --sample-seconds it records the server's RSS (VmRSS / VmHWM from /proc), CPU, edits, interval
 * latency per edit kind, stalls, errors and the machine's load average. At the end it prints a
 * per-minute table and a summary and writes the raw JSON to --out.
 *
 * --live-heap tells a leak from a heap that is merely large: the server runs with `--expose-gc`
 * and a preload that forces a full garbage collection every --sample-seconds and records the
 * live heap (`process.memoryUsage()`). The forced collections pause the server, so latency is
 * not comparable with a run without it.
 *
 * Exit code 1 when the server crashed, answered an error (or logged one), stalled, or its RSS
 * grew without bound (last-minute mean > first-minute mean × 1.5 + 50 MB).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from 'vscode-jsonrpc/node';
import { countLines, Doc, generateLatencyProject, percentile } from '../bench/lsp-latency';
import { rng, type Rng } from './fuzz';

const ROOT = path.resolve(__dirname, '..');

/** An LSP incremental change, as bench/lsp-latency.ts' `Doc.edit` makes it. */
type Change = ReturnType<Doc['edit']>;

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  minutes: number;
  lines: number;
  seed: number;
  out: string;
  sampleSeconds: number;
  stallMs: number;
  server: string | null;
  keep: boolean;
  liveHeap: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    minutes: 20,
    lines: 100_000,
    seed: 20251127,
    out: path.join(ROOT, 'test-output', 'soak.json'),
    sampleSeconds: 10,
    stallMs: 30_000,
    server: null,
    keep: false,
    liveHeap: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--minutes') o.minutes = num();
    else if (a === '--lines') o.lines = num();
    else if (a === '--seed') o.seed = num();
    else if (a === '--sample-seconds') o.sampleSeconds = num();
    else if (a === '--stall-ms') o.stallMs = num();
    else if (a === '--out') o.out = path.resolve(argv[++i]);
    else if (a === '--server') o.server = path.resolve(argv[++i]);
    else if (a === '--keep') o.keep = true;
    else if (a === '--live-heap') o.liveHeap = true;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Statistics

interface Stats {
  n: number;
  p50: number;
  p95: number;
  max: number;
}

function stats(xs: number[]): Stats {
  return {
    n: xs.length,
    p50: percentile(xs, 0.5),
    p95: percentile(xs, 0.95),
    max: xs.length ? Math.max(...xs) : NaN,
  };
}

/** Least-squares slope of y over x. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '–');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');

// ---------------------------------------------------------------------------------------------
// The server process: /proc readings

/** VmRSS and VmHWM of a process in MB, and its CPU time in seconds (Linux only). */
function procReading(pid: number): { rssMb: number; hwmMb: number; cpuS: number } | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
    // utime and stime are fields 14 and 15, after the parenthesised command name.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024, cpuS: ticks / 100 };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Records

type Kind = 'body' | 'exposure' | 'other';

interface EditRecord {
  /** Seconds since the edit session started. */
  t: number;
  op: string;
  kind: Kind;
  file: string;
  /** Lines of the document after the edit. */
  lines: number;
  /** The edited line after the edit (first change), to tell what took which path. */
  text: string;
  ms: number;
  stalled: boolean;
  /** The server's own account (`logTimings`): warm or cold path, re-analysis and publishing. */
  path?: string;
  reason?: string | null;
  flushMs?: number;
  publishMs?: number;
}

interface EventRecord {
  t: number;
  /** open, close, save, create, delete, hover, codeAction, codeLens, routes, idle. */
  what: string;
  file: string;
  ms: number;
  stalled: boolean;
  note?: string;
}

interface Sample {
  t: number;
  rssMb: number;
  hwmMb: number;
  /** Server CPU over the interval, % of one core. */
  cpuPct: number;
  edits: number;
  events: number;
  stalls: number;
  errors: number;
  openDocs: number;
  load: [number, number, number];
  interval: Record<Kind, Stats>;
}

interface Timing {
  uri: string;
  version: number | null;
  path: string;
  reason: string | null;
  flushMs: number;
  publishMs: number;
}

/** The server's account of an edit, on the edit's record (whichever of the two came first). */
function withTiming(rec: EditRecord, t: Timing): void {
  Object.assign(rec, {
    path: t.path,
    reason: t.reason,
    flushMs: t.flushMs,
    publishMs: t.publishMs,
  });
}

interface LspPosition {
  line: number;
  character: number;
}
interface LspRange {
  start: LspPosition;
  end: LspPosition;
}
interface LspDiagnostic {
  range: LspRange;
  code?: string | number;
  message: string;
}
interface TextEdit {
  range: LspRange;
  newText: string;
}
interface CodeAction {
  title: string;
  kind?: string;
  edit?: { changes?: Record<string, TextEdit[]>; documentChanges?: unknown[] };
}

// ---------------------------------------------------------------------------------------------
// Documents

type Role = 'routes' | 'service' | 'deps' | 'main' | 'plain';

interface OpenDoc {
  doc: Doc;
  uri: string;
  rel: string;
  role: Role;
  /** Text before each recent operation (the editor's undo stack, one entry per operation). */
  undo: { text: string; op: string; kind: Kind }[];
  /** Text on disk. */
  disk: string;
}

function roleOf(rel: string): Role {
  const base = path.basename(rel);
  if (base === 'routes.py') return 'routes';
  if (base === 'service.py') return 'service';
  if (base === 'deps.py') return 'deps';
  if (base === 'main.py') return 'main';
  return 'plain';
}

/** Offset of the newline ending the line containing `offset` (or the text's end). */
const lineEnd = (text: string, offset: number) => {
  const i = text.indexOf('\n', offset);
  return i < 0 ? text.length : i;
};
const lineCount = (text: string) => text.split('\n').length - 1;

/** Function definitions with a body: where a new first body line goes, and its indentation. */
function defsOf(text: string): { at: number; indent: string; name: string }[] {
  const out: { at: number; indent: string; name: string }[] = [];
  for (const m of text.matchAll(/^( *)(?:async )?def (\w+)\(.*\):[ \t]*$/gm)) {
    const end = (m.index as number) + m[0].length;
    const next = text.slice(end + 1, lineEnd(text, end + 1));
    const indent = /^ */.exec(next)?.[0] ?? '';
    if (indent.length > m[1].length) out.push({ at: end, indent, name: m[2] });
  }
  return out;
}

/**
 * Simple statements inside function bodies that another statement of the same block follows
 * (commenting one out keeps the file valid), as offsets of their first character. Returns and
 * raises are left alone: they decide whether a function rejects callers.
 */
function bodyStatements(text: string): number[] {
  const out: number[] = [];
  for (const def of defsOf(text)) {
    const lines: { at: number; text: string }[] = [];
    for (let at = def.at + 1; at < text.length;) {
      const end = lineEnd(text, at);
      const line = text.slice(at, end);
      if (line.trim() !== '' && !line.startsWith(def.indent)) break;
      lines.push({ at, text: line });
      at = end + 1;
    }
    for (let i = 0; i + 1 < lines.length; i++) {
      const indent = /^ */.exec(lines[i].text)?.[0] ?? '';
      const rest = lines[i].text.slice(indent.length);
      if (!rest || /^(#|return\b|raise\b)/.test(rest) || rest.trimEnd().endsWith(':')) continue;
      const next = lines[i + 1].text;
      if (next.startsWith(indent) && /\S/.test(next[indent.length] ?? ''))
        out.push(lines[i].at + indent.length);
    }
  }
  return out;
}

/** Statements typed into function bodies (valid Python once complete). */
const STATEMENTS = [
  'total_value = compute_total(item_id, limit=10)',
  'logger.info("handling request %s", request_id)',
  'values = [v * 2 for v in range(limit)]',
  'cache_key = f"{prefix}:{item_id}"',
  'audit.record(user, "read", {"id": item_id})',
  'query = "SELECT * FROM items WHERE name = \'" + name + "\'"',
  'if not allowed: return None',
  'result = helpers.normalise(payload, strict=True)',
];

const PAIRS: Record<string, string> = { '(': ')', '[': ']', '{': '}', '"': '"' };

const BODY_PASTE = [
  '# pasted from another handler',
  'rows = service.search(db, q)',
  'count = len(rows)',
];

const ROUTE_DEP = ', dependencies=[Depends(get_current_user)]';

function newRoute(n: number): string {
  return (
    `\n@router.post("/soak${n}")\n` +
    `def soak_route_${n}(payload: dict, db=Depends(get_db)):\n` +
    '    return service.create(db, payload.get("name"), "")\n'
  );
}

function newFileText(n: number): string {
  return [
    'import subprocess',
    '',
    'from fastapi import APIRouter',
    '',
    'router = APIRouter()',
    '',
    '',
    `@router.post("/soak-new${n}")`,
    `def soak_new_${n}(cmd: str):`,
    '    out = subprocess.run(cmd, shell=True, capture_output=True)',
    '    return {"code": out.returncode}',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The session

class Soak {
  readonly edits: EditRecord[] = [];
  readonly events: EventRecord[] = [];
  readonly samples: Sample[] = [];
  readonly errors: string[] = [];
  readonly stalls: string[] = [];
  readonly counts = new Map<string, number>();
  readonly opened = new Set<string>();
  readonly open = new Map<string, OpenDoc>();
  /** Latest diagnostics per URI (the client's Problems panel). */
  readonly diagnostics = new Map<string, LspDiagnostic[]>();
  publishes = 0;
  routesChanged = 0;
  warnings = 0;
  crashed: string | null = null;
  t0 = 0;
  stderr = '';
  startup: Record<string, unknown> = {};
  routesCount: number | null = null;

  private waiters: {
    uri: string;
    test: (p: { version?: number; diagnostics: LspDiagnostic[] }) => boolean;
    done: (ok: boolean) => void;
  }[] = [];
  private timings = new Map<string, Timing>();
  private pendingTimings = new Map<string, EditRecord>();
  private shuttingDown = false;
  private consecutiveStalls = 0;
  private newFile: { abs: string; n: number } | null = null;
  private routeSerial = 0;
  private readonly origin = new Map<string, string>();
  private poolOrder: string[] = [];

  constructor(
    readonly o: Options,
    readonly r: Rng,
    readonly ws: string,
    readonly pool: string[],
    readonly pinned: string,
    readonly conn: ReturnType<typeof createMessageConnection>,
    readonly pid: number,
  ) {
    for (const abs of pool) this.origin.set(abs, fs.readFileSync(abs, 'utf8'));
  }

  now(): number {
    return (performance.now() - this.t0) / 1000;
  }

  count(what: string): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
  }

  // ---- server messages ----------------------------------------------------------------------

  listen(): void {
    const c = this.conn;
    c.onNotification(
      'textDocument/publishDiagnostics',
      (p: { uri: string; version?: number; diagnostics: LspDiagnostic[] }) => {
        this.publishes++;
        if (p.diagnostics.length) this.diagnostics.set(p.uri, p.diagnostics);
        else this.diagnostics.delete(p.uri);
        this.waiters = this.waiters.filter((w) => {
          if (w.uri !== p.uri || !w.test(p)) return true;
          w.done(true);
          return false;
        });
      },
    );
    c.onNotification('window/logMessage', (p: { type: number; message: string }) => {
      const m = /^timing (.*)$/.exec(p.message);
      if (m) {
        const t = JSON.parse(m[1]) as Timing;
        const key = `${t.uri}#${t.version}`;
        const rec = this.pendingTimings.get(key);
        if (rec) {
          this.pendingTimings.delete(key);
          withTiming(rec, t);
        } else {
          this.timings.set(key, t);
          // Refreshes that are not edits (opens, closes, watched files) are never claimed.
          if (this.timings.size > 200) this.timings.delete(this.timings.keys().next().value!);
        }
      } else if (/^load /.test(p.message)) {
        (this.startup.loads as unknown[]) ??= [];
        (this.startup.loads as unknown[]).push({
          t: this.now(),
          ...JSON.parse(p.message.slice(5)),
        });
      } else if (p.type === 1) this.errors.push(`server logged an error: ${p.message}`);
      else if (p.type === 2) this.warnings++;
    });
    c.onNotification('fastapiLens/routesChanged', () => {
      this.routesChanged++;
    });
    c.onNotification('$/progress', () => undefined);
    c.onRequest('workspace/configuration', (p: { items: unknown[] }) => p.items.map(() => null));
    c.onRequest('workspace/codeLens/refresh', () => null);
    c.onRequest('client/registerCapability', () => null);
    c.onRequest('window/workDoneProgress/create', () => null);
    c.onRequest((method: string) => {
      this.errors.push(`unexpected request from the server: ${method}`);
      return null;
    });
    c.onError(([err]) => this.errors.push(`connection error: ${err.message}`));
    c.listen();
  }

  serverExited(code: number | null, signal: string | null): void {
    if (this.shuttingDown) return;
    this.crashed = `server exited (code ${code}, signal ${signal}) at ${f1(this.now())} s\n${this.stderr.slice(-4000)}`;
    for (const w of this.waiters) w.done(false);
    this.waiters = [];
  }

  /** Resolves true when a matching publishDiagnostics arrives, false after `ms` (a stall). */
  waitDiagnostics(
    uri: string,
    test: (p: { version?: number; diagnostics: LspDiagnostic[] }) => boolean,
    ms = this.o.stallMs,
  ): Promise<boolean> {
    if (this.crashed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w = {
        uri,
        test,
        done: (ok: boolean) => {
          clearTimeout(timer);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(false);
      }, ms);
      this.waiters.push(w);
    });
  }

  stalled(what: string): void {
    this.stalls.push(`${f1(this.now())} s: ${what}`);
    this.consecutiveStalls++;
  }

  get fatal(): boolean {
    return this.crashed !== null || this.consecutiveStalls >= 3;
  }

  // ---- requests -----------------------------------------------------------------------------

  async request<T>(what: string, method: string, params: unknown, file: string): Promise<T | null> {
    const t = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.o.stallMs);
    });
    let result: T | null = null;
    let stalled = false;
    try {
      const r = await Promise.race([this.conn.sendRequest<T>(method, params), timeout]);
      if (r === 'timeout') {
        stalled = true;
        this.stalled(`${method} on ${file}: no answer`);
      } else {
        result = r;
        this.consecutiveStalls = 0;
      }
    } catch (err) {
      this.errors.push(`${method} on ${file}: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    this.events.push({ t: this.now(), what, file, ms: performance.now() - t, stalled });
    this.count(what);
    return result;
  }

  // ---- edits --------------------------------------------------------------------------------

  /** Send changes already applied to `d.doc` as one didChange; wait for its diagnostics. */
  async send(d: OpenDoc, changes: Change[], op: string, kind: Kind): Promise<void> {
    const version = ++d.doc.version;
    const got = this.waitDiagnostics(d.uri, (p) => p.version === version);
    const t = performance.now();
    await this.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri: d.uri, version },
      contentChanges: changes,
    });
    const ok = await got;
    const ms = performance.now() - t;
    const rec: EditRecord = {
      t: this.now(),
      op,
      kind,
      file: d.rel,
      lines: lineCount(d.doc.text),
      text:
        d.doc.text
          .split('\n', changes[0].range.start.line + 1)
          .pop()
          ?.slice(0, 100) ?? '',
      ms,
      stalled: !ok,
    };
    this.edits.push(rec);
    this.count(`edit:${op}`);
    if (!ok) {
      this.stalled(`${op} on ${d.rel} v${version}: no diagnostics`);
      return;
    }
    this.consecutiveStalls = 0;
    const key = `${d.uri}#${version}`;
    const timing = this.timings.get(key);
    if (timing) {
      this.timings.delete(key);
      withTiming(rec, timing);
    } else {
      this.pendingTimings.set(key, rec);
      if (this.pendingTimings.size > 200)
        this.pendingTimings.delete(this.pendingTimings.keys().next().value!);
    }
  }

  /** One edit: replace [from, to) with `text`. */
  async edit(d: OpenDoc, from: number, to: number, text: string, op: string, kind: Kind) {
    await this.send(d, [d.doc.edit(from, to, text)], op, kind);
  }

  /** Replace the whole text by `target` as one change (undo, revert): the differing middle. */
  async replaceAll(d: OpenDoc, target: string, op: string, kind: Kind): Promise<void> {
    const a = d.doc.text;
    const max = Math.min(a.length, target.length);
    let p = 0;
    while (p < max && a.charCodeAt(p) === target.charCodeAt(p)) p++;
    let s = 0;
    while (
      s < max - p &&
      a.charCodeAt(a.length - 1 - s) === target.charCodeAt(target.length - 1 - s)
    )
      s++;
    if (p === a.length && p === target.length) return;
    await this.edit(d, p, a.length - s, target.slice(p, target.length - s), op, kind);
  }

  snapshot(d: OpenDoc, op: string, kind: Kind): void {
    d.undo.push({ text: d.doc.text, op, kind });
    if (d.undo.length > 8) d.undo.shift();
  }

  // ---- documents ----------------------------------------------------------------------------

  uriOf(abs: string): string {
    return pathToFileURL(abs).href;
  }

  async openDoc(abs: string): Promise<void> {
    const text = fs.readFileSync(abs, 'utf8');
    const rel = path.relative(this.ws, abs);
    const d: OpenDoc = {
      doc: new Doc(abs, text, 1),
      uri: this.uriOf(abs),
      rel,
      role: roleOf(rel),
      undo: [],
      disk: text,
    };
    this.open.set(abs, d);
    this.opened.add(abs);
    const got = this.waitDiagnostics(d.uri, (p) => p.version === 1);
    const t = performance.now();
    await this.conn.sendNotification('textDocument/didOpen', {
      textDocument: { uri: d.uri, languageId: 'python', version: 1, text },
    });
    const ok = await got;
    this.events.push({
      t: this.now(),
      what: 'open',
      file: rel,
      ms: performance.now() - t,
      stalled: !ok,
    });
    this.count('open');
    if (!ok) this.stalled(`open ${rel}: no diagnostics`);
    else this.consecutiveStalls = 0;
    // What an editor asks for a newly shown document.
    await this.request('codeLens', 'textDocument/codeLens', { textDocument: { uri: d.uri } }, rel);
  }

  async save(d: OpenDoc): Promise<void> {
    const t = performance.now();
    fs.writeFileSync(d.doc.file, d.doc.text);
    d.disk = d.doc.text;
    await this.conn.sendNotification('textDocument/didSave', { textDocument: { uri: d.uri } });
    await this.conn.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [{ uri: d.uri, type: 2 }],
    });
    this.events.push({
      t: this.now(),
      what: 'save',
      file: d.rel,
      ms: performance.now() - t,
      stalled: false,
    });
    this.count('save');
  }

  async closeDoc(d: OpenDoc): Promise<void> {
    const unsaved = d.doc.text !== d.disk;
    if (unsaved && this.r.chance(0.5)) await this.save(d);
    const t = performance.now();
    await this.conn.sendNotification('textDocument/didClose', { textDocument: { uri: d.uri } });
    this.open.delete(d.doc.file);
    // The server goes back to the text on disk; code lenses of the pinned document (they flush
    // pending changes and need the analysis) tell when that is done.
    const pinned = this.open.get(this.pinned) as OpenDoc;
    await this.request(
      'codeLens after close',
      'textDocument/codeLens',
      { textDocument: { uri: pinned.uri } },
      pinned.rel,
    );
    this.events.push({
      t: this.now(),
      what: 'close',
      file: d.rel,
      ms: performance.now() - t,
      stalled: false,
      note: unsaved ? (d.disk === d.doc.text ? 'saved' : 'discarded') : 'clean',
    });
    this.count('close');
  }

  /** Close one document (not the pinned one) and open the next of the pool. */
  async rotate(): Promise<void> {
    const closable = [...this.open.values()].filter((d) => d.doc.file !== this.pinned);
    if (closable.length >= 5 || (closable.length > 0 && this.r.chance(0.3)))
      await this.closeDoc(this.r.pick(closable));
    if (this.poolOrder.length === 0)
      this.poolOrder = this.pool.filter((p) => p !== this.pinned).sort(() => this.r.next() - 0.5);
    const next = this.poolOrder.find((p) => !this.open.has(p));
    if (next) {
      this.poolOrder = this.poolOrder.filter((p) => p !== next);
      await this.openDoc(next);
    }
  }

  // ---- operations ---------------------------------------------------------------------------

  /** A document with one of the roles, the pinned 2,000-line module half the time if it fits. */
  docFor(roles: Role[]): OpenDoc | null {
    const fits = [...this.open.values()].filter((d) => roles.includes(d.role));
    if (fits.length === 0) return null;
    const pinned = fits.find((d) => d.doc.file === this.pinned);
    if (pinned && this.r.chance(0.5)) return pinned;
    return this.r.pick(fits);
  }

  /** Type a statement into a function body, keystroke by keystroke (brackets auto-closed). */
  async typeBody(d: OpenDoc): Promise<boolean> {
    const defs = defsOf(d.doc.text);
    if (defs.length === 0) return false;
    const def = this.r.pick(defs);
    this.snapshot(d, 'type', 'body');
    let at = def.at;
    await this.edit(d, at, at, `\n${def.indent}`, 'type', 'body');
    at += 1 + def.indent.length;
    const statement = this.r.pick(STATEMENTS);
    const typo = this.r.chance(0.3) ? this.r.int(statement.length) : -1;
    let autoClosed = 0;
    for (let i = 0; i < statement.length && !this.fatal; i++) {
      const ch = statement[i];
      if (i === typo) {
        await this.edit(d, at, at, 'x', 'type', 'body');
        await this.edit(d, at, at + 1, '', 'type', 'body');
      }
      if (autoClosed > 0 && d.doc.text[at] === ch && ')]}"'.includes(ch)) {
        at++; // typed over the closing character the editor inserted
        autoClosed--;
        continue;
      }
      const pair = PAIRS[ch];
      await this.edit(d, at, at, pair ? ch + pair : ch, 'type', 'body');
      if (pair) autoClosed++;
      at++;
    }
    return true;
  }

  /** Comment out a body line that another statement of the same block follows. */
  async commentLine(d: OpenDoc): Promise<boolean> {
    const lines = bodyStatements(d.doc.text);
    if (lines.length === 0) return false;
    const at = this.r.pick(lines);
    this.snapshot(d, 'comment', 'body');
    await this.edit(d, at, at, '# ', 'comment', 'body');
    return true;
  }

  async pasteIntoBody(d: OpenDoc): Promise<boolean> {
    const defs = defsOf(d.doc.text);
    if (defs.length === 0) return false;
    const def = this.r.pick(defs);
    this.snapshot(d, 'paste-body', 'body');
    const block = BODY_PASTE.map((l) => `\n${def.indent}${l}`).join('');
    await this.edit(d, def.at, def.at, block, 'paste-body', 'body');
    return true;
  }

  /** A dependency added to a route without one, or removed from one that has it. */
  async routeDependency(d: OpenDoc): Promise<boolean> {
    const text = d.doc.text;
    if (this.r.chance(0.5)) {
      const has = [
        ...text.matchAll(/, dependencies=\[Depends\(get_current_\w+\)\]\)\n(?:async )?def /g),
      ];
      if (has.length) {
        const m = this.r.pick(has);
        const end = (m.index as number) + m[0].indexOf(')\n');
        this.snapshot(d, 'route-dep-remove', 'exposure');
        await this.edit(d, m.index as number, end, '', 'route-dep-remove', 'exposure');
        return true;
      }
    }
    const plain = [...text.matchAll(/^@router\.\w+\("[^"]*"\)$/gm)];
    if (plain.length === 0) return false;
    const m = this.r.pick(plain);
    const at = (m.index as number) + m[0].length - 1;
    this.snapshot(d, 'route-dep-add', 'exposure');
    await this.edit(d, at, at, ROUTE_DEP, 'route-dep-add', 'exposure');
    return true;
  }

  async routerDependency(d: OpenDoc): Promise<boolean> {
    const text = d.doc.text;
    const m = /^router = APIRouter\((.*)\)$/m.exec(text);
    if (!m) return false;
    const end = m.index + m[0].length - 1;
    this.snapshot(d, 'router-dep', 'exposure');
    const has = m[1].lastIndexOf(ROUTE_DEP);
    if (has >= 0) {
      const from = m.index + 'router = APIRouter('.length + has;
      await this.edit(d, from, from + ROUTE_DEP.length, '', 'router-dep', 'exposure');
    } else await this.edit(d, end, end, ROUTE_DEP, 'router-dep', 'exposure');
    return true;
  }

  /** deps.py: the superuser check turned off and on (routes of every module change). */
  async toggleSuperuser(d: OpenDoc): Promise<boolean> {
    const on = 'if not user.get("is_superuser"):';
    const off = 'if False:';
    const text = d.doc.text;
    const at = text.indexOf(on);
    this.snapshot(d, 'superuser-check', 'exposure');
    if (at >= 0) await this.edit(d, at, at + on.length, off, 'superuser-check', 'exposure');
    else {
      const at2 = text.indexOf(off);
      if (at2 < 0) return false;
      await this.edit(d, at2, at2 + off.length, on, 'superuser-check', 'exposure');
    }
    return true;
  }

  /** Routes starting positions (`@router.` at the start of a line). */
  routeStarts(text: string): number[] {
    return [...text.matchAll(/^@router\./gm)].map((m) => m.index as number);
  }

  async addRoute(d: OpenDoc): Promise<boolean> {
    const starts = this.routeStarts(d.doc.text);
    if (starts.length === 0) return false;
    const at = this.r.pick(starts);
    this.snapshot(d, 'add-route', 'exposure');
    const block = newRoute(this.routeSerial++).slice(1) + '\n';
    await this.edit(d, at, at, block, 'add-route', 'exposure');
    return true;
  }

  async removeRoute(d: OpenDoc): Promise<boolean> {
    const starts = this.routeStarts(d.doc.text);
    if (starts.length < 3) return false;
    const i = this.r.int(starts.length - 1);
    this.snapshot(d, 'remove-route', 'exposure');
    await this.edit(d, starts[i], starts[i + 1], '', 'remove-route', 'exposure');
    return true;
  }

  /** Paste about 150 lines of routes copied from the 2,000-line module at the end of the file. */
  async pasteRoutes(d: OpenDoc): Promise<boolean> {
    const source = this.origin.get(this.pinned) as string;
    const starts = this.routeStarts(source);
    const i = this.r.int(starts.length - 30);
    const block = source.slice(starts[i], starts[i + 25]);
    this.snapshot(d, 'paste-routes', 'exposure');
    const end = d.doc.text.length;
    await this.edit(d, end, end, `\n${block}`, 'paste-routes', 'exposure');
    return true;
  }

  /** Paste about 100 lines of methods copied from the service's helpers at the class's end. */
  async pasteHelpers(d: OpenDoc): Promise<boolean> {
    const text = d.doc.text;
    const first = text.indexOf('\n    def helper_0(');
    if (first < 0) return false;
    const block = text
      .slice(first, first + 3000)
      .replace(/helper_(\d+)/g, (_, n: string) => `pasted_${n}_${this.routeSerial}`);
    this.routeSerial++;
    const cut = block.lastIndexOf('\n\n    def ');
    this.snapshot(d, 'paste-helpers', 'other');
    const end = text.length - 1;
    await this.edit(d, end, end, block.slice(0, cut), 'paste-helpers', 'other');
    return true;
  }

  /** Remove a name used by routes from the `from app.deps import ...` line, or put it back. */
  async importToggle(d: OpenDoc): Promise<boolean> {
    const m = /^from app\.deps import (.*)$/m.exec(d.doc.text);
    if (!m) return false;
    const names = m[1].split(', ');
    const from = m.index + 'from app.deps import '.length;
    let next: string[];
    if (names.includes('get_current_superuser'))
      next = names.filter((n) => n !== 'get_current_superuser');
    else next = [...names, 'get_current_superuser'].sort();
    this.snapshot(d, 'import-used', 'exposure');
    await this.edit(d, from, from + m[1].length, next.join(', '), 'import-used', 'exposure');
    return true;
  }

  async addImport(d: OpenDoc): Promise<boolean> {
    this.snapshot(d, 'import-unused', 'other');
    const name = this.r.pick(['logging', 'json', 'os', 'time', 'hashlib']);
    await this.edit(d, 0, 0, `import ${name}\n`, 'import-unused', 'other');
    return true;
  }

  /** main.py: an include_router line commented out (its routes disappear), or restored. */
  async toggleInclude(d: OpenDoc): Promise<boolean> {
    const lines = [...d.doc.text.matchAll(/^(# )?app\.include_router\(/gm)];
    if (lines.length === 0) return false;
    const m = this.r.pick(lines);
    const at = m.index as number;
    this.snapshot(d, 'include', 'exposure');
    if (m[1]) await this.edit(d, at, at + 2, '', 'include', 'exposure');
    else await this.edit(d, at, at, '# ', 'include', 'exposure');
    return true;
  }

  /** A syntax error (a call's closing parenthesis, or a def's colon, deleted), then its fix. */
  async syntaxError(d: OpenDoc): Promise<boolean> {
    const text = d.doc.text;
    const inDef = this.r.chance(0.5);
    const candidates = inDef
      ? [...text.matchAll(/^ *(?:async )?def \w+\(.*\)(:)$/gm)]
      : [...text.matchAll(/^ {4,}\S.*\w\(.*(\))$/gm)];
    if (candidates.length === 0) return false;
    const m = this.r.pick(candidates);
    const at = (m.index as number) + m[0].length - 1;
    const ch = m[1];
    const op = inDef ? 'syntax-def' : 'syntax-call';
    await this.edit(d, at, at + 1, '', op, 'other');
    if (this.fatal) return true;
    await this.edit(d, at, at, ch, `${op}-fix`, 'other');
    return true;
  }

  async undo(d: OpenDoc): Promise<boolean> {
    const last = d.undo.pop();
    if (!last) return false;
    await this.replaceAll(d, last.text, `undo-${last.op}`, last.kind);
    return true;
  }

  /** Back to the generated text when the document grew too much (keeps sizes bounded). */
  async revertIfGrown(d: OpenDoc): Promise<boolean> {
    const origin = this.origin.get(d.doc.file) as string;
    if (d.doc.text.length <= origin.length * 1.3 + 2000) return false;
    d.undo = [];
    await this.replaceAll(d, origin, 'revert', 'other');
    return true;
  }

  async hover(d: OpenDoc): Promise<boolean> {
    const text = d.doc.text;
    const spots = [...text.matchAll(/^@router\.|Depends\(\w/gm)];
    if (spots.length === 0) return false;
    const m = this.r.pick(spots);
    const offset = (m.index as number) + (m[0].startsWith('@') ? 2 : 'Depends('.length);
    await this.request(
      'hover',
      'textDocument/hover',
      {
        textDocument: { uri: d.uri },
        position: d.doc.pos(offset),
      },
      d.rel,
    );
    return true;
  }

  /** Code actions for a diagnostic of the document; sometimes the quick fix is applied. */
  async codeAction(d: OpenDoc): Promise<boolean> {
    const diags = this.diagnostics.get(d.uri) ?? [];
    if (diags.length === 0) return false;
    const diag = this.r.pick(diags);
    const actions = await this.request<CodeAction[]>(
      'codeAction',
      'textDocument/codeAction',
      { textDocument: { uri: d.uri }, range: diag.range, context: { diagnostics: [diag] } },
      d.rel,
    );
    if (!actions || !this.r.chance(0.3)) return true;
    // Apply a fix whose edits are all in this document, as the editor would.
    const fix = actions.find(
      (a) =>
        a.kind === 'quickfix' &&
        a.edit?.changes &&
        Object.keys(a.edit.changes).every((u) => u === d.uri),
    );
    const edits = fix?.edit?.changes?.[d.uri];
    if (!edits || edits.length === 0) return true;
    this.snapshot(d, 'quick-fix', 'exposure');
    const offset = (p: LspPosition) => {
      let at = 0;
      for (let line = 0; line < p.line; line++) at = d.doc.text.indexOf('\n', at) + 1;
      return at + p.character;
    };
    // LSP text edits refer to the text before any of them: applied from the end.
    const sorted = [...edits].sort(
      (a, b) =>
        offset(b.range.start) - offset(a.range.start) || offset(b.range.end) - offset(a.range.end),
    );
    const changes = sorted.map((e) =>
      d.doc.edit(offset(e.range.start), offset(e.range.end), e.newText),
    );
    await this.send(d, changes, 'quick-fix', 'exposure');
    return true;
  }

  async codeLens(d: OpenDoc): Promise<boolean> {
    await this.request(
      'codeLens',
      'textDocument/codeLens',
      { textDocument: { uri: d.uri } },
      d.rel,
    );
    return true;
  }

  async routes(): Promise<boolean> {
    const r = await this.request<{ routes: unknown[] }>('routes', 'fastapiLens/routes', {}, '');
    if (r && this.routesCount === null) this.routesCount = r.routes.length;
    return true;
  }

  /** A file created on disk (the watcher tells the server), or the one created before deleted. */
  async createOrDelete(): Promise<boolean> {
    const t = performance.now();
    if (this.newFile) {
      const { abs } = this.newFile;
      this.newFile = null;
      fs.rmSync(abs);
      const uri = this.uriOf(abs);
      const got = this.waitDiagnostics(uri, (p) => p.diagnostics.length === 0);
      await this.conn.sendNotification('workspace/didChangeWatchedFiles', {
        changes: [{ uri, type: 3 }],
      });
      const ok = await got;
      this.events.push({
        t: this.now(),
        what: 'delete',
        file: path.relative(this.ws, abs),
        ms: performance.now() - t,
        stalled: !ok,
      });
      this.count('delete');
      if (!ok) this.stalled(`delete ${abs}: its diagnostics were not cleared`);
      else this.consecutiveStalls = 0;
      return true;
    }
    const n = this.routeSerial++;
    const abs = path.join(this.ws, 'app', `soak_new_${n}.py`);
    fs.writeFileSync(abs, newFileText(n));
    this.newFile = { abs, n };
    const uri = this.uriOf(abs);
    const got = this.waitDiagnostics(uri, (p) => p.diagnostics.length > 0);
    await this.conn.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [{ uri, type: 1 }],
    });
    const ok = await got;
    this.events.push({
      t: this.now(),
      what: 'create',
      file: path.relative(this.ws, abs),
      ms: performance.now() - t,
      stalled: !ok,
    });
    this.count('create');
    if (!ok) this.stalled(`create ${abs}: no diagnostics for the new file`);
    else this.consecutiveStalls = 0;
    return true;
  }

  async idle(): Promise<boolean> {
    const ms = 1000 + this.r.int(2000);
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.events.push({ t: this.now(), what: 'idle', file: '', ms, stalled: false });
    this.count('idle');
    return true;
  }

  /** One operation of the mix, chosen by weight; false when it found nothing to do. */
  async step(): Promise<boolean> {
    const ops: [number, () => Promise<boolean>][] = [
      [30, () => this.withDoc(['routes', 'service', 'deps', 'plain'], (d) => this.typeBody(d))],
      [6, () => this.withDoc(['routes', 'service', 'plain'], (d) => this.commentLine(d))],
      [4, () => this.withDoc(['routes', 'service'], (d) => this.pasteIntoBody(d))],
      [8, () => this.withDoc(['routes'], (d) => this.routeDependency(d))],
      [3, () => this.withDoc(['routes'], (d) => this.routerDependency(d))],
      [3, () => this.withDoc(['deps'], (d) => this.toggleSuperuser(d))],
      [4, () => this.withDoc(['routes'], (d) => this.addRoute(d))],
      [4, () => this.withDoc(['routes'], (d) => this.removeRoute(d))],
      [2, () => this.withDoc(['routes'], (d) => this.pasteRoutes(d))],
      [2, () => this.withDoc(['service'], (d) => this.pasteHelpers(d))],
      [4, () => this.withDoc(['routes'], (d) => this.importToggle(d))],
      [2, () => this.withDoc(['routes', 'service', 'plain', 'main'], (d) => this.addImport(d))],
      [3, () => this.withDoc(['main'], (d) => this.toggleInclude(d))],
      [5, () => this.withDoc(['routes', 'service', 'deps', 'plain'], (d) => this.syntaxError(d))],
      [14, () => this.withDoc(['routes', 'service', 'deps', 'plain', 'main'], (d) => this.undo(d))],
      [
        4,
        () =>
          this.withDoc(['routes', 'service', 'deps', 'plain', 'main'], (d) => this.saveIfDirty(d)),
      ],
      [6, () => this.withDoc(['routes', 'service', 'deps', 'main'], (d) => this.hover(d))],
      [
        4,
        () =>
          this.withDoc(['routes', 'service', 'deps', 'plain', 'main'], (d) => this.codeAction(d)),
      ],
      [
        3,
        () => this.withDoc(['routes', 'service', 'deps', 'plain', 'main'], (d) => this.codeLens(d)),
      ],
      [2, () => this.routes()],
      [6, () => this.rotate().then(() => true)],
      [1, () => this.createOrDelete()],
      [1, () => this.idle()],
    ];
    // Keep documents from growing without bound.
    for (const d of this.open.values()) if (await this.revertIfGrown(d)) return true;
    const total = ops.reduce((s, [w]) => s + w, 0);
    let x = this.r.next() * total;
    for (const [w, run] of ops) {
      x -= w;
      if (x < 0) return run();
    }
    return false;
  }

  async withDoc(roles: Role[], run: (d: OpenDoc) => Promise<boolean>): Promise<boolean> {
    const d = this.docFor(roles);
    return d ? run(d) : false;
  }

  async saveIfDirty(d: OpenDoc): Promise<boolean> {
    if (d.doc.text === d.disk) return false;
    await this.save(d);
    return true;
  }

  // ---- sampling -----------------------------------------------------------------------------

  private lastSample = { edits: 0, cpuS: 0, t: 0 };

  sample(): void {
    const p = procReading(this.pid);
    if (!p) return;
    const t = this.now();
    const recent = this.edits.slice(this.lastSample.edits);
    const interval = {} as Record<Kind, Stats>;
    for (const kind of ['body', 'exposure', 'other'] as Kind[])
      interval[kind] = stats(recent.filter((e) => e.kind === kind && !e.stalled).map((e) => e.ms));
    const dt = t - this.lastSample.t;
    this.samples.push({
      t,
      rssMb: p.rssMb,
      hwmMb: p.hwmMb,
      cpuPct: dt > 0 ? ((p.cpuS - this.lastSample.cpuS) / dt) * 100 : NaN,
      edits: this.edits.length,
      events: this.events.length,
      stalls: this.stalls.length,
      errors: this.errors.length,
      openDocs: this.open.size,
      load: os.loadavg() as [number, number, number],
      interval,
    });
    this.lastSample = { edits: this.edits.length, cpuS: p.cpuS, t };
    const b = interval.body;
    const e = interval.exposure;
    console.log(
      `soak ${f0(t)} s: RSS ${f0(p.rssMb)} MB (peak ${f0(p.hwmMb)}), ${this.edits.length} edits; ` +
        `body p50/p95 ${f1(b.p50)}/${f1(b.p95)} ms (${b.n}), exposure ${f1(e.p50)}/${f1(e.p95)} ms (${e.n}); ` +
        `${this.stalls.length} stalls, ${this.errors.length} errors, load ${os.loadavg()[0].toFixed(1)}`,
    );
  }

  startSampling(): NodeJS.Timeout {
    this.lastSample = { edits: 0, cpuS: procReading(this.pid)?.cpuS ?? 0, t: 0 };
    return setInterval(() => this.sample(), this.o.sampleSeconds * 1000);
  }

  async shutdown(proc: ReturnType<typeof spawn>): Promise<number | null> {
    this.shuttingDown = true;
    if (this.crashed) return null;
    const exited = new Promise<number | null>((resolve) =>
      proc.once('exit', (code) => resolve(code)),
    );
    try {
      await Promise.race([
        this.conn.sendRequest('shutdown'),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error('no answer to shutdown')), 30_000),
        ),
      ]);
      await this.conn.sendNotification('exit');
    } catch (err) {
      this.errors.push(`shutdown: ${(err as Error).message}`);
    }
    const code = await Promise.race([
      exited,
      new Promise<number | null>((resolve) => setTimeout(() => resolve(null), 10_000)),
    ]);
    if (code === null) {
      this.errors.push('the server did not exit within 10 s of `exit`');
      proc.kill();
    } else if (code !== 0) this.errors.push(`the server exited with code ${code}`);
    this.conn.dispose();
    return code;
  }
}

// ---------------------------------------------------------------------------------------------
// Report

interface MinuteRow {
  minute: number;
  rssMb: number;
  rssMaxMb: number;
  hwmMb: number;
  edits: number;
  body: Stats;
  exposure: Stats;
  other: Stats;
  events: number;
  stalls: number;
  errors: number;
  cpuPct: number;
  load1: number;
}

function minuteRows(s: Soak, minutes: number): MinuteRow[] {
  const rows: MinuteRow[] = [];
  for (let m = 0; m < Math.ceil(minutes); m++) {
    const inMin = (t: number) => t > m * 60 && t <= (m + 1) * 60;
    const samples = s.samples.filter((x) => inMin(x.t));
    const edits = s.edits.filter((e) => inMin(e.t));
    if (samples.length === 0 && edits.length === 0) continue;
    const ms = (kind: Kind) => edits.filter((e) => e.kind === kind && !e.stalled).map((e) => e.ms);
    rows.push({
      minute: m + 1,
      rssMb: mean(samples.map((x) => x.rssMb)),
      rssMaxMb: Math.max(...samples.map((x) => x.rssMb)),
      hwmMb: samples.length ? samples[samples.length - 1].hwmMb : NaN,
      edits: edits.length,
      body: stats(ms('body')),
      exposure: stats(ms('exposure')),
      other: stats(ms('other')),
      events: s.events.filter((e) => inMin(e.t)).length,
      stalls:
        edits.filter((e) => e.stalled).length +
        s.events.filter((e) => inMin(e.t) && e.stalled).length,
      errors: samples.length ? samples[samples.length - 1].errors : NaN,
      cpuPct: mean(samples.map((x) => x.cpuPct)),
      load1: mean(samples.map((x) => x.load[0])),
    });
  }
  return rows;
}

function table(rows: MinuteRow[]): string {
  const out = [
    '| minute | server RSS MB (mean / max) | peak RSS MB | edits | body p50 / p95 / max ms | exposure n, p50 / p95 / max ms | other n, p50 / p95 ms | requests, opens, saves | stalls | server CPU % | load (1 min) |',
    '|' + ' --- |'.repeat(11),
  ];
  for (const r of rows)
    out.push(
      `| ${r.minute} | ${f0(r.rssMb)} / ${f0(r.rssMaxMb)} | ${f0(r.hwmMb)} | ${r.edits} | ${f1(r.body.p50)} / ${f1(r.body.p95)} / ${f1(r.body.max)} | ${r.exposure.n}, ${f0(r.exposure.p50)} / ${f0(r.exposure.p95)} / ${f0(r.exposure.max)} | ${r.other.n}, ${f0(r.other.p50)} / ${f0(r.other.p95)} | ${r.events} | ${r.stalls} | ${f0(r.cpuPct)} | ${f1(r.load1)} |`,
    );
  return out.join('\n');
}

function summarize(s: Soak, rows: MinuteRow[], exitCode: number | null) {
  const ok = s.edits.filter((e) => !e.stalled);
  const kinds = {} as Record<Kind, Stats & { warm: number }>;
  for (const kind of ['body', 'exposure', 'other'] as Kind[]) {
    const list = ok.filter((e) => e.kind === kind);
    kinds[kind] = {
      ...stats(list.map((e) => e.ms)),
      warm: list.filter((e) => e.path === 'warm').length,
    };
  }
  const bigBody = ok.filter((e) => e.kind === 'body' && e.lines >= 1500).map((e) => e.ms);
  const serverBody = ok
    .filter((e) => e.kind === 'body' && e.flushMs !== undefined)
    .map((e) => (e.flushMs as number) + (e.publishMs as number));
  const group = <T>(items: T[], key: (x: T) => string, ms: (x: T) => number) => {
    const out = new Map<string, number[]>();
    for (const x of items) {
      const list = out.get(key(x));
      if (list) list.push(ms(x));
      else out.set(key(x), [ms(x)]);
    }
    return out;
  };
  const byOp = group(
    ok,
    (e) => e.op,
    (e) => e.ms,
  );
  const byEvent = group(
    s.events.filter((e) => !e.stalled),
    (e) => e.what,
    (e) => e.ms,
  );
  // Body edits by the path the server took: warm (patched) or cold (the route graph re-run).
  const bodyByPath = group(
    ok.filter((e) => e.kind === 'body'),
    (e) => e.path ?? 'unknown',
    (e) => e.ms,
  );
  const first = rows[0];
  const last = rows[rows.length - 1];
  const points = s.samples.map((x) => ({ x: x.t / 60, y: x.rssMb }));
  const half = points.filter((p) => p.x >= points[points.length - 1]?.x / 2);
  const growth = first && last ? last.rssMb > first.rssMb * 1.5 + 50 : false;
  return {
    editsTotal: s.edits.length,
    requestsTotal: [...byEvent]
      .filter(([k]) =>
        ['hover', 'codeAction', 'codeLens', 'codeLens after close', 'routes'].includes(k),
      )
      .reduce((n, [, v]) => n + v.length, 0),
    filesOpened: s.opened.size,
    publishes: s.publishes,
    routesChanged: s.routesChanged,
    warnings: s.warnings,
    routes: s.routesCount,
    rss: {
      firstMinuteMb: first?.rssMb ?? NaN,
      lastMinuteMb: last?.rssMb ?? NaN,
      slopeMbPerMin: slope(points),
      slopeSecondHalfMbPerMin: slope(half),
      minMb: Math.min(...s.samples.map((x) => x.rssMb)),
      maxMb: Math.max(...s.samples.map((x) => x.rssMb)),
      peakHwmMb: s.samples.length ? s.samples[s.samples.length - 1].hwmMb : NaN,
      unboundedGrowth: growth,
    },
    latency: kinds,
    bodyIn2000LineFile: stats(bigBody),
    bodyServerSide: stats(serverBody),
    bodyByPath: Object.fromEntries([...bodyByPath].map(([k, v]) => [k, stats(v)])),
    byOp: Object.fromEntries([...byOp].map(([k, v]) => [k, stats(v)])),
    byEvent: Object.fromEntries([...byEvent].map(([k, v]) => [k, stats(v)])),
    stalls: s.stalls.length,
    errors: s.errors.length,
    crashed: s.crashed !== null,
    serverExitCode: exitCode,
    loadAverage: {
      min: Math.min(...s.samples.map((x) => x.load[0])),
      mean: mean(s.samples.map((x) => x.load[0])),
      max: Math.max(...s.samples.map((x) => x.load[0])),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// --live-heap

/** Loaded into the server with --require (main thread only; workers load it too). */
const LIVE_HEAP_PRELOAD = `// fastapi-lens soak --live-heap: a full GC, then the heap's size, every SOAK_HEAP_MS ms.
const fs = require('node:fs');
const { isMainThread } = require('node:worker_threads');
const file = process.env.SOAK_HEAP_LOG;
const every = Number(process.env.SOAK_HEAP_MS);
if (isMainThread && file && every > 0 && typeof global.gc === 'function') {
  setInterval(() => {
    const t0 = performance.now();
    global.gc();
    const gcMs = performance.now() - t0;
    fs.appendFileSync(file, JSON.stringify({ time: Date.now(), gcMs, ...process.memoryUsage() }) + '\\n');
  }, every).unref();
}
`;

interface HeapLine {
  time: number;
  gcMs: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

function readLiveHeap(file: string, sessionStart: number) {
  const mb = 2 ** 20;
  const lines = fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as HeapLine)
    : [];
  const points = lines
    .map((l) => ({ ...l, t: (l.time - sessionStart) / 1000 }))
    .filter((l) => l.t > 0);
  const minute = (m: 'first' | 'last', key: 'heapUsed' | 'external') => {
    const end = points.length ? points[points.length - 1].t : 0;
    const inMin = points.filter((p) => (m === 'first' ? p.t <= 60 : p.t > end - 60));
    return mean(inMin.map((p) => p[key] / mb));
  };
  const xy = points.map((p) => ({ x: p.t / 60, y: p.heapUsed / mb }));
  const end = xy.length ? xy[xy.length - 1].x : 0;
  return {
    points: points.map((p) => ({
      t: p.t,
      heapUsedMb: p.heapUsed / mb,
      heapTotalMb: p.heapTotal / mb,
      externalMb: p.external / mb,
      arrayBuffersMb: p.arrayBuffers / mb,
      rssMb: p.rss / mb,
      gcMs: p.gcMs,
    })),
    firstMinuteMb: minute('first', 'heapUsed'),
    lastMinuteMb: minute('last', 'heapUsed'),
    firstExternalMb: minute('first', 'external'),
    lastExternalMb: minute('last', 'external'),
    slopeMbPerMin: slope(xy),
    slopeSecondHalfMbPerMin: slope(xy.filter((p) => p.x >= end / 2)),
    gcMs: stats(points.map((p) => p.gcMs)),
  };
}

// ---------------------------------------------------------------------------------------------

/** Copy the built server (bundle, worker, WASM) so that a rebuild during the run cannot touch it. */
function snapshotServer(dest: string): string {
  const dist = path.join(ROOT, 'dist');
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(dest, { recursive: true });
  for (const name of [
    'server.js',
    'worker.js',
    'tree-sitter-python.wasm',
    'web-tree-sitter.wasm',
    // Loaded after a parser fault, for a fresh WebAssembly instance (engine/parser.ts).
    'web-tree-sitter.cjs',
  ]) {
    const from = path.join(dist, name);
    if (!fs.existsSync(from)) throw new Error(`${from} is missing: run \`npm run build\` first`);
    fs.copyFileSync(from, path.join(dest, name));
  }
  return path.join(dest, 'server.js');
}

/** What was tested: the server bundle's hash and time, and the repository's commit when it is dist/. */
function provenance(server: string, fromDist: boolean): Record<string, unknown> {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  };
  const status = fromDist ? git('status', '--porcelain') : null;
  return {
    server: fromDist ? 'dist/server.js' : server,
    serverSha256: createHash('sha256').update(fs.readFileSync(server)).digest('hex'),
    serverBuilt: fs.statSync(server).mtime.toISOString(),
    commit: fromDist ? git('rev-parse', 'HEAD') : null,
    uncommittedFiles: status === null ? null : status.split('\n').filter(Boolean).length,
  };
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const base = path.join(os.tmpdir(), 'fastapi-lens-soak');
  const ws = path.join(base, 'workspace');
  const cacheDir = path.join(base, 'cache');
  fs.rmSync(cacheDir, { recursive: true, force: true });
  console.log(`soak: generating a ${o.lines.toLocaleString('en-US')}-line workspace in ${ws}`);
  const big = generateLatencyProject(ws, o.lines);
  const size = countLines(ws);
  const server = o.server ?? snapshotServer(path.join(base, 'server'));
  const built = provenance(o.server ?? path.join(ROOT, 'dist', 'server.js'), o.server === null);

  // Documents opened and closed over the run: the 2,000-line module (kept open), the shared
  // modules, and the routes and service modules of 20 domains spread over the workspace.
  const domains = fs.readdirSync(path.join(ws, 'app')).filter((n) => /^domain\d+$/.test(n)).length;
  const pool = [
    big,
    path.join(ws, 'app', 'big', 'service.py'),
    path.join(ws, 'app', 'deps.py'),
    path.join(ws, 'app', 'main.py'),
    path.join(ws, 'app', 'plain.py'),
  ];
  for (let k = 0; k < Math.min(20, domains); k++) {
    const i = Math.floor((k * domains) / Math.min(20, domains));
    pool.push(path.join(ws, 'app', `domain${i}`, 'routes.py'));
    pool.push(path.join(ws, 'app', `domain${i}`, 'service.py'));
  }

  const tSpawn = performance.now();
  const heapLog = path.join(base, 'live-heap.jsonl');
  const nodeArgs: string[] = [];
  if (o.liveHeap) {
    const preload = path.join(base, 'live-heap.js');
    fs.writeFileSync(preload, LIVE_HEAP_PRELOAD);
    fs.rmSync(heapLog, { force: true });
    nodeArgs.push('--expose-gc', '--require', preload);
  }
  const proc = spawn(process.execPath, [...nodeArgs, server, '--stdio'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      FASTAPI_LENS_CACHE_DIR: cacheDir,
      SOAK_HEAP_LOG: heapLog,
      SOAK_HEAP_MS: String(o.sampleSeconds * 1000),
    },
  });
  const conn = createMessageConnection(
    new StreamMessageReader(proc.stdout!),
    new StreamMessageWriter(proc.stdin!),
  );
  const soak = new Soak(o, rng(o.seed), ws, pool, big, conn, proc.pid as number);
  proc.stderr!.on('data', (d: Buffer) => {
    soak.stderr = (soak.stderr + d.toString()).slice(-20_000);
    if (/uncaught exception|unhandled rejection/.test(d.toString()))
      soak.errors.push(`server stderr: ${d.toString().trim().slice(0, 2000)}`);
  });
  proc.on('exit', (code, signal) => soak.serverExited(code, signal));
  soak.listen();
  soak.t0 = performance.now();

  const uri = pathToFileURL(ws).href;
  await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: uri,
    workspaceFolders: [{ uri, name: path.basename(ws) }],
    // What an editor declares (VS Code's client, less what the soak does not answer).
    capabilities: {
      workspace: {
        configuration: true,
        workspaceFolders: true,
        didChangeWatchedFiles: { dynamicRegistration: true },
        didChangeConfiguration: { dynamicRegistration: true },
        codeLens: { refreshSupport: true },
        workspaceEdit: { documentChanges: false },
      },
      window: { workDoneProgress: true },
      textDocument: { publishDiagnostics: { versionSupport: true, relatedInformation: true } },
    },
    // No debounce and diagnostics for every version (each edit is answered and timed), timings
    // logged, no idle full pass (as in bench/lsp-latency.ts).
    initializationOptions: {
      debounceMs: 0,
      verifyIdleMs: 0,
      logTimings: true,
      publishEveryVersion: true,
    },
  });
  soak.startup.initializeMs = performance.now() - tSpawn;
  await conn.sendNotification('initialized', {});
  // The first document's file-local diagnostics come while the workspace loads, the complete
  // ones once it is loaded (the server logs `load` then); editing starts after that.
  const firstStall = o.stallMs;
  o.stallMs = Math.max(o.stallMs, 600_000);
  await soak.openDoc(big);
  o.stallMs = firstStall;
  soak.startup.firstDiagnosticsMs = performance.now() - tSpawn;
  const loadDeadline = performance.now() + 600_000;
  while (!(soak.startup.loads as unknown[] | undefined)?.length) {
    if (performance.now() > loadDeadline) throw new Error('the workspace did not load');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  soak.startup.completeDiagnosticsMs = performance.now() - tSpawn;
  const afterLoad = procReading(proc.pid as number);
  soak.startup.rssAfterLoadMb = afterLoad?.rssMb;
  soak.startup.hwmAfterLoadMb = afterLoad?.hwmMb;
  console.log(
    `soak: ${size.files} files, ${size.lines.toLocaleString('en-US')} lines; first diagnostics after ` +
      `${f0(soak.startup.firstDiagnosticsMs as number)} ms (complete after ${f0(soak.startup.completeDiagnosticsMs as number)} ms), RSS ${f0(afterLoad?.rssMb ?? NaN)} MB; editing for ${o.minutes} min (seed ${o.seed})`,
  );
  for (let i = 0; i < 3; i++) await soak.rotate();
  await soak.routes();

  // The edit session: the clock restarts so that minute 1 is the first minute of editing.
  soak.t0 = performance.now();
  const sessionStart = Date.now();
  soak.events.length = 0;
  const sampler = soak.startSampling();
  const end = soak.t0 + o.minutes * 60_000;
  let steps = 0;
  while (performance.now() < end && !soak.fatal) {
    await soak.step();
    steps++;
  }
  soak.sample();
  clearInterval(sampler);
  const exitCode = await soak.shutdown(proc);

  const rows = minuteRows(soak, o.minutes);
  const summary = summarize(soak, rows, exitCode);
  const liveHeap = o.liveHeap ? readLiveHeap(heapLog, sessionStart) : null;
  const failures: string[] = [];
  if (soak.crashed) failures.push(soak.crashed);
  if (!soak.crashed && soak.fatal) failures.push('aborted after 3 consecutive stalls');
  if (soak.stalls.length) failures.push(`${soak.stalls.length} stalls`);
  if (soak.errors.length) failures.push(`${soak.errors.length} errors`);
  if (summary.rss.unboundedGrowth)
    failures.push(
      `RSS grew from ${f0(summary.rss.firstMinuteMb)} MB (first minute) to ${f0(summary.rss.lastMinuteMb)} MB (last minute)`,
    );

  console.log('');
  console.log(table(rows));
  console.log('');
  const k = summary.latency;
  console.log(
    [
      `- workspace: ${size.files} files, ${size.lines.toLocaleString('en-US')} lines, ${summary.routes ?? '?'} routes; ${summary.filesOpened} documents opened over the run`,
      `- ${steps} operations: ${summary.editsTotal} edits (body ${k.body.n}, exposure ${k.exposure.n}, other ${k.other.n}), ${summary.requestsTotal} requests, ${summary.publishes} publishDiagnostics`,
      `- body edits: p50 ${f1(k.body.p50)} ms, p95 ${f1(k.body.p95)} ms, max ${f0(k.body.max)} ms (warm path ${k.body.warm}/${k.body.n}); in the 2,000-line module p50 ${f1(summary.bodyIn2000LineFile.p50)}, p95 ${f1(summary.bodyIn2000LineFile.p95)} ms; server side (re-analysis + publishing) p50 ${f1(summary.bodyServerSide.p50)}, p95 ${f1(summary.bodyServerSide.p95)} ms; by path: ${Object.entries(
        summary.bodyByPath,
      )
        .map(([p, st]) => `${p} ${st.n} (p50 ${f1(st.p50)}, p95 ${f1(st.p95)} ms)`)
        .join(', ')}`,
      `- exposure edits: p50 ${f0(k.exposure.p50)} ms, p95 ${f0(k.exposure.p95)} ms, max ${f0(k.exposure.max)} ms`,
      `- other edits: p50 ${f0(k.other.p50)} ms, p95 ${f0(k.other.p95)} ms, max ${f0(k.other.max)} ms`,
      `- RSS: first minute ${f0(summary.rss.firstMinuteMb)} MB, last minute ${f0(summary.rss.lastMinuteMb)} MB, slope ${summary.rss.slopeMbPerMin.toFixed(2)} MB/min (second half ${summary.rss.slopeSecondHalfMbPerMin.toFixed(2)} MB/min), range ${f0(summary.rss.minMb)}–${f0(summary.rss.maxMb)} MB, peak (VmHWM) ${f0(summary.rss.peakHwmMb)} MB`,
      `- requests and other events: ${Object.entries(summary.byEvent)
        .map(([what, st]) => `${what} ${st.n} (p50 ${f0(st.p50)}, p95 ${f0(st.p95)} ms)`)
        .join(', ')}`,
      `- stalls ${summary.stalls}, errors ${summary.errors}, server exit code ${exitCode}; load average (1 min) ${f1(summary.loadAverage.min)}–${f1(summary.loadAverage.max)}, mean ${f1(summary.loadAverage.mean)}`,
    ].join('\n'),
  );
  if (liveHeap)
    console.log(
      `- live heap after a full GC: first minute ${f0(liveHeap.firstMinuteMb)} MB, last minute ${f0(liveHeap.lastMinuteMb)} MB, slope ${liveHeap.slopeMbPerMin.toFixed(2)} MB/min (second half ${liveHeap.slopeSecondHalfMbPerMin.toFixed(2)}); external ${f0(liveHeap.firstExternalMb)} → ${f0(liveHeap.lastExternalMb)} MB; a forced GC took p50 ${f0(liveHeap.gcMs.p50)} ms`,
    );
  for (const e of [...soak.errors, ...soak.stalls].slice(0, 20)) console.log(`  ! ${e}`);

  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(
    o.out,
    JSON.stringify(
      {
        options: o,
        machine: {
          cpus: os.cpus().length,
          model: os.cpus()[0]?.model,
          memoryMb: Math.round(os.totalmem() / 2 ** 20),
          node: process.version,
          platform: `${os.platform()} ${os.release()}`,
        },
        build: built,
        workspace: { ...size, routes: summary.routes },
        startup: soak.startup,
        summary,
        minutes: rows,
        samples: soak.samples,
        counts: Object.fromEntries(soak.counts),
        errors: soak.errors,
        stalls: soak.stalls,
        crashed: soak.crashed,
        edits: soak.edits,
        events: soak.events,
        failures,
        liveHeap,
      },
      null,
      1,
    ),
  );
  console.log(`soak: raw results in ${path.relative(process.cwd(), o.out)}`);
  if (!o.keep) fs.rmSync(base, { recursive: true, force: true });
  if (failures.length) {
    console.log(`soak: FAILED: ${failures.join('; ')}`);
    return 1;
  }
  console.log('soak: passed (no crash, error or stall; memory bounded)');
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(2);
    },
  );
}
