/**
 * Fuzzing the engine with mutated Python files.
 *
 * The library half (seeded random numbers, the corpus, the mutators, the per-file and workspace
 * checks) is shared with test/fuzz.test.ts, which runs a bounded count in CI. Run this file for
 * a long session:
 *
 *   npm run fuzz -- [--seed N] [--minutes M] [--files N] [--slow MS] [--server] [--out DIR]
 *
 * Each round copies a fixture project (test/fixtures/**, examples/**) to a temp folder, mutates
 * some of its Python files (each mutated file is also checked on its own, timed), then scans the
 * whole copy with `scanWorkspace`. With --server (after `npm run build`) the mutated files are also
 * opened in the language server, which must answer a hover each time. A failing input is saved
 * under --out with the seed, the round and the mutator chain, and so is any file slower than
 * --slow ms (default 5000); the run goes on, and the exit code is 1 when anything failed.
 * Nothing here writes outside the temp folders and --out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import type { Parser } from 'web-tree-sitter';
import { errText } from '../server/src/engine/discovery';
import { factsFor, readSource, scanWorkspace, type Analysis } from '../server/src/engine/index';
import type { Finding } from '../server/src/engine/findings';
import { createPythonParser } from '../server/src/engine/parser';
import { DEFAULT_SETTINGS } from '../server/src/protocol';

export const ROOT = path.resolve(__dirname, '..');

// ---------------------------------------------------------------------------------------------
// Seeded random numbers (mulberry32): the same seed gives the same inputs on every machine.

export interface Rng {
  next(): number;
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

export function rng(seed: number): Rng {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    pick: <T>(items: readonly T[]): T => items[int(items.length)],
    chance: (p: number) => next() < p,
  };
}

// ---------------------------------------------------------------------------------------------
// The corpus: every Python file of the fixture projects and examples.

export interface CorpusFile {
  /** Absolute path. */
  abs: string;
  /** The fixture project it belongs to (the folder right under test/fixtures/<group>/). */
  project: string;
  bytes: Buffer;
}

function pyFiles(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, e.name);
    if (e.isDirectory()) pyFiles(abs, out);
    else if (e.isFile() && e.name.endsWith('.py')) out.push(abs);
  }
  return out;
}

/** Fixture projects: folders holding Python files, two levels under test/fixtures, and examples/*. */
export function fixtureProjects(root = ROOT): string[] {
  const projects: string[] = [];
  const bases = [path.join(root, 'examples')];
  const fixtures = path.join(root, 'test', 'fixtures');
  for (const g of fs.readdirSync(fixtures, { withFileTypes: true }))
    if (g.isDirectory()) bases.push(path.join(fixtures, g.name));
  for (const base of bases) {
    if (!fs.existsSync(base)) continue;
    for (const e of fs.readdirSync(base, { withFileTypes: true })) {
      const dir = path.join(base, e.name);
      if (e.isDirectory() && pyFiles(dir).length > 0) projects.push(dir);
    }
  }
  return projects.sort();
}

export function loadCorpus(root = ROOT): CorpusFile[] {
  const out: CorpusFile[] = [];
  for (const project of fixtureProjects(root))
    for (const abs of pyFiles(project).sort()) {
      const bytes = fs.readFileSync(abs);
      if (bytes.length <= 256 * 1024) out.push({ abs, project, bytes });
    }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Mutators: bytes in, bytes out (invalid UTF-8 must reach the disk as is).

/** Start offsets of the tokens of a Python text (a rough lexer: names, numbers, strings, ops). */
export function tokenBoundaries(text: string): number[] {
  const re = /\s+|[A-Za-z_]\w*|\d[\w.]*|"""|'''|[rbfuRBFU]*["']|#[^\n]*|\*\*|\/\/|[=!<>]=|->|./gsu;
  const out: number[] = [];
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m.index);
  out.push(text.length);
  return out;
}

/** Python 3.12-3.14 syntax, some of which tree-sitter-python does not know yet. */
export const NEW_SYNTAX = [
  'type Alias = int\n',
  'type Pair[T] = tuple[T, T]\n',
  'def generic[T: (int, str), *Ts, **P](x: T) -> T:\n    return x\n',
  'class Box[T]:\n    def get(self) -> T: ...\n',
  'try:\n    pass\nexcept ValueError, TypeError:\n    pass\n',
  'try:\n    pass\nexcept* OSError as group:\n    pass\n',
  'x = f"{f"{f"{1}"}"}"\n',
  'x = f"{"\\n".join(items)}"\n',
  'x = f"{value:{width}.{precision}}"\n',
  'match command.split():\n    case [action, *rest] if rest:\n        pass\n    case {"k": v, **kw}:\n        pass\n    case Point(x=0) | None:\n        pass\n',
  'async def g():\n    async with a as b, c as d:\n        yield [x async for x in b]\n',
  't = t"template {name}"\n',
  'lambda: (yield)\n',
  'def f(a, /, b, *, c): ...\n',
];

const INSERTS = [
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ':',
  ',',
  '"',
  "'",
  '"""',
  "'''",
  'f"{',
  '}"',
  '\\',
  '\\\n',
  '\n',
  '\n    ',
  '\t',
  '@',
  '@app.get("/x")\n',
  'def ',
  'async ',
  'class ',
  'lambda ',
  '**',
  '*',
  '=',
  '#',
  '# fastapi-lens: ignore',
  'Depends(',
  'Security(',
  'import ',
  'from . import *\n',
  'from .. import x\n',
  'router',
  'app',
  '.',
  'None',
  'raise HTTPException(401)\n',
  '\u2028',
  '\u00a0',
  '\u200b',
  '\u202e',
  '\ufeff',
  '\r',
  '\f',
  '\v',
  '\u{1f600}',
];

export interface Mutator {
  name: string;
  apply(input: Buffer, r: Rng, corpus: readonly CorpusFile[]): Buffer;
}

const text = (b: Buffer): string => b.toString('utf8');
const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');

export const MUTATORS: Mutator[] = [
  {
    name: 'truncate-at-token',
    apply: (b, r) => {
      const s = text(b);
      const cuts = tokenBoundaries(s);
      return bytes(s.slice(0, r.pick(cuts)));
    },
  },
  {
    name: 'byte-flip',
    apply: (b, r) => {
      const c = Buffer.from(b);
      for (let i = 0, n = 1 + r.int(16); i < n && c.length; i++)
        c[r.int(c.length)] ^= 1 << r.int(8);
      return c;
    },
  },
  {
    name: 'nul-bytes',
    apply: (b, r) => {
      const c = Buffer.from(b);
      for (let i = 0, n = 1 + r.int(4); i < n && c.length; i++) c[r.int(c.length)] = 0;
      return c;
    },
  },
  {
    name: 'invalid-utf8',
    apply: (b, r) => {
      const junk = [
        [0x80],
        [0xff],
        [0xc3],
        [0xe2, 0x82],
        [0xf0, 0x9f],
        [0xed, 0xa0, 0x80],
        [0xc0, 0xaf],
      ];
      let c = Buffer.from(b);
      for (let i = 0, n = 1 + r.int(8); i < n; i++) {
        const at = r.int(c.length + 1);
        c = Buffer.concat([c.subarray(0, at), Buffer.from(r.pick(junk)), c.subarray(at)]);
      }
      return c;
    },
  },
  {
    name: 'bom-crlf',
    apply: (b, r) => {
      const s = text(b).replace(/\r?\n/g, r.chance(0.8) ? '\r\n' : '\r');
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes(s)]);
    },
  },
  {
    name: 'tabs-and-spaces',
    apply: (b, r) =>
      bytes(text(b).replace(/^( {4})+/gm, (m) => (r.chance(0.5) ? m.replace(/ {4}/g, '\t') : m))),
  },
  {
    name: 'splice-other-file',
    apply: (b, r, corpus) => {
      const s = text(b);
      const o = text(r.pick(corpus).bytes);
      const at = r.int(s.length + 1);
      const from = r.int(o.length + 1);
      return bytes(s.slice(0, at) + o.slice(from, from + r.int(800)) + s.slice(at));
    },
  },
  {
    name: 'duplicate-lines',
    apply: (b, r) => {
      const lines = text(b).split('\n');
      const from = r.int(lines.length);
      const chunk = lines.slice(from, from + 1 + r.int(20));
      lines.splice(r.int(lines.length + 1), 0, ...chunk);
      return bytes(lines.join('\n'));
    },
  },
  {
    name: 'shuffle-lines',
    apply: (b, r) => {
      const lines = text(b).split('\n');
      for (let i = 0, n = 1 + r.int(10); i < n; i++) {
        const x = r.int(lines.length);
        const y = r.int(lines.length);
        [lines[x], lines[y]] = [lines[y], lines[x]];
      }
      return bytes(lines.join('\n'));
    },
  },
  {
    name: 'delete-span',
    apply: (b, r) => {
      const s = text(b);
      const at = r.int(s.length + 1);
      return bytes(s.slice(0, at) + s.slice(at + 1 + r.int(200)));
    },
  },
  {
    name: 'insert-tokens',
    apply: (b, r) => {
      let s = text(b);
      for (let i = 0, n = 1 + r.int(8); i < n; i++) {
        const at = r.int(s.length + 1);
        s = s.slice(0, at) + r.pick(INSERTS) + s.slice(at);
      }
      return bytes(s);
    },
  },
  {
    name: 'indent-shift',
    apply: (b, r) => {
      const lines = text(b).split('\n');
      const from = r.int(lines.length);
      const pad = r.pick([' ', '  ', '\t', '        ', ' \t']);
      for (let i = from; i < Math.min(lines.length, from + 1 + r.int(15)); i++)
        lines[i] = r.chance(0.5) ? pad + lines[i] : lines[i].replace(/^\s/, '');
      return bytes(lines.join('\n'));
    },
  },
  {
    name: 'new-syntax',
    apply: (b, r) => {
      const lines = text(b).split('\n');
      lines.splice(r.int(lines.length + 1), 0, r.pick(NEW_SYNTAX));
      return bytes(lines.join('\n'));
    },
  },
  {
    name: 'deep-nesting',
    apply: (b, r) => {
      const s = text(b);
      const n = 50 + r.int(3000);
      const [open, close] = r.pick([
        ['(', ')'],
        ['[', ']'],
        ['{', '}'],
        ['f(', ')'],
        ['Depends(', ')'],
        ['not ', ''],
        ['-', ''],
        ['lambda: ', ''],
      ]);
      const at = r.int(s.length + 1);
      return bytes(
        s.slice(0, at) +
          open.repeat(n) +
          'x' +
          close.repeat(r.chance(0.8) ? n : n >> 1) +
          s.slice(at),
      );
    },
  },
  {
    name: 'long-line',
    apply: (b, r) => {
      const s = text(b);
      const n = 1000 + r.int(100_000);
      const filler = r.pick([
        'x = "' + 'a'.repeat(n) + '"\n',
        'y = [' + '1, '.repeat(n / 3) + ']\n',
        '# ' + 'c'.repeat(n) + '\n',
        'n' + 'a'.repeat(n) + ' = 1\n',
      ]);
      const lines = s.split('\n');
      lines.splice(r.int(lines.length + 1), 0, filler);
      return bytes(lines.join('\n'));
    },
  },
];

export interface Mutated {
  bytes: Buffer;
  chain: string[];
}

/** Apply 1 to `maxSteps` random mutators in a row. */
export function mutate(
  input: Buffer,
  r: Rng,
  corpus: readonly CorpusFile[],
  maxSteps = 3,
  only?: readonly Mutator[],
): Mutated {
  let out = input;
  const chain: string[] = [];
  for (let i = 0, n = 1 + r.int(maxSteps); i < n; i++) {
    const m = r.pick(only ?? MUTATORS);
    out = m.apply(out, r, corpus);
    chain.push(m.name);
  }
  return { bytes: out, chain };
}

// ---------------------------------------------------------------------------------------------
// Checks

/** What the engine may say when it declines a file: anything else is a bug. */
export const REFUSALS = [
  /^skipped: binary file \(contains NUL bytes\)$/,
  /^skipped: file is [\d.]+ MB, over the [\d.]+ MB limit$/,
  /^parsing stopped after [\d.]+ s \(per-file time limit\)$/,
  /^indentation nests more than \d+ levels deep, beyond what the parser handles safely$/,
];

/** Text that only shows up in an engine diagnostic when something crashed inside the engine. */
const INTERNAL =
  /TypeError|RangeError|ReferenceError|SyntaxError|is not a function|Cannot read prop|undefined|\bnull\b|\[object |RuntimeError|out of bounds|Maximum call stack/;
/** The same for finding messages, which may quote (mutated) source code. */
const INTERNAL_IN_FINDING = /\[object |\bNaN\b|Cannot read prop|is not a function/;

export interface FileOutcome {
  ms: number;
  outcome: 'analysed' | 'skipped' | 'refused';
  message: string | null;
  parseErrors: number;
}

/** Lines as Python counts them: ended by \n, \r\n or a lone \r. */
function lineCount(source: string): number {
  let n = 1;
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 10 || (c === 13 && source.charCodeAt(i + 1) !== 10)) n++;
  }
  return n;
}

function checkSpan(
  where: string,
  s: { line: number; column: number; endLine: number; endColumn: number },
  lines: number | null,
): void {
  const ok =
    Number.isInteger(s.line) &&
    Number.isInteger(s.column) &&
    Number.isInteger(s.endLine) &&
    Number.isInteger(s.endColumn) &&
    s.line >= 1 &&
    s.column >= 0 &&
    (s.endLine > s.line || (s.endLine === s.line && s.endColumn >= s.column)) &&
    (lines === null || s.endLine <= lines);
  if (!ok) throw new Error(`${where}: bad position ${JSON.stringify(s)} (file has ${lines} lines)`);
}

/**
 * One file through the per-file half of the engine, as a worker would do it: read (size, binary
 * and encoding checks), parse, facts, file rules, taint. Throws on anything but a clear refusal.
 */
export function checkFile(parser: Parser, abs: string, maxBytes: number): FileOutcome {
  const started = performance.now();
  const read = readSource(abs, maxBytes);
  if ('error' in read) {
    if (!REFUSALS.some((re) => re.test(read.error)))
      throw new Error(`unexpected read error: ${read.error}`);
    return {
      ms: performance.now() - started,
      outcome: 'skipped',
      message: read.error,
      parseErrors: 0,
    };
  }
  let facts: ReturnType<typeof factsFor>;
  try {
    facts = factsFor(parser, abs, read.source);
  } catch (err) {
    const message = errText(err);
    if (!REFUSALS.some((re) => re.test(message))) throw err;
    return { ms: performance.now() - started, outcome: 'refused', message, parseErrors: 0 };
  }
  const ms = performance.now() - started;
  // Facts cross worker threads: they must be plain data.
  JSON.stringify(facts);
  const lines = lineCount(read.source);
  for (const f of facts.local ?? []) {
    // A rule that threw is reported as LENS000 instead of losing the file: a bug all the same.
    if (f.code === 'LENS000') throw new Error(`${abs}: ${f.message}`);
    checkSpan(`${f.code} in ${abs}`, f, lines);
    if (!f.message || INTERNAL_IN_FINDING.test(f.message))
      throw new Error(`${f.code}: suspicious message ${JSON.stringify(f.message)}`);
    for (const e of f.fix?.edits ?? []) checkSpan(`${f.code} fix in ${abs}`, e, lines);
  }
  return { ms, outcome: 'analysed', message: null, parseErrors: facts.parseErrors };
}

/** A whole-workspace result: serialisable, positions in range, diagnostics that read well. */
export function checkAnalysis(analysis: Analysis, findings: Finding[], cwd: string): void {
  const report = JSON.parse(JSON.stringify(analysis.report)) as Analysis['report'];
  const lines = new Map<string, number | null>();
  const linesOf = (rel: string): number | null => {
    if (!lines.has(rel)) {
      const read = readSource(path.resolve(cwd, rel), 64 * 1024 * 1024);
      lines.set(rel, 'source' in read ? lineCount(read.source) : null);
    }
    return lines.get(rel) ?? null;
  };
  for (const d of report.diagnostics) {
    if (typeof d.file !== 'string' || typeof d.message !== 'string' || d.message.length < 8)
      throw new Error(`unclear diagnostic ${JSON.stringify(d)}`);
    if (INTERNAL.test(d.message) && !REFUSALS.some((re) => re.test(d.message)))
      throw new Error(`internal error surfaced as a diagnostic: ${JSON.stringify(d)}`);
  }
  for (const r of report.routes) {
    if (!Array.isArray(r.methods) || typeof r.path !== 'string' || !(r.line >= 1))
      throw new Error(`malformed route ${JSON.stringify(r).slice(0, 300)}`);
    const n = linesOf(r.file);
    if (n !== null && r.line > n) throw new Error(`route line ${r.line} past the end of ${r.file}`);
  }
  JSON.stringify(findings);
  for (const f of findings) {
    const n = linesOf(f.file);
    checkSpan(`${f.code} in ${f.file}`, f, n);
    if (!f.message || INTERNAL_IN_FINDING.test(f.message))
      throw new Error(`${f.code}: suspicious message ${JSON.stringify(f.message)}`);
    for (const fix of f.fixes)
      for (const e of fix.edits)
        checkSpan(
          `${f.code} fix`,
          e,
          linesOf(path.isAbsolute(e.file) ? path.relative(cwd, e.file) : e.file),
        );
  }
}

// ---------------------------------------------------------------------------------------------
// Rounds: copy a project, mutate some files, check each, scan the copy.

export interface RoundResult {
  files: number;
  outcomes: { file: string; chain: string[]; outcome: FileOutcome; bytes: Buffer }[];
  scanMs: number;
}

export async function fuzzRound(
  parser: Parser,
  r: Rng,
  corpus: readonly CorpusFile[],
  projects: readonly string[],
  tmpBase: string,
  mutators: readonly Mutator[] = MUTATORS,
): Promise<RoundResult> {
  const project = r.pick(projects);
  const dir = fs.mkdtempSync(path.join(tmpBase, 'round-'));
  try {
    fs.cpSync(project, dir, { recursive: true });
    const files = pyFiles(dir).sort();
    const outcomes: RoundResult['outcomes'] = [];
    for (const file of files) {
      if (!r.chance(0.6)) continue;
      const m = mutate(fs.readFileSync(file), r, corpus, 3, mutators);
      fs.writeFileSync(file, m.bytes);
      let outcome: FileOutcome;
      try {
        outcome = checkFile(parser, file, 5 * 1024 * 1024);
      } catch (err) {
        throw new FuzzFailure(err, file, m.chain, dir);
      }
      outcomes.push({ file: path.relative(dir, file), chain: m.chain, outcome, bytes: m.bytes });
    }
    const started = performance.now();
    try {
      const { analysis, findings } = await scanWorkspace({ roots: [dir], cwd: dir, threads: 1 });
      checkAnalysis(analysis, findings, dir);
    } catch (err) {
      throw new FuzzFailure(
        err,
        dir,
        outcomes.flatMap((o) => o.chain),
        dir,
      );
    }
    return { files: files.length, outcomes, scanMs: performance.now() - started };
  } catch (err) {
    if (err instanceof FuzzFailure) err.keep();
    throw err;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A failure with the input that caused it, copied out of the temp folder before it goes. */
export class FuzzFailure extends Error {
  saved: string | null = null;

  constructor(
    readonly cause: unknown,
    readonly input: string,
    readonly chain: string[],
    private readonly dir: string,
  ) {
    super(
      `${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}\n  input: ${input}\n  mutators: ${chain.join(' > ')}`,
    );
  }

  keep(): void {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fastapi-lens-fuzz-failure-'));
    fs.cpSync(this.dir, out, { recursive: true });
    this.saved = out;
    this.message += `\n  saved: ${out}`;
  }
}

// ---------------------------------------------------------------------------------------------
// A minimal language client over stdio, to send hostile documents to dist/server.js.

export interface LspDiagnostic {
  code?: string | number;
  message: string;
  range: { start: { line: number; character: number } };
}

export class LspProcess {
  readonly diagnostics = new Map<string, LspDiagnostic[]>();
  stderr = '';
  exitCode: number | null = null;
  private waiters: { uri: string; test: (d: LspDiagnostic[]) => boolean; done: () => void }[] = [];
  private versions = new Map<string, number>();

  private constructor(
    readonly proc: ChildProcess,
    readonly conn: MessageConnection,
  ) {}

  /** Start the server on a workspace folder and complete the initialize handshake. */
  static async start(
    root: string,
    options: { execArgv?: string[]; env?: NodeJS.ProcessEnv; server?: string } = {},
  ): Promise<LspProcess> {
    const server = options.server ?? path.join(ROOT, 'dist', 'server.js');
    const proc = spawn(process.execPath, [...(options.execArgv ?? []), server, '--stdio'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    const conn = createMessageConnection(
      new StreamMessageReader(proc.stdout!),
      new StreamMessageWriter(proc.stdin!),
    );
    const lsp = new LspProcess(proc, conn);
    proc.stderr!.on('data', (d: Buffer) => (lsp.stderr += d.toString()));
    proc.on('exit', (code) => (lsp.exitCode = code ?? -1));
    conn.onNotification(
      'textDocument/publishDiagnostics',
      (p: { uri: string; diagnostics: LspDiagnostic[] }) => {
        lsp.diagnostics.set(p.uri, p.diagnostics);
        lsp.waiters = lsp.waiters.filter((w) => {
          if (w.uri !== p.uri || !w.test(p.diagnostics)) return true;
          w.done();
          return false;
        });
      },
    );
    conn.onRequest('workspace/configuration', (p: { items: unknown[] }) =>
      p.items.map(() => DEFAULT_SETTINGS),
    );
    for (const method of [
      'client/registerCapability',
      'window/workDoneProgress/create',
      'workspace/codeLens/refresh',
    ])
      conn.onRequest(method, () => null);
    conn.onError(() => undefined);
    conn.listen();
    const uri = pathToFileURL(root).href;
    await lsp.within(
      conn.sendRequest('initialize', {
        processId: process.pid,
        rootUri: uri,
        workspaceFolders: [{ uri, name: path.basename(root) }],
        capabilities: { workspace: { configuration: true, workspaceFolders: true } },
      }),
      30_000,
      'initialize',
    );
    await conn.sendNotification('initialized', {});
    return lsp;
  }

  /** A promise that fails after `ms` (the server must keep answering). */
  within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `${what}: no answer within ${ms} ms (server exit ${this.exitCode})\n${this.stderr.slice(-2000)}`,
            ),
          ),
        ms,
      );
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  waitForDiagnostics(
    abs: string,
    test: (d: LspDiagnostic[]) => boolean,
    ms = 20_000,
  ): Promise<LspDiagnostic[]> {
    const uri = pathToFileURL(abs).href;
    const now = this.diagnostics.get(uri);
    if (now && test(now)) return Promise.resolve(now);
    return this.within(
      new Promise<LspDiagnostic[]>((resolve) =>
        this.waiters.push({ uri, test, done: () => resolve(this.diagnostics.get(uri) ?? []) }),
      ),
      ms,
      `diagnostics for ${abs}`,
    );
  }

  open(abs: string, text: string): Promise<void> {
    const uri = pathToFileURL(abs).href;
    this.versions.set(uri, 1);
    return this.conn.sendNotification('textDocument/didOpen', {
      textDocument: { uri, languageId: 'python', version: 1, text },
    });
  }

  /** An incremental change; the range may be out of the document on purpose. */
  change(
    abs: string,
    text: string,
    range: { start: { line: number; character: number }; end: { line: number; character: number } },
  ): Promise<void> {
    const uri = pathToFileURL(abs).href;
    const version = (this.versions.get(uri) ?? 1) + 1;
    this.versions.set(uri, version);
    return this.conn.sendNotification('textDocument/didChange', {
      textDocument: { uri, version },
      contentChanges: [{ range, text }],
    });
  }

  close(abs: string): Promise<void> {
    return this.conn.sendNotification('textDocument/didClose', {
      textDocument: { uri: pathToFileURL(abs).href },
    });
  }

  hover(abs: string, line: number, character: number, ms = 20_000): Promise<unknown> {
    return this.within(
      this.conn.sendRequest('textDocument/hover', {
        textDocument: { uri: pathToFileURL(abs).href },
        position: { line, character },
      }),
      ms,
      `hover ${path.basename(abs)}:${line}:${character}`,
    );
  }

  /** shutdown + exit; resolves with the exit code (the process is killed after 10 s). */
  async stop(): Promise<number> {
    if (this.exitCode === null) {
      try {
        await this.within(this.conn.sendRequest('shutdown'), 10_000, 'shutdown');
        await this.conn.sendNotification('exit');
      } catch {
        // fall through to the kill below
      }
    }
    const exited = new Promise<number>((resolve) => {
      if (this.exitCode !== null) resolve(this.exitCode);
      else this.proc.on('exit', (code) => resolve(code ?? -1));
    });
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    this.conn.dispose();
    return code;
  }
}

// ---------------------------------------------------------------------------------------------
// Long run

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<number> {
  const seed = arg('--seed', Date.now() % 1_000_000);
  const minutes = arg('--minutes', 10);
  const maxFiles = arg('--files', Infinity);
  const slowMs = arg('--slow', 5000);
  const withServer = process.argv.includes('--server');
  const outIdx = process.argv.indexOf('--out');
  const outDir = outIdx >= 0 ? path.resolve(process.argv[outIdx + 1]) : null;
  const save = (name: string, from: string | Buffer): void => {
    if (!outDir) return;
    fs.mkdirSync(outDir, { recursive: true });
    if (Buffer.isBuffer(from)) fs.writeFileSync(path.join(outDir, name), from);
    else fs.cpSync(from, path.join(outDir, name), { recursive: true });
  };
  const corpus = loadCorpus();
  const projects = fixtureProjects();
  const parser = await createPythonParser();
  const r = rng(seed);
  const tmpBase = fs.mkdtempSync(path.join(os.tmpdir(), 'fastapi-lens-fuzz-'));
  const deadline = Date.now() + minutes * 60_000;
  const counts = new Map<string, number>();
  let files = 0;
  let rounds = 0;
  let failures = 0;
  let slow = 0;
  let served = 0;
  let worst = { ms: 0, file: '', chain: [] as string[] };
  let worstScan = 0;
  let worstServer = 0;
  let lastReport = Date.now();
  // --server: every mutated file is also opened in dist/server.js, which must answer a hover.
  const lspRoot = path.join(tmpBase, 'lsp');
  fs.mkdirSync(path.join(lspRoot, 'app'), { recursive: true });
  let lsp: LspProcess | null = withServer ? await LspProcess.start(lspRoot) : null;
  console.log(
    `fuzz: seed ${seed}, ${corpus.length} corpus files, ${projects.length} projects${lsp ? ', with the server' : ''}`,
  );
  try {
    while (Date.now() < deadline && files < maxFiles) {
      rounds++;
      try {
        const res = await fuzzRound(parser, r, corpus, projects, tmpBase);
        worstScan = Math.max(worstScan, res.scanMs);
        for (const o of res.outcomes) {
          files++;
          for (const c of o.chain) counts.set(c, (counts.get(c) ?? 0) + 1);
          if (o.outcome.ms > worst.ms) worst = { ms: o.outcome.ms, file: o.file, chain: o.chain };
          if (o.outcome.ms > slowMs) {
            slow++;
            console.log(
              `fuzz: slow file: ${o.outcome.ms.toFixed(0)} ms (${o.file}, ${o.chain.join(' > ')})`,
            );
            save(`slow-seed${seed}-round${rounds}-${path.basename(o.file)}`, o.bytes);
          }
        }
        if (lsp)
          for (const o of res.outcomes.slice(0, 3)) {
            const abs = path.join(lspRoot, 'app', `r${rounds}_${path.basename(o.file)}`);
            const started = performance.now();
            try {
              await lsp.open(abs, o.bytes.toString('utf8'));
              await lsp.hover(abs, 0, 0, 60_000);
              await lsp.close(abs);
            } catch (err) {
              failures++;
              console.error(`fuzz: SERVER FAILURE in round ${rounds} (${o.file}): ${String(err)}`);
              save(`server-seed${seed}-round${rounds}-${path.basename(o.file)}`, o.bytes);
              await lsp.stop();
              lsp = await LspProcess.start(lspRoot);
            }
            served++;
            worstServer = Math.max(worstServer, performance.now() - started);
          }
      } catch (err) {
        failures++;
        console.error(
          `fuzz: FAILURE in round ${rounds}: ${err instanceof Error ? err.message : String(err)}`,
        );
        if (err instanceof FuzzFailure && err.saved) save(`seed${seed}-round${rounds}`, err.saved);
      }
      if (Date.now() - lastReport > 30_000) {
        lastReport = Date.now();
        console.log(
          `fuzz: ${rounds} rounds, ${files} files, ${failures} failures, worst file ${worst.ms.toFixed(0)} ms`,
        );
      }
    }
  } finally {
    if (lsp) await lsp.stop();
    fs.rmSync(tmpBase, { recursive: true, force: true });
  }
  console.log(
    `fuzz: done: seed ${seed}, ${rounds} rounds, ${files} mutated files, ${failures} failures\n` +
      `  worst per-file time ${worst.ms.toFixed(1)} ms (${worst.file}, ${worst.chain.join(' > ')}); ${slow} files over ${slowMs} ms\n` +
      `  worst workspace scan ${worstScan.toFixed(1)} ms\n` +
      (lsp || withServer
        ? `  server: ${served} documents opened and hovered, slowest ${worstServer.toFixed(0)} ms\n`
        : '') +
      `  mutators: ${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}`,
  );
  return failures ? 1 : 0;
}

if (require.main === module) {
  void main().then((code) => {
    process.exitCode = code;
  });
}
