/**
 * A small Python tokenizer and the text helpers the fix generators need: positions, bracket
 * matching, comma-separated sequences (parameters, arguments, lists, import names) and
 * insertions that keep the surrounding layout. Pure string code: no parser, no editor API.
 *
 * Positions follow the engine: 1-based lines, 0-based UTF-16 columns.
 */

export type TokenType = 'name' | 'number' | 'string' | 'comment' | 'op' | 'newline';

export interface Token {
  type: TokenType;
  start: number;
  end: number;
  /** Bracket depth before the token (for an opening bracket: the depth outside it). */
  depth: number;
}

const NAME_START = /[A-Za-z_\u00c0-\uffff]/;
const NAME_PART = /[A-Za-z0-9_\u00c0-\uffff]/;
const STRING_PREFIX = /^(?:[rRbBuUfFtT]{1,2})$/;
const THREE_CHAR_OPS = new Set(['**=', '//=', '>>=', '<<=', '...']);
const TWO_CHAR_OPS = new Set([
  '**',
  '//',
  '==',
  '!=',
  '<=',
  '>=',
  ':=',
  '->',
  '+=',
  '-=',
  '*=',
  '/=',
  '%=',
  '&=',
  '|=',
  '^=',
  '@=',
  '<<',
  '>>',
]);

/** End offset of the string literal whose opening quote is at `q` (exclusive). */
function stringEnd(text: string, q: number): number {
  const quote = text[q];
  const triple = text.startsWith(quote.repeat(3), q);
  let i = q + (triple ? 3 : 1);
  while (i < text.length) {
    const ch = text[i];
    if (ch === '\\') {
      i += 2;
      continue;
    }
    if (triple) {
      if (text.startsWith(quote.repeat(3), i)) return i + 3;
    } else {
      if (ch === quote) return i + 1;
      if (ch === '\n') return i; // unterminated: stop at the line end
    }
    i++;
  }
  return text.length;
}

/** Tokens of `text` from `from` (which must be outside any string or comment). */
export function* tokens(text: string, from = 0): Generator<Token> {
  let i = from;
  let depth = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === ' ' || ch === '\t' || ch === '\f') {
      i++;
      continue;
    }
    if (ch === '\\' && (text[i + 1] === '\n' || (text[i + 1] === '\r' && text[i + 2] === '\n'))) {
      i += text[i + 1] === '\n' ? 2 : 3;
      continue;
    }
    if (ch === '\r' || ch === '\n') {
      const end = ch === '\r' && text[i + 1] === '\n' ? i + 2 : i + 1;
      yield { type: 'newline', start: i, end, depth };
      i = end;
      continue;
    }
    if (ch === '#') {
      let end = i;
      while (end < text.length && text[end] !== '\n' && text[end] !== '\r') end++;
      yield { type: 'comment', start: i, end, depth };
      i = end;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const end = stringEnd(text, i);
      yield { type: 'string', start: i, end, depth };
      i = end;
      continue;
    }
    if (NAME_START.test(ch)) {
      let end = i + 1;
      while (end < text.length && NAME_PART.test(text[end])) end++;
      const word = text.slice(i, end);
      if ((text[end] === '"' || text[end] === "'") && STRING_PREFIX.test(word)) {
        const sEnd = stringEnd(text, end);
        yield { type: 'string', start: i, end: sEnd, depth };
        i = sEnd;
        continue;
      }
      yield { type: 'name', start: i, end, depth };
      i = end;
      continue;
    }
    if (/[0-9]/.test(ch) || (ch === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      let end = i + 1;
      while (end < text.length && /[0-9A-Za-z_.]/.test(text[end])) {
        if ((text[end] === '+' || text[end] === '-') && /[eE]/.test(text[end - 1])) end++;
        end++;
      }
      yield { type: 'number', start: i, end, depth };
      i = end;
      continue;
    }
    if (ch === '(' || ch === '[' || ch === '{') {
      yield { type: 'op', start: i, end: i + 1, depth };
      depth++;
      i++;
      continue;
    }
    if (ch === ')' || ch === ']' || ch === '}') {
      depth = Math.max(0, depth - 1);
      yield { type: 'op', start: i, end: i + 1, depth };
      i++;
      continue;
    }
    const three = text.slice(i, i + 3);
    const two = text.slice(i, i + 2);
    const len = THREE_CHAR_OPS.has(three) ? 3 : TWO_CHAR_OPS.has(two) ? 2 : 1;
    yield { type: 'op', start: i, end: i + len, depth };
    i += len;
  }
}

/** Source text with line bookkeeping. */
export class PySource {
  readonly lineStarts: number[] = [0];
  readonly eol: string;
  private tokenCache: Token[] | null = null;

  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) {
      if (text[i] === '\n') this.lineStarts.push(i + 1);
      else if (text[i] === '\r' && text[i + 1] !== '\n') this.lineStarts.push(i + 1);
    }
    this.eol = text.includes('\r\n') ? '\r\n' : '\n';
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }

  /** Offset of a 1-based line and 0-based column (clamped to the text). */
  offsetAt(line: number, column: number): number {
    if (line < 1) return 0;
    if (line > this.lineStarts.length) return this.text.length;
    return Math.min(this.lineStarts[line - 1] + column, this.lineEnd(line));
  }

  /** 1-based line and 0-based column of an offset. */
  positionAt(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.lineStarts[lo] };
  }

  lineStart(line: number): number {
    return this.lineStarts[Math.max(0, Math.min(line, this.lineStarts.length) - 1)];
  }

  /** Offset of the end of a line's content (before its line break). */
  lineEnd(line: number): number {
    if (line >= this.lineStarts.length) return this.text.length;
    let end = this.lineStarts[line];
    if (this.text[end - 1] === '\n') end--;
    if (this.text[end - 1] === '\r') end--;
    return end;
  }

  lineText(line: number): string {
    return this.text.slice(this.lineStart(line), this.lineEnd(line));
  }

  /** Leading whitespace of a line. */
  indentOf(line: number): string {
    return /^[ \t]*/.exec(this.lineText(line))?.[0] ?? '';
  }

  /** All tokens of the file (memoized). */
  allTokens(): Token[] {
    if (!this.tokenCache) this.tokenCache = [...tokens(this.text)];
    return this.tokenCache;
  }

  /** Index of the first token starting at or after `offset`. */
  tokenIndexAt(offset: number): number {
    const all = this.allTokens();
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (all[mid].start < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The token that contains `offset` (start <= offset < end), if any. */
  tokenContaining(offset: number): Token | null {
    const all = this.allTokens();
    const i = this.tokenIndexAt(offset + 1) - 1;
    const t = all[i];
    return t && t.start <= offset && offset < t.end ? t : null;
  }

  tokenText(t: Token): string {
    return this.text.slice(t.start, t.end);
  }

  /** Index of the bracket closing the one at token index `open`, or -1. */
  matchingClose(open: number): number {
    const all = this.allTokens();
    const depth = all[open].depth;
    for (let i = open + 1; i < all.length; i++) {
      const t = all[i];
      if (t.type === 'op' && t.depth === depth && /^[)\]}]$/.test(this.tokenText(t))) return i;
    }
    return -1;
  }

  /**
   * Can a comment be appended at the end of this line? Not when the line ends inside a string
   * (the comment would become part of it) or with a backslash continuation.
   */
  canAppendComment(line: number): boolean {
    const end = this.lineEnd(line);
    const lineText = this.lineText(line);
    if (/\\$/.test(lineText)) return false;
    if (end === this.lineStart(line)) return true;
    const t = this.tokenContaining(end - 1);
    if (t && t.type === 'string' && t.end > end) return false;
    // A string token that spans the line break (triple-quoted) covers the end offset too.
    const across = this.tokenContaining(end);
    if (across && across.type === 'string' && across.start < end) return false;
    return true;
  }
}

/** One element of a comma-separated sequence between brackets. */
export interface SeqItem {
  /** Offsets of the element's code (comments and surrounding blanks excluded). */
  start: number;
  end: number;
  /** Token indexes of its first and last token. */
  first: number;
  last: number;
  /** A comma follows it. */
  comma: boolean;
  /** Offset just after that comma (or `end`). */
  afterComma: number;
}

export interface Sequence {
  /** Token indexes of the brackets, or -1 for an unbracketed sequence (import names). */
  open: number;
  close: number;
  /** Offsets just after the opening bracket and at the closing bracket. */
  innerStart: number;
  innerEnd: number;
  items: SeqItem[];
}

/** The comma-separated elements between the bracket at token `open` and its match. */
export function sequenceAt(src: PySource, open: number): Sequence | null {
  const close = src.matchingClose(open);
  if (close < 0) return null;
  const all = src.allTokens();
  const depth = all[open].depth + 1;
  const items: SeqItem[] = [];
  let cur: SeqItem | null = null;
  for (let i = open + 1; i < close; i++) {
    const t = all[i];
    if (t.type === 'comment' || t.type === 'newline') continue;
    if (t.depth === depth && t.type === 'op' && src.tokenText(t) === ',') {
      if (cur) {
        cur.comma = true;
        cur.afterComma = t.end;
        items.push(cur);
        cur = null;
      }
      continue;
    }
    if (!cur) cur = { start: t.start, end: t.end, first: i, last: i, comma: false, afterComma: 0 };
    cur.end = t.end;
    cur.last = i;
    cur.afterComma = t.end;
  }
  if (cur) items.push(cur);
  return { open, close, innerStart: all[open].end, innerEnd: all[close].start, items };
}

export interface Insertion {
  offset: number;
  text: string;
}

/** Only blanks between the start of the line and `offset`. */
function startsLine(src: PySource, offset: number): boolean {
  const { line } = src.positionAt(offset);
  return /^[ \t]*$/.test(src.text.slice(src.lineStart(line), offset));
}

/**
 * Insert `item` into a sequence so that it becomes element number `index`, keeping its layout:
 * one element per line stays one per line (with a trailing comma), a single line stays single.
 */
export function insertIntoSequence(
  src: PySource,
  seq: Sequence,
  index: number,
  item: string,
): Insertion[] {
  const items = seq.items;
  const eol = src.eol;
  if (items.length === 0) return [{ offset: seq.innerStart, text: item }];
  const at = Math.max(0, Math.min(index, items.length));
  const multiline = startsLine(src, items[Math.min(at, items.length - 1)].start);
  if (at < items.length) {
    const next = items[at];
    if (multiline) {
      const indent = src.indentOf(src.positionAt(next.start).line);
      return [{ offset: next.start, text: `${item},${eol}${indent}` }];
    }
    return [{ offset: next.start, text: `${item}, ` }];
  }
  const last = items[items.length - 1];
  const closeOnOwnLine = seq.close >= 0 && startsLine(src, seq.innerEnd);
  if (multiline && closeOnOwnLine) {
    const indent = src.indentOf(src.positionAt(last.start).line);
    const closeLine = src.positionAt(seq.innerEnd).line;
    const added = { offset: src.lineStart(closeLine), text: `${indent}${item},${eol}` };
    return last.comma ? [added] : [{ offset: last.end, text: ',' }, added];
  }
  if (last.comma) return [{ offset: last.afterComma, text: ` ${item},` }];
  return [{ offset: last.end, text: `, ${item}` }];
}

/** Index of the first token at or after `offset` that is not a comment or line break. */
export function nextCodeToken(src: PySource, offset: number): number {
  const all = src.allTokens();
  for (let i = src.tokenIndexAt(offset); i < all.length; i++) {
    if (all[i].type !== 'comment' && all[i].type !== 'newline') return i;
  }
  return -1;
}

/**
 * The argument list of the call whose callee starts at (line, column): skips `@`, then a dotted
 * name (`router.get`, `fastapi.APIRouter`), and expects `(`.
 */
export function callArguments(src: PySource, line: number, column: number): Sequence | null {
  const all = src.allTokens();
  let i = nextCodeToken(src, src.offsetAt(line, column));
  if (i < 0) return null;
  if (src.tokenText(all[i]) === '@') i++;
  let expectName = true;
  for (; i < all.length; i++) {
    const t = all[i];
    const text = src.tokenText(t);
    if (t.type === 'comment' || t.type === 'newline') return null;
    if (expectName) {
      if (t.type !== 'name') return null;
      expectName = false;
      continue;
    }
    if (text === '.') {
      expectName = true;
      continue;
    }
    if (text === '(') return sequenceAt(src, i);
    return null;
  }
  return null;
}

/** The parameter list of `def name(` found on the given line (or the next few). */
export function defParameters(src: PySource, line: number, name: string): Sequence | null {
  const all = src.allTokens();
  const from = src.tokenIndexAt(src.lineStart(Math.max(1, line - 1)));
  for (let i = from; i < all.length - 2; i++) {
    const t = all[i];
    if (src.positionAt(t.start).line > line + 2) break;
    if (t.type !== 'name' || src.tokenText(t) !== 'def') continue;
    const n = all[i + 1];
    const p = all[i + 2];
    if (src.tokenText(n) === name && src.tokenText(p) === '(') return sequenceAt(src, i + 2);
  }
  return null;
}

/** The `name` of a keyword argument item (`name=value`), or null. */
export function keywordName(src: PySource, item: SeqItem): string | null {
  const all = src.allTokens();
  const a = all[item.first];
  const b = all[item.first + 1];
  if (a && b && a.type === 'name' && b.type === 'op' && src.tokenText(b) === '=')
    return src.tokenText(a);
  return null;
}

/** Token index of the value of a keyword argument item. */
export function keywordValue(item: SeqItem): number {
  return item.first + 2;
}

/** What a parameter of a `def` looks like. */
export interface ParamShape {
  name: string;
  kind: 'plain' | 'star' | 'slash' | 'args' | 'kwargs';
  hasDefault: boolean;
}

export function paramShape(src: PySource, item: SeqItem): ParamShape {
  const all = src.allTokens();
  const first = src.tokenText(all[item.first]);
  if (first === '/') return { name: '/', kind: 'slash', hasDefault: false };
  if (first === '*') {
    const n = all[item.first + 1];
    if (item.first === item.last || !n || n.type !== 'name')
      return { name: '*', kind: 'star', hasDefault: false };
    return { name: src.tokenText(n), kind: 'args', hasDefault: false };
  }
  if (first === '**') {
    const n = all[item.first + 1];
    return { name: n ? src.tokenText(n) : '', kind: 'kwargs', hasDefault: false };
  }
  const depth = all[item.first].depth;
  let hasDefault = false;
  for (let i = item.first; i <= item.last; i++) {
    const t = all[i];
    if (t.depth === depth && t.type === 'op' && src.tokenText(t) === '=') hasDefault = true;
  }
  return { name: first, kind: 'plain', hasDefault };
}

/** Apply insertions to a text (offsets refer to the original text). */
export function applyInsertions(text: string, ins: Insertion[]): string {
  const sorted = [...ins].sort((a, b) => b.offset - a.offset);
  let out = text;
  for (const i of sorted) out = out.slice(0, i.offset) + i.text + out.slice(i.offset);
  return out;
}
