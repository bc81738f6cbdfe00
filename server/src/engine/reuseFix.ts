/**
 * A three-byte fix to web-tree-sitter's runtime (web-tree-sitter.wasm), applied in memory when
 * the parser is loaded (parser.ts), for incremental re-parsing.
 *
 * When an edit lands in the lookahead of the zero-width tokens that end a Python block
 * (`_newline`, `_dedent`: a line added at a block's start, or between top-level statements),
 * tree-sitter's reuse iterator steps past the old tokens while the parser, at the same byte
 * offset, has not lexed the new ones yet. The next old node starts at that offset, the two
 * "last external token" states differ, and `ts_parser__reuse_node` *advances past* that node
 * instead of waiting (`reusable_node_has_different_external_scanner_state`). The same happens at
 * every later block end, so everything after the edit is lexed again: 10 to 25 ms for one key
 * in a 2,000-line module, instead of 1 ms (docs/PERFORMANCE.md).
 *
 * At that check the node always starts exactly where the parser is (the branches before it
 * handle "before" and "past"), so the fix makes it do what the "before the node" branch does:
 * stop looking for a node to reuse at this position. The parser lexes the zero-width tokens,
 * and at the next call the states are equal and the node is reused; when they never are (the
 * edit changed the indentation), the parser moves past the node's start and the iterator
 * descends into it, as for any node it cannot reuse. Reuse decisions never change the tree a
 * parse produces, only the work: test/parser-reuse.test.ts compares incremental and fresh
 * trees after random edits.
 *
 * In the compiled code the check's three exits (with and without a logger) branch to the block
 * after which `reusable_node_advance` runs and the loop continues; the fix makes them branch
 * three levels further out, to the block the "before" branch leaves by. Only a runtime whose
 * bytes match what was checked by hand (web-tree-sitter 0.27.1) is patched: any other runtime is
 * used as it is.
 */

export interface ReuseFixResult {
  bytes: Uint8Array;
  patched: boolean;
  /** Why the runtime was left as it is (null when patched). */
  reason: string | null;
}

/** The global WebAssembly object (not in this project's TypeScript libraries). */
const wasm = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } })
  .WebAssembly;

const LOG_FORMAT = 'reusable_node_has_different_external_scanner_state symbol:%s';
/** `i32.load offset=1292` (the parser's dot-graph file), `i32.eqz`, `br_if`. */
const NO_DOT_GRAPH = [0x28, 0x02, 0x8c, 0x0a, 0x45, 0x0d];
/** In the loop copying the message to the dot-graph file: `br_if 1`, `br` (the exit). */
const COPY_LOOP_EXIT = [0x0d, 0x01, 0x0c];
/** The exits' branch depths as compiled, and how much further out the fixed ones go. */
const EXPECTED_DEPTHS = [3, 2, 5];
const FURTHER = 3;

export function fixReuseAfterZeroWidthTokens(runtime: Uint8Array): ReuseFixResult {
  const keep = (reason: string): ReuseFixResult => ({ bytes: runtime, patched: false, reason });
  const data = dataSegment(runtime);
  if (!data) return keep('no data segment');
  const at = indexOf(runtime, new TextEncoder().encode(LOG_FORMAT), data.start, data.end);
  if (at < 0) return keep('log message not found');
  // `global.get $__memory_base`, `i32.const <message offset>`, `i32.add`: the LOG call.
  const anchor = [0x23, data.baseGlobal, 0x41, ...signedLeb(at - data.start), 0x6a];
  const site = indexOf(runtime, anchor, 0, data.sectionStart);
  if (site < 0 || indexOf(runtime, anchor, site + 1, data.sectionStart) >= 0)
    return keep('log call not found once');
  const before = lastIndexOf(runtime, NO_DOT_GRAPH, site);
  const after = indexOf(runtime, NO_DOT_GRAPH, site, data.sectionStart);
  const loop = after < 0 ? -1 : indexOf(runtime, COPY_LOOP_EXIT, after, data.sectionStart);
  if (before < 0 || after < 0 || loop < 0) return keep('unexpected code around the check');
  const exits = [
    before + NO_DOT_GRAPH.length,
    after + NO_DOT_GRAPH.length,
    loop + COPY_LOOP_EXIT.length,
  ];
  // All three within the check's code (a few hundred bytes), with the depths checked by hand.
  if (exits.some((e, i) => Math.abs(e - site) > 400 || runtime[e] !== EXPECTED_DEPTHS[i]))
    return keep('unexpected code around the check');
  const bytes = new Uint8Array(runtime);
  for (const e of exits) bytes[e] += FURTHER;
  if (!wasm.validate(bytes)) return keep('the fixed module does not validate');
  return { bytes, patched: true, reason: null };
}

/** The first data segment: where its bytes are, and the global its offset is based on. */
function dataSegment(
  m: Uint8Array,
): { start: number; end: number; baseGlobal: number; sectionStart: number } | null {
  let p = 8;
  while (p < m.length) {
    const id = m[p];
    const size = unsignedLeb(m, p + 1);
    const body = size.next;
    if (id === 11) {
      const count = unsignedLeb(m, body);
      let q = count.next;
      // Active segment of memory 0 placed at `global.get $g`: flags 0, 0x23 g, 0x0b.
      if (m[q] !== 0 || m[q + 1] !== 0x23) return null;
      const global = unsignedLeb(m, q + 2);
      q = global.next;
      if (m[q] !== 0x0b) return null;
      const len = unsignedLeb(m, q + 1);
      return {
        start: len.next,
        end: len.next + len.value,
        baseGlobal: global.value,
        sectionStart: p,
      };
    }
    p = body + size.value;
  }
  return null;
}

function unsignedLeb(m: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  let p = at;
  for (;;) {
    const b = m[p++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(b & 0x80) || p >= m.length) return { value, next: p };
  }
}

function signedLeb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** Native byte search (Buffer's), bounded to [from, to). */
function indexOf(m: Uint8Array, pat: ArrayLike<number>, from: number, to: number): number {
  const i = view(m).indexOf(Buffer.from(Array.from(pat)), Math.max(0, from));
  return i >= 0 && i + pat.length <= to ? i : -1;
}

/** The last match starting before `before`. */
function lastIndexOf(m: Uint8Array, pat: ArrayLike<number>, before: number): number {
  return view(m).lastIndexOf(Buffer.from(Array.from(pat)), before - pat.length);
}

function view(m: Uint8Array): Buffer {
  return Buffer.from(m.buffer, m.byteOffset, m.byteLength);
}
