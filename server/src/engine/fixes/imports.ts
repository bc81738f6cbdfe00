import {
  insertIntoSequence,
  PySource,
  type Insertion,
  type Sequence,
  type SeqItem,
} from './pyText';

/**
 * Module-level imports of a Python file, read from its text, and the edits that make a name
 * available: reuse an existing binding, merge into an existing `from m import ...` line (keeping
 * the names sorted when they are), or add a new line after the last top-level import.
 */

export interface ImportedName {
  /** Imported member (`from m import name`) or dotted module (`import a.b`). */
  name: string;
  /** Local binding. */
  local: string;
  /** Written with `as`. */
  aliased: boolean;
  start: number;
  end: number;
}

export interface ImportStmt {
  kind: 'from' | 'import';
  /** Module as written, without the leading dots (`from ..core import x` -> `core`). */
  module: string;
  level: number;
  names: ImportedName[];
  wildcard: boolean;
  /** Names sequence: the parenthesized list, or the bare names (open/close -1). */
  seq: Sequence;
  /** Statement start and end offsets (end: before the line break). */
  start: number;
  end: number;
  /** 1-based line of the statement's last line. */
  endLine: number;
}

function nameItem(src: PySource, item: SeqItem): ImportedName | null {
  const all = src.allTokens();
  const parts: string[] = [];
  let local: string | null = null;
  for (let i = item.first; i <= item.last; i++) {
    const text = src.tokenText(all[i]);
    if (text === 'as') {
      const next = all[i + 1];
      local = next ? src.tokenText(next) : null;
      break;
    }
    parts.push(text);
  }
  const name = parts.join('');
  if (!name) return null;
  return {
    name,
    local: local ?? name.split('.')[0],
    aliased: local !== null,
    start: item.start,
    end: item.end,
  };
}

/** Top-level (unindented) import statements, in source order. */
export function topLevelImports(src: PySource): ImportStmt[] {
  const all = src.allTokens();
  const out: ImportStmt[] = [];
  let atLineStart = true;
  for (let i = 0; i < all.length; i++) {
    const t = all[i];
    if (t.type === 'newline') {
      if (t.depth === 0) atLineStart = true;
      continue;
    }
    if (t.type === 'comment') continue;
    const startOfStatement =
      atLineStart || (i > 0 && src.tokenText(all[i - 1]) === ';' && all[i - 1].depth === 0);
    atLineStart = false;
    if (!startOfStatement || t.depth !== 0) continue;
    const word = src.tokenText(t);
    if (word !== 'from' && word !== 'import') continue;
    const { column } = src.positionAt(t.start);
    if (column !== 0 && src.tokenText(all[i - 1] ?? t) !== ';') continue;
    const stmt = readImport(src, i);
    if (stmt) {
      out.push(stmt);
      // Continue after the statement.
      while (i + 1 < all.length && all[i + 1].start < stmt.end) i++;
    }
  }
  return out;
}

function readImport(src: PySource, i: number): ImportStmt | null {
  const all = src.allTokens();
  const kind = src.tokenText(all[i]) as 'from' | 'import';
  let j = i + 1;
  let level = 0;
  let module = '';
  if (kind === 'from') {
    for (; j < all.length; j++) {
      const text = src.tokenText(all[j]);
      if (text === '.' || text === '...') level += text.length;
      else break;
    }
    const parts: string[] = [];
    for (; j < all.length; j++) {
      const text = src.tokenText(all[j]);
      if (text === 'import') break;
      if (all[j].type === 'newline' || all[j].type === 'comment') return null;
      parts.push(text);
    }
    module = parts.join('');
    if (src.tokenText(all[j] ?? all[i]) !== 'import') return null;
    j++;
  }
  // Names: a parenthesized list, or names up to the end of the logical line.
  let seq: Sequence;
  let end: number;
  if (all[j] && src.tokenText(all[j]) === '(') {
    const close = src.matchingClose(j);
    if (close < 0) return null;
    seq = sequenceFromTokens(src, j, close);
    end = all[close].end;
  } else {
    let k = j;
    while (
      k < all.length &&
      all[k].type !== 'newline' &&
      all[k].type !== 'comment' &&
      src.tokenText(all[k]) !== ';'
    )
      k++;
    seq = bareSequence(src, j, k);
    end = k > j ? all[k - 1].end : all[j - 1].end;
  }
  const names: ImportedName[] = [];
  let wildcard = false;
  for (const item of seq.items) {
    if (src.tokenText(all[item.first]) === '*') {
      wildcard = true;
      continue;
    }
    const n = nameItem(src, item);
    if (n) names.push(n);
  }
  return {
    kind,
    module,
    level,
    names,
    wildcard,
    seq,
    start: all[i].start,
    end,
    endLine: src.positionAt(end).line,
  };
}

function sequenceFromTokens(src: PySource, open: number, close: number): Sequence {
  const all = src.allTokens();
  const items: SeqItem[] = [];
  let cur: SeqItem | null = null;
  for (let i = open + 1; i < close; i++) {
    const t = all[i];
    if (t.type === 'comment' || t.type === 'newline') continue;
    if (src.tokenText(t) === ',') {
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

function bareSequence(src: PySource, from: number, to: number): Sequence {
  const seq = sequenceFromTokens(src, from - 1, to);
  const all = src.allTokens();
  return {
    ...seq,
    open: -1,
    close: -1,
    innerStart: all[from]?.start ?? 0,
    innerEnd: all[to - 1]?.end ?? 0,
  };
}

/** Absolute module an import statement names, given the importing file's module. */
export function absoluteModule(stmt: ImportStmt, fileModule: string, isPackage: boolean): string {
  if (stmt.level === 0) return stmt.module;
  const parts = fileModule.split('.');
  // A module's package is its parent; a package's __init__ is its own package.
  const base = isPackage ? parts : parts.slice(0, -1);
  const up = base.slice(0, Math.max(0, base.length - (stmt.level - 1)));
  return [...up, ...(stmt.module ? [stmt.module] : [])].filter(Boolean).join('.');
}

/** Where the importing file is, to resolve its relative imports. */
export interface ModuleContext {
  /** Dotted module name of the file being edited (`app.api.items`). */
  module: string;
  isPackage: boolean;
  /** Is this module part of the project (first-party)? Defaults to "no". */
  isLocal?: (module: string) => boolean;
}

/** Standard-library modules a fix may import (isort's first section). */
const STDLIB = new Set(
  (
    'abc argparse asyncio base64 bisect collections contextlib copy csv dataclasses datetime ' +
    'decimal enum functools glob hashlib heapq hmac http importlib inspect io itertools json ' +
    'logging math operator os pathlib pickle platform queue random re secrets shutil signal ' +
    'socket sqlite3 ssl string struct subprocess sys tempfile textwrap threading time ' +
    'traceback types typing urllib uuid warnings weakref zipfile zoneinfo'
  ).split(' '),
);

type Section = 0 | 1 | 2 | 3;

/** isort sections: 0 `__future__`, 1 standard library, 2 third party, 3 first party. */
function sectionOf(module: string, ctx: ModuleContext, level = 0): Section {
  if (level > 0) return 3;
  const top = module.split('.')[0];
  if (top === '__future__') return 0;
  if (STDLIB.has(top)) return 1;
  return ctx.isLocal?.(module) ? 3 : 2;
}

export interface NameRequest {
  /** Absolute module to import from (`fastapi`, `app.api.deps`). */
  module: string;
  name: string;
}

/** The result of making names available: how to refer to each, and the edits. */
export interface ImportPlan {
  /** Expression to use in code for each requested `module:name`. */
  refs: Map<string, string>;
  insertions: Insertion[];
  /** A requested name clashes with a different binding; the caller should not use the plan. */
  conflict: string | null;
}

export function requestKey(r: NameRequest): string {
  return `${r.module}:${r.name}`;
}

/** Sorted the way isort / Ruff sort `from` import names (case-sensitive, then not). */
function isSorted(names: string[]): 'cs' | 'ci' | null {
  const cs = names.every((n, i) => i === 0 || names[i - 1] <= n);
  if (cs) return 'cs';
  const lower = names.map((n) => n.toLowerCase());
  const ci = lower.every((n, i) => i === 0 || lower[i - 1] <= n);
  return ci ? 'ci' : null;
}

/**
 * Make every requested name available at module level of `text`. Existing bindings are reused
 * (`from fastapi import Depends`, `from app.api import deps` -> `deps.get_current_user`), names
 * are merged into an existing `from module import ...` statement, and new statements go after
 * the last top-level import (after a module docstring when there are none).
 */
export function planImports(
  text: string,
  ctx: ModuleContext,
  requests: NameRequest[],
  /** Names defined at module level of this file (functions, classes, assignments). */
  definedHere: Set<string> = new Set(),
): ImportPlan {
  const src = new PySource(text);
  const imports = topLevelImports(src);
  const refs = new Map<string, string>();
  const insertions: Insertion[] = [];
  const newLines: Map<string, string[]> = new Map();
  let conflict: string | null = null;

  for (const req of requests) {
    const key = requestKey(req);
    if (refs.has(key)) continue;
    if (req.module === ctx.module) {
      refs.set(key, req.name);
      continue;
    }
    // 1. A binding of exactly this name from this module.
    let found: string | null = null;
    for (const stmt of imports) {
      if (stmt.kind !== 'from') continue;
      const mod = absoluteModule(stmt, ctx.module, ctx.isPackage);
      if (mod !== req.module) continue;
      const n = stmt.names.find((x) => x.name === req.name);
      if (n) found = n.local;
      else if (stmt.wildcard) found = req.name;
      if (found) break;
    }
    // 2. The module itself is bound: `from app.api import deps`, `import app.api.deps as deps`.
    if (!found) {
      for (const stmt of imports) {
        for (const n of stmt.names) {
          if (stmt.kind === 'from') {
            const mod = absoluteModule(stmt, ctx.module, ctx.isPackage);
            const full = mod ? `${mod}.${n.name}` : n.name;
            if (full === req.module) found = `${n.local}.${req.name}`;
          } else if (n.name === req.module) {
            found = `${n.aliased ? n.local : n.name}.${req.name}`;
          }
          if (found) break;
        }
        if (found) break;
      }
    }
    if (found) {
      refs.set(key, found);
      continue;
    }
    // The plain name must not already mean something else here.
    const clash =
      definedHere.has(req.name) || imports.some((s) => s.names.some((n) => n.local === req.name));
    if (clash) {
      conflict = `\`${req.name}\` is already defined in this file`;
      refs.set(key, req.name);
      continue;
    }
    refs.set(key, req.name);
    // 3. Merge into an existing `from module import ...` (not a wildcard one).
    const target = imports.find(
      (s) =>
        s.kind === 'from' &&
        !s.wildcard &&
        absoluteModule(s, ctx.module, ctx.isPackage) === req.module,
    );
    if (target) {
      insertions.push(...mergeName(src, target, req.name));
      continue;
    }
    const list = newLines.get(req.module) ?? [];
    if (!list.includes(req.name)) list.push(req.name);
    newLines.set(req.module, list);
  }

  // New statements go with the imports of their isort section (stdlib, third party, project).
  const bySection = new Map<Section, string[]>();
  for (const [module, names] of [...newLines.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    const section = sectionOf(module, ctx);
    const list = bySection.get(section) ?? [];
    list.push(`from ${module} import ${[...names].sort().join(', ')}`);
    bySection.set(section, list);
  }
  for (const [section, lines] of bySection)
    insertions.push(newImportInsertion(src, imports, lines, section, ctx));
  return { refs, insertions, conflict };
}

function mergeName(src: PySource, stmt: ImportStmt, name: string): Insertion[] {
  const names = stmt.names.map((n) => n.name);
  const order = isSorted(names);
  let index = names.length;
  if (order && names.length > 0) {
    const key = (s: string) => (order === 'ci' ? s.toLowerCase() : s);
    index = names.findIndex((n) => key(n) > key(name));
    if (index < 0) index = names.length;
  }
  if (stmt.seq.open < 0) {
    // Bare names: `from fastapi import APIRouter, FastAPI`.
    const items = stmt.seq.items;
    if (index < items.length) return [{ offset: items[index].start, text: `${name}, ` }];
    return [{ offset: items[items.length - 1].end, text: `, ${name}` }];
  }
  return insertIntoSequence(src, stmt.seq, index, name);
}

/** A new import block after the last top-level import, or after the module docstring. */
function newImportInsertion(
  src: PySource,
  imports: ImportStmt[],
  lines: string[],
  section: Section,
  ctx: ModuleContext,
): Insertion {
  const eol = src.eol;
  const body = lines.join(eol);
  if (imports.length > 0) {
    const sections = imports.map((s) =>
      sectionOf(s.kind === 'import' ? (s.names[0]?.name ?? '') : s.module, ctx, s.level),
    );
    // After the last import of the same section, else after the last earlier section (with a
    // blank line), else before the first later section.
    let anchor = -1;
    for (let i = 0; i < imports.length; i++) if (sections[i] === section) anchor = i;
    if (anchor >= 0) return { offset: src.lineEnd(imports[anchor].endLine), text: `${eol}${body}` };
    for (let i = 0; i < imports.length; i++) if (sections[i] < section) anchor = i;
    if (anchor >= 0)
      return { offset: src.lineEnd(imports[anchor].endLine), text: `${eol}${eol}${body}` };
    const first = imports[0];
    return { offset: src.lineStart(src.positionAt(first.start).line), text: `${body}${eol}${eol}` };
  }
  // No imports: after a leading docstring and comments (shebang, encoding, license).
  const all = src.allTokens();
  let i = 0;
  while (i < all.length && (all[i].type === 'comment' || all[i].type === 'newline')) i++;
  if (i < all.length && all[i].type === 'string') {
    const line = src.positionAt(all[i].end).line;
    const next = all[i + 1];
    if (!next || next.type === 'newline') {
      const end = src.lineEnd(line);
      return { offset: end, text: `${eol}${eol}${body}` };
    }
  }
  if (i >= all.length) {
    const prefix = src.text.length > 0 && !src.text.endsWith('\n') ? eol : '';
    return { offset: src.text.length, text: `${prefix}${body}${eol}` };
  }
  const line = src.positionAt(all[i].start).line;
  return { offset: src.lineStart(line), text: `${body}${eol}${eol}` };
}
