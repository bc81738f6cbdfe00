import * as fs from 'node:fs';
import * as path from 'node:path';
import { Language, Parser, type Tree } from 'web-tree-sitter';

/**
 * Loads web-tree-sitter and the Python grammar once per process. The WASM files sit beside the
 * bundle in dist/; when running from sources (tests, tsx) they are found in node_modules.
 */
let loading: Promise<Language> | null = null;

function locateWasm(fileName: string, packageName: string): string {
  const besideBundle = path.join(__dirname, fileName);
  if (fs.existsSync(besideBundle)) return besideBundle;
  // Both packages export their .wasm file; resolve it through the package's exports map.
  return require.resolve(`${packageName}/${fileName}`);
}

export function loadPython(): Promise<Language> {
  if (!loading) {
    loading = (async () => {
      await Parser.init({
        locateFile: (name: string) => locateWasm(name, 'web-tree-sitter'),
      });
      return Language.load(locateWasm('tree-sitter-python.wasm', 'tree-sitter-python'));
    })();
  }
  return loading;
}

/** A parser bound to Python. Create one per thread; parsers are not re-entrant. */
export async function createPythonParser(): Promise<Parser> {
  const language = await loadPython();
  const parser = new Parser();
  parser.setLanguage(language);
  return parser;
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

let fault: string | null = null;

/** Why the parser of this thread is unusable (a WebAssembly trap), or null when it is fine. */
export function parserFault(): string | null {
  return fault;
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
  if (fault) throw new Error(`parser unavailable after an internal error (${fault})`);
  // Python ends lines at \n, \r\n and a lone \r (old Mac files); tree-sitter-python only at the
  // first two, so a file with lone CRs would parse as one broken line and hide its routes. Same
  // length, so every offset and column stays valid.
  if (source.includes('\r')) source = source.replace(/\r(?!\n)/g, '\n');
  const levels = indentLevels(source, MAX_INDENT_LEVELS);
  if (levels > MAX_INDENT_LEVELS)
    throw new Error(
      `indentation nests more than ${MAX_INDENT_LEVELS} levels deep, beyond what the parser handles safely`,
    );
  const limit = options.timeLimitMs ?? parseTimeLimitMs(source.length);
  const deadline = performance.now() + limit;
  let tree: Tree | null;
  try {
    tree = parser.parse(source, oldTree ?? null, {
      progressCallback: () => performance.now() > deadline,
    });
  } catch (err) {
    // A WebAssembly trap (RuntimeError) may leave the shared heap corrupt: stop using it.
    if (err instanceof Error && err.name === 'RuntimeError') fault = err.message;
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
      if (c === 10) {
        atLineStart = true;
        width = 0;
      }
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
