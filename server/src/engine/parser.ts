import * as fs from 'node:fs';
import * as path from 'node:path';
import * as bundled from 'web-tree-sitter';
import type { Language, Parser, Tree } from 'web-tree-sitter';
import { fixReuseAfterZeroWidthTokens } from './reuseFix';

/**
 * Loads web-tree-sitter and the Python grammar once per thread. The WASM files sit beside the
 * bundle in dist/; when running from sources (tests, tsx) they are found in node_modules.
 *
 * Every parser, tree and node of a thread lives in the heap of one WebAssembly instance. A trap
 * inside it (see parserFault) may leave that heap corrupt, so the instance is then abandoned:
 * its parsers refuse to parse, and the next `createPythonParser()` loads a new copy of the
 * library, whose module holds a new WebAssembly instance (web-tree-sitter keeps one per copy).
 */

type TreeSitter = typeof bundled;

interface Instance {
  lib: TreeSitter;
  language: Promise<Language>;
  /** Why this instance is unusable (the message of the trap), or null. */
  fault: string | null;
}

let current: Instance | null = null;
const instanceOf = new WeakMap<Parser, Instance>();
/** Fresh instances made after faults in this thread; each abandoned one keeps its heap. */
let renewals = 0;
const MAX_RENEWALS = 4;

function locateWasm(fileName: string, packageName: string): string {
  const besideBundle = path.join(__dirname, fileName);
  if (fs.existsSync(besideBundle)) return besideBundle;
  // Both packages export their .wasm file; resolve it through the package's exports map.
  return require.resolve(`${packageName}/${fileName}`);
}

/** Whether the runtime was fixed for incremental re-parsing (reuseFix.ts), and if not why. */
let runtimeFix: { patched: boolean; reason: string | null } | null = null;

export function parserRuntimeFix(): { patched: boolean; reason: string | null } | null {
  return runtimeFix;
}

function start(lib: TreeSitter): Instance {
  const language = (async () => {
    const runtime = fixReuseAfterZeroWidthTokens(
      fs.readFileSync(locateWasm('web-tree-sitter.wasm', 'web-tree-sitter')),
    );
    runtimeFix = { patched: runtime.patched, reason: runtime.reason };
    await lib.Parser.init({
      locateFile: (name: string) => locateWasm(name, 'web-tree-sitter'),
      wasmBinary: runtime.bytes,
    });
    return lib.Language.load(locateWasm('tree-sitter-python.wasm', 'tree-sitter-python'));
  })();
  // Awaited by every parser creation; an unobserved rejection must not end the process.
  language.catch(() => undefined);
  return { lib, language, fault: null };
}

/**
 * A new copy of the library module (the build copies it beside the bundle, as
 * dist/web-tree-sitter.cjs; from sources it is the package's own file), or null.
 */
function freshLibrary(): TreeSitter | null {
  let file = path.join(__dirname, 'web-tree-sitter.cjs');
  if (!fs.existsSync(file)) {
    try {
      file = require.resolve('web-tree-sitter');
    } catch {
      return null;
    }
  }
  // Out of the module cache before and after: `require` evaluates the file again.
  delete require.cache[file];
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as TreeSitter;
  } catch {
    return null;
  } finally {
    delete require.cache[file];
  }
}

/** The thread's instance; after a fault, a fresh one (when the library can be loaded again). */
function instance(): Instance {
  if (!current) current = start(bundled);
  else if (current.fault && renewals < MAX_RENEWALS) {
    const lib = freshLibrary();
    if (lib) {
      renewals++;
      current = start(lib);
    }
  }
  return current;
}

export function loadPython(): Promise<Language> {
  return instance().language;
}

/**
 * A parser bound to Python. Create one per thread; parsers are not re-entrant. After a fault the
 * parser comes from a fresh WebAssembly instance; it rejects when none could be made.
 */
export async function createPythonParser(): Promise<Parser> {
  const inst = instance();
  if (inst.fault) throw new Error(`parser unavailable after an internal error (${inst.fault})`);
  const language = await inst.language;
  const parser = new inst.lib.Parser();
  parser.setLanguage(language);
  instanceOf.set(parser, inst);
  return parser;
}

/**
 * Whether a parser can still be used: false once its WebAssembly instance trapped (then make a
 * new one with createPythonParser, and drop the trees made by the old one).
 */
export function parserUsable(parser: Parser): boolean {
  return !(instanceOf.get(parser) ?? current)?.fault;
}

export interface ParserFaultEvent {
  /** The trap's message. */
  fault: string;
  /** The next parser comes from a fresh instance (false: too many faults in this thread). */
  renewable: boolean;
}

const faultListeners = new Set<(event: ParserFaultEvent) => void>();

/** Be told (once per fault) that an instance trapped; returns a function that unsubscribes. */
export function onParserFault(listener: (event: ParserFaultEvent) => void): () => void {
  faultListeners.add(listener);
  return () => faultListeners.delete(listener);
}

function recordFault(inst: Instance, message: string): void {
  if (inst.fault) return;
  inst.fault = message;
  for (const listener of faultListeners) {
    try {
      listener({ fault: message, renewable: renewals < MAX_RENEWALS });
    } catch {
      // A logger must not turn a parse error into another one.
    }
  }
}

/**
 * Parsing gives up after this long: 3 s plus 2 s per MB. Real files parse at several MB/s; some
 * hostile ones make tree-sitter-python quadratic (thousands of backslash-continued blank lines,
 * of comment lines, or error recovery over megabytes of garbage).
 */
export function parseTimeLimitMs(length: number): number {
  return 3000 + (2000 * length) / 1e6;
}

/**
 * tree-sitter-python 0.25's scanner writes one byte past its 1024-byte state buffer when 384 to
 * 511 indentation levels are open while a string is being read, corrupting the WebAssembly heap:
 * every later parse in the thread may then return wrong trees or trap. Files whose indentation
 * could nest that deep are refused (real code stays far below 100 levels).
 */
export const MAX_INDENT_LEVELS = 256;

/**
 * Why the thread's current WebAssembly instance is unusable (a trap), or null when it is fine.
 * A worker thread stops at the first fault; the language server makes a fresh instance.
 */
export function parserFault(): string | null {
  return current?.fault ?? null;
}

const INDENT_REFUSAL = `indentation nests more than ${MAX_INDENT_LEVELS} levels deep, beyond what the parser handles safely`;

/**
 * Why a text that does not come from a file (an editor buffer, a fix's result) is not parsed, or
 * null: the refusals `readSource` and `parseSource` make for files (size, NUL bytes, nesting).
 */
export function textRefusal(text: string, maxLength: number): string | null {
  if (text.length > maxLength)
    return `skipped: text is ${(text.length / 1024 / 1024).toFixed(1)} MB, over the ${(maxLength / 1024 / 1024).toFixed(1)} MB limit`;
  if (text.includes('\0')) return 'skipped: binary file (contains NUL bytes)';
  if (indentLevels(text, MAX_INDENT_LEVELS) > MAX_INDENT_LEVELS) return INDENT_REFUSAL;
  return null;
}

/** parseSource behind textRefusal: for texts from editors and fixes. Throws when refused. */
export function parseText(
  parser: Parser,
  text: string,
  maxLength: number,
  options: ParseOptions = {},
): Tree {
  const refusal = textRefusal(text, maxLength);
  if (refusal) throw new Error(refusal);
  return parseSource(parser, text, null, options);
}

export interface ParseOptions {
  /** Give up (throw) after this many milliseconds; default parseTimeLimitMs(source.length). */
  timeLimitMs?: number;
}

/** Parse, or throw an Error whose message says why the file cannot be parsed. */
export function parseSource(
  parser: Parser,
  source: string,
  oldTree?: Tree | null,
  options: ParseOptions = {},
): Tree {
  // A parser from no known instance (a test's stand-in) belongs to the thread's current one.
  const inst = instanceOf.get(parser) ?? current ?? instance();
  if (inst.fault) throw new Error(`parser unavailable after an internal error (${inst.fault})`);
  // Python ends lines at \n, \r\n and a lone \r (old Mac files); tree-sitter-python only at the
  // first two, so a file with lone CRs would parse as one broken line and hide its routes. Same
  // length, so every offset and column stays valid.
  if (source.includes('\r')) source = source.replace(/\r(?!\n)/g, '\n');
  if (indentLevels(source, MAX_INDENT_LEVELS) > MAX_INDENT_LEVELS) throw new Error(INDENT_REFUSAL);
  const limit = options.timeLimitMs ?? parseTimeLimitMs(source.length);
  const deadline = performance.now() + limit;
  let tree: Tree | null;
  try {
    tree = parser.parse(source, oldTree ?? null, {
      progressCallback: () => performance.now() > deadline,
    });
  } catch (err) {
    // A WebAssembly trap (RuntimeError) may leave the shared heap corrupt: stop using it.
    if (err instanceof Error && err.name === 'RuntimeError') recordFault(inst, err.message);
    throw err;
  }
  if (!tree) {
    // A cancelled parse would otherwise resume on the next call, with the next file's text.
    parser.reset();
    throw new Error(`parsing stopped after ${(limit / 1000).toFixed(1)} s (per-file time limit)`);
  }
  return tree;
}

/**
 * An upper bound on the indentation nesting the scanner can reach: its indent stack is strictly
 * increasing and pushed in file order, so it is at most the longest increasing run (not
 * necessarily contiguous) of line indentation widths, measured as the scanner does (space 1,
 * tab 8, form feed and carriage return reset, backslash-newline continues, 16-bit wrap).
 * Stops counting past `stopAt`. Linear in the text.
 */
export function indentLevels(source: string, stopAt: number): number {
  const tails: number[] = [];
  let width = 0;
  let atLineStart = true;
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (!atLineStart) {
      // Skip the rest of the line natively: this runs on every keystroke over the whole text.
      const nl = c === 10 ? i : source.indexOf('\n', i);
      if (nl < 0) break;
      i = nl;
      atLineStart = true;
      width = 0;
      continue;
    }
    if (c === 32) width++;
    else if (c === 9) width += 8;
    else if (c === 10 || c === 12 || c === 13) width = 0;
    else if (c === 92 && source.charCodeAt(i + 1) === 10) i++;
    else if (c === 92 && source.charCodeAt(i + 1) === 13 && source.charCodeAt(i + 2) === 10) i += 2;
    else {
      atLineStart = false;
      const v = width & 0xffff;
      let lo = 0;
      let hi = tails.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (tails[mid] < v) lo = mid + 1;
        else hi = mid;
      }
      tails[lo] = v;
      if (tails.length > stopAt) return tails.length;
    }
  }
  return tails.length;
}
