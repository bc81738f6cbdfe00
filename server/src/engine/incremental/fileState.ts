import { Edit, type Node, type Parser, type Tree } from 'web-tree-sitter';
import {
  extractFacts,
  type AssignFacts,
  type ClassFacts,
  type Comment,
  type Expr,
  type FuncFacts,
  type ImportFacts,
  type ModuleFacts,
  type StatementCall,
  type SubscriptAssign,
} from '../facts';
import { CODE_FILE, type FileRole } from '../discovery';
import type { LocalFinding } from '../findings';
import { parseSource } from '../parser';
import { runFileRules } from '../scan';
import { computeTaintFacts } from '../taint/index';
import type { FuncSummary, TaintFacts } from '../taint/types';

/**
 * Per-file incremental analysis for open documents. The syntax tree is kept and re-parsed
 * incrementally; the file is cut into its top-level statements ("groups": statements sharing a
 * line are one group), and after an edit only the groups whose text changed go through the
 * per-file pass again (facts, file rules, taint summaries), on the real tree but with the
 * tree's root restricted to those statements. The results of the other groups are kept, their
 * lines shifted. The merged facts are the facts a full pass would give (test/incremental.test.ts
 * checks it on edited real files), with three file-level conditions that make a group's results
 * depend on other groups:
 * - the file rules read the file's imports and module-level assignments (`rulesKey`) and the
 *   statements before the first one a fix may insert an import above: when these change, the
 *   file rules run over the whole file again;
 * - the taint pass reads imports, module-level names, string constants and `self.x = call()`
 *   assignments (`taintKey`): when these change, every function is summarised again;
 * - some file rules test the whole source text for a word before looking at nodes; a word that
 *   appears for the first time can turn such a rule on for an unchanged statement. The editor
 *   runs a full pass when typing pauses (see EngineSession.verifyOpenFiles) to catch that.
 */

interface GroupItems {
  imports: ImportFacts[];
  assigns: AssignFacts[];
  funcs: FuncFacts[];
  classes: ClassFacts[];
  calls: StatementCall[];
  subscriptAssigns: SubscriptAssign[];
  comments: Comment[];
  local: LocalFinding[];
  taintFuncs: FuncSummary[];
  safeFields: [string, string[]][];
  /** `__all__` set in this group (last one), undefined when it sets none. */
  exportsAll: string[] | null | undefined;
  fastapiRelated: boolean;
}

export interface Group {
  /** Top-level nodes of the group in the current tree (valid until the next update). */
  nodes: Node[];
  /** 0-based rows, inclusive. */
  startRow: number;
  endRow: number;
  startIndex: number;
  endIndex: number;
  /** Column where the group starts (0 unless the file is broken). */
  startCol: number;
  /** No syntax error inside. */
  clean: boolean;
  items: GroupItems;
}

/** What the last update did: which groups were recomputed and how old lines map to new ones. */
export interface FileChange {
  mode: 'full' | 'incremental' | 'unchanged';
  /** Groups of the old text that were replaced, with their items as they were. */
  removed: Group[];
  /** Groups of the new text that were recomputed. */
  added: Group[];
  /** Old 1-based line -> new line, or null when the line was in a replaced group. */
  mapLine(line: number): number | null;
  /** The file rules (`local`) and taint summaries were recomputed for the whole file. */
  rulesFull: boolean;
  taintFull: boolean;
  ms: { parse: number; facts: number; rules: number; taint: number; total: number };
}

/** More changed statements than this: one full pass instead. */
const MAX_GROUPS_ALONE = 24;

const EMPTY_CHANGE_MS = { parse: 0, facts: 0, rules: 0, taint: 0, total: 0 };

function emptyItems(): GroupItems {
  return {
    imports: [],
    assigns: [],
    funcs: [],
    classes: [],
    calls: [],
    subscriptAssigns: [],
    comments: [],
    local: [],
    taintFuncs: [],
    safeFields: [],
    exportsAll: undefined,
    fastapiRelated: false,
  };
}

/** Placeholder until a group gets its items (never filled). */
const NO_ITEMS: GroupItems = Object.freeze(emptyItems()) as GroupItems;

/** Top-level statements of a tree, grouped when they share a line. */
function groupsOf(root: Node, source: string): Group[] {
  const out: Group[] = [];
  // Without any error in the tree, every statement is clean (no need to ask each).
  const errors = root.hasError;
  for (const c of root.children) {
    if (!c) continue;
    const start = c.startPosition;
    const end = c.endPosition;
    const startRow = start.row;
    const endRow = end.column === 0 && end.row > startRow ? end.row - 1 : end.row;
    const clean = !errors || (!c.hasError && !c.isMissing);
    const last = out[out.length - 1];
    if (last && startRow <= last.endRow) {
      last.nodes.push(c);
      last.endRow = Math.max(last.endRow, endRow);
      last.endIndex = Math.max(last.endIndex, c.endIndex);
      if (!clean) last.clean = false;
      continue;
    }
    out.push({
      nodes: [c],
      startRow,
      endRow,
      startIndex: c.startIndex,
      endIndex: c.endIndex,
      startCol: start.column,
      clean,
      items: NO_ITEMS,
    });
  }
  void source;
  return out;
}

/** The root node seen through a window: only `nodes` are its children and descendants. */
function restrictedRoot(root: Node, nodes: Node[], children: boolean): Node {
  const descendantsOfType = (types: string | string[]): Node[] => {
    const list = Array.isArray(types) ? types : [types];
    const out: Node[] = [];
    for (const c of nodes) {
      // `descendantsOfType` includes the node itself for some types (ERROR) and not others.
      const below = c.descendantsOfType(list);
      if (list.includes(c.type) && below[0]?.id !== c.id) out.push(c);
      for (const d of below) if (d) out.push(d);
    }
    return out;
  };
  const props: PropertyDescriptorMap = { descendantsOfType: { value: descendantsOfType } };
  if (children) {
    const named = nodes.filter((n) => n.isNamed);
    props.children = { value: nodes };
    props.namedChildren = { value: named };
    props.childCount = { value: nodes.length };
    props.namedChildCount = { value: named.length };
    props.child = { value: (i: number) => nodes[i] ?? null };
    props.namedChild = { value: (i: number) => named[i] ?? null };
    props.firstChild = { value: nodes[0] ?? null };
    props.lastChild = { value: nodes[nodes.length - 1] ?? null };
    props.firstNamedChild = { value: named[0] ?? null };
    props.lastNamedChild = { value: named[named.length - 1] ?? null };
  }
  return Object.create(root, props) as Node;
}

function treeWithRoot(tree: Tree, root: Node): Tree {
  return Object.create(tree, { rootNode: { value: root } }) as Tree;
}

const stubs = new WeakMap<object, object>();

/** A definition seen only for its name (memoized: the same object gives the same stub). */
function stubOf<T extends object>(of: T, make: () => T): T {
  let s = stubs.get(of) as T | undefined;
  if (!s) stubs.set(of, (s = make()));
  return s;
}

/** The objects in a group's items that carry a `line` / `endLine` number, each once. */
interface LineHolders {
  /** The arrays walked, and their lengths then: a part replaced or grown since is walked again. */
  parts: unknown[][];
  lengths: number[];
  line: { line: number }[];
  endLine: { endLine: number }[];
}

/**
 * Holders per group items. A kept group's items are shifted on every edit above it, and the
 * same group is usually shifted again by the next line typed: walking the structure every time
 * (every key of every object) cost 3 to 4 ms per line added above 300 routes; a list of the
 * holders is a tight loop.
 */
const lineHolders = new WeakMap<GroupItems, LineHolders>();

function linePartsOf(it: GroupItems): unknown[][] {
  return [
    it.imports,
    it.assigns,
    it.funcs,
    it.classes,
    it.calls,
    it.subscriptAssigns,
    it.comments,
    it.taintFuncs,
  ];
}

function holdersOf(it: GroupItems): LineHolders {
  const parts = linePartsOf(it);
  const known = lineHolders.get(it);
  if (known && known.parts.every((p, i) => p === parts[i] && p.length === known.lengths[i]))
    return known;
  const out: LineHolders = { parts, lengths: parts.map((p) => p.length), line: [], endLine: [] };
  const seen = new Set<object>();
  const stack: unknown[] = [...parts];
  while (stack.length) {
    const o = stack.pop();
    if (typeof o !== 'object' || o === null) continue;
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) {
        const v: unknown = o[i];
        if (typeof v === 'object' && v !== null) stack.push(v);
      }
      continue;
    }
    if (seen.has(o)) continue;
    seen.add(o);
    const rec = o as Record<string, unknown>;
    for (const k in rec) {
      const v = rec[k];
      if (typeof v === 'number') {
        if (k === 'line') out.line.push(o as { line: number });
        else if (k === 'endLine') out.endLine.push(o as { endLine: number });
      } else if (typeof v === 'object' && v !== null) stack.push(v);
    }
  }
  lineHolders.set(it, out);
  return out;
}

/** Add `delta` to every `line` / `endLine` in a group's items. */
function shiftLines(it: GroupItems, delta: number): void {
  const h = holdersOf(it);
  for (const o of h.line) o.line += delta;
  for (const o of h.endLine) o.endLine += delta;
}

/** Lines a local finding refers to in its own file (span, related, flow, fix edits). */
function findingLines(f: LocalFinding, abs: string, rel: (file: string) => boolean): number[] {
  const lines = [f.line, f.endLine];
  for (const r of f.related ?? []) if (rel(r.file)) lines.push(r.line);
  for (const s of f.flow ?? []) if (rel(s.file)) lines.push(s.line);
  for (const e of f.fix?.edits ?? []) if (e.file === abs) lines.push(e.line, e.endLine);
  return lines;
}

/** Move a local finding's positions in its own file through `map` (all must map). */
function remapFinding(
  f: LocalFinding,
  abs: string,
  sameFile: (file: string) => boolean,
  map: (line: number) => number,
): void {
  f.line = map(f.line);
  f.endLine = map(f.endLine);
  for (const r of f.related ?? []) if (sameFile(r.file)) r.line = map(r.line);
  for (const s of f.flow ?? []) if (sameFile(s.file)) s.line = map(s.line);
  for (const e of f.fix?.edits ?? []) {
    if (e.file !== abs) continue;
    e.line = map(e.line);
    e.endLine = map(e.endLine);
  }
}

/** Expression without positions, for keys. */
export function exprKey(e: Expr | null | undefined): unknown {
  if (!e) return null;
  switch (e.k) {
    case 'name':
      return ['n', e.id];
    case 'attr':
      return ['a', exprKey(e.obj), e.attr];
    case 'call':
      return [
        'c',
        exprKey(e.fn),
        e.args.map(exprKey),
        Object.entries(e.kw).map(([k, v]) => [k, exprKey(v)]),
        e.splat,
        e.text,
      ];
    case 'str':
      return ['s', e.v, e.fstring];
    case 'num':
      return ['#', e.v];
    case 'bool':
      return ['b', e.v];
    case 'none':
      return ['0'];
    case 'list':
      return ['l', e.items.map(exprKey)];
    case 'sub':
      return ['[', exprKey(e.obj), e.idx.map(exprKey)];
    case 'binop':
      return ['o', e.op, exprKey(e.l), exprKey(e.r)];
    case 'other':
      return ['?', e.text];
  }
}

function importsKey(facts: ModuleFacts): unknown[] {
  return facts.imports.map((i) => [i.scope, i.local, i.module, i.level, i.name, i.fullModule]);
}

/** What the file rules read beyond the statements they report on. */
function rulesKey(facts: ModuleFacts, groups: Group[], source: string): string {
  // A fix adding an import inserts it above the first statement that is not the docstring or a
  // `__future__` import: the text up to that statement decides where.
  let header = '';
  for (const g of groups) {
    header += `${g.startCol}\0${source.slice(g.startIndex, g.endIndex)}\0`;
    const first = g.nodes[0];
    const docstring =
      first.type === 'expression_statement' &&
      first.namedChildCount === 1 &&
      first.namedChild(0)?.type === 'string';
    if (first.type !== 'comment' && !docstring && first.type !== 'future_import_statement') break;
  }
  return JSON.stringify([
    importsKey(facts),
    facts.assigns.filter((a) => a.scope === '').map((a) => [a.target, exprKey(a.value), a.iter]),
    header,
  ]);
}

/**
 * What the taint pass reads from the whole file (its FileCtx): of a `x = call(...)` at module
 * level or `self.x = call(...)`, only what is called and its `autoescape` argument (the kind of
 * object it makes), so that editing a router's or app's arguments does not summarise every
 * function again.
 */
function taintKey(facts: ModuleFacts): string {
  return JSON.stringify([
    importsKey(facts),
    facts.funcs.filter((f) => f.scope === '' && !f.className).map((f) => f.name),
    facts.classes.filter((c) => c.scope === '').map((c) => c.name),
    facts.assigns
      .filter(
        (a) =>
          (a.scope === '' && a.value.k === 'str') ||
          (a.value.k === 'call' && (a.scope === '' || a.target.startsWith('self.'))),
      )
      .map((a) => [
        a.scope === '' ? '' : 's',
        a.target,
        a.value.k === 'call'
          ? ['c', exprKey(a.value.fn), exprKey(a.value.kw.autoescape)]
          : exprKey(a.value),
      ]),
  ]);
}

/** A line a taint summary records something at (its sinks, returns, calls or evals). */
function summaryLine(s: FuncSummary): number | null {
  return s.sinks[0]?.line ?? s.rets[0]?.line ?? s.calls[0]?.line ?? s.evals[0]?.line ?? null;
}

export class FileState {
  private constructor(
    readonly abs: string,
    public source: string,
    private tree: Tree,
    public groups: Group[],
    public facts: ModuleFacts,
    /** Positions can be attributed to groups (else every update is a full pass). */
    private partitioned: boolean,
    private taintPartitioned: boolean,
    private rulesKeyValue: string,
    private taintKeyValue: string,
  ) {}

  /** Test code or documentation examples (discovery.ts fileRole): kept in every facts object. */
  private get role(): FileRole {
    return { test: this.facts.test, docs: this.facts.docs };
  }

  /** Full pass over a text (what factsFor does), keeping the tree for later edits. */
  static create(
    parser: Parser,
    abs: string,
    source: string,
    role: FileRole = CODE_FILE,
  ): FileState {
    const tree = parseSource(parser, source);
    try {
      const facts = extractFacts(abs, tree, source, undefined, role);
      facts.local = runFileRules(abs, source, tree, facts);
      facts.taint = computeTaintFacts(tree, facts);
      const groups = groupsOf(tree.rootNode, source);
      const state = new FileState(abs, source, tree, groups, facts, false, false, '', '');
      state.partitionAll();
      return state;
    } catch (err) {
      tree.delete();
      throw err;
    }
  }

  dispose(): void {
    try {
      this.tree.delete();
    } catch {
      // The tree's WebAssembly instance trapped (parser.ts): its heap is abandoned anyway.
    }
  }

  /** Replace items by others (the warm path keeps the objects the analysis points at). */
  substitute(map: Map<object, object>): void {
    if (map.size === 0) return;
    const swap = <T>(list: T[]): void => {
      for (let i = 0; i < list.length; i++) {
        const to = map.get(list[i] as object);
        if (to) list[i] = to as T;
      }
    };
    for (const g of this.groups) {
      const it = g.items;
      swap(it.imports);
      swap(it.assigns);
      swap(it.funcs);
      swap(it.classes);
      swap(it.calls);
      swap(it.comments);
    }
    const f = this.facts;
    swap(f.imports);
    swap(f.assigns);
    swap(f.funcs);
    swap(f.classes);
    swap(f.calls);
    swap(f.comments);
  }

  /** Take facts computed elsewhere for the same text (no pass needed), keeping the tree. */
  static adopt(parser: Parser, abs: string, source: string, facts: ModuleFacts): FileState {
    const tree = parseSource(parser, source);
    const groups = groupsOf(tree.rootNode, source);
    const state = new FileState(abs, source, tree, groups, facts, false, false, '', '');
    state.partitionAll();
    return state;
  }

  /** Attribute the facts of a full pass to the groups. */
  private partitionAll(): void {
    const facts = this.facts;
    for (const g of this.groups) g.items = emptyItems();
    const find = this.groupFinder();
    let ok = true;
    const put = <K extends keyof GroupItems>(key: K, items: { line: number }[]): void => {
      for (const item of items) {
        const g = find(item.line);
        if (!g) {
          ok = false;
          continue;
        }
        (g.items[key] as unknown[]).push(item);
      }
    };
    put('imports', facts.imports);
    put('assigns', facts.assigns);
    put('funcs', facts.funcs);
    put('classes', facts.classes);
    put('calls', facts.calls);
    put('subscriptAssigns', facts.subscriptAssigns);
    put('comments', facts.comments);
    put('local', facts.local);
    this.taintPartitioned = this.partitionTaint(facts.taint);
    for (const g of this.groups) {
      g.items.fastapiRelated = g.items.imports.some((i) => /^(fastapi|starlette)\b/.test(i.module));
      // `__all__` is rare: ask the extractor what the group sets.
      if (g.clean && this.source.slice(g.startIndex, g.endIndex).includes('__all__')) {
        const set = this.extractGroup(g).exportsAll;
        g.items.exportsAll = set === null ? undefined : set;
      }
    }
    this.partitioned = ok && this.mergedMatches(facts);
    this.rulesKeyValue = rulesKey(facts, this.groups, this.source);
    this.taintKeyValue = taintKey(facts);
  }

  private partitionTaint(taint: TaintFacts | undefined): boolean {
    if (!taint) return false;
    const find = this.groupFinder();
    const byQual = new Map<string, FuncFacts[]>();
    for (const fn of this.facts.funcs) {
      const list = byQual.get(fn.qualname);
      if (list) list.push(fn);
      else byQual.set(fn.qualname, [fn]);
    }
    for (const s of taint.funcs) {
      const defs = byQual.get(s.q) ?? [];
      // Defs sharing a qualname (a property and its setter, `@overload`s, a handler name used
      // twice): the summary belongs to the def whose lines hold what it records.
      const line = defs.length > 1 ? summaryLine(s) : null;
      const fn =
        defs.length === 1
          ? defs[0]
          : line === null
            ? undefined
            : defs.find((d) => d.line <= line && line <= d.endLine);
      const g = fn ? find(fn.line) : null;
      if (!g) return false;
      g.items.taintFuncs.push(s);
    }
    const clsByQual = new Map<string, ClassFacts | null>();
    for (const c of this.facts.classes)
      clsByQual.set(c.qualname, clsByQual.has(c.qualname) ? null : c);
    for (const [q, fields] of Object.entries(taint.safeFields)) {
      const c = clsByQual.get(q);
      const g = c ? find(c.line) : null;
      if (!g) return false;
      g.items.safeFields.push([q, fields]);
    }
    return true;
  }

  /** The file-level values computed from groups agree with the full pass. */
  private mergedMatches(facts: ModuleFacts): boolean {
    const m = this.mergeItems();
    return (
      m.fastapiRelated === facts.fastapiRelated &&
      JSON.stringify(m.exportsAll) === JSON.stringify(facts.exportsAll) &&
      m.parseErrors === facts.parseErrors
    );
  }

  private groupFinder(): (line: number) => Group | null {
    const groups = this.groups;
    return (line: number) => {
      const row = line - 1;
      let lo = 0;
      let hi = groups.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const g = groups[mid];
        if (row < g.startRow) hi = mid - 1;
        else if (row > g.endRow) lo = mid + 1;
        else return g;
      }
      return null;
    };
  }

  /** Facts of one group alone (the root restricted to its statements). */
  private extractGroup(g: Group): ModuleFacts {
    const root = restrictedRoot(this.tree.rootNode, g.nodes, true);
    return extractFacts(this.abs, treeWithRoot(this.tree, root), this.source, undefined, this.role);
  }

  private mergeItems(): Omit<ModuleFacts, 'file' | 'lineCount'> {
    const m = {
      imports: [] as ImportFacts[],
      assigns: [] as AssignFacts[],
      funcs: [] as FuncFacts[],
      classes: [] as ClassFacts[],
      calls: [] as StatementCall[],
      subscriptAssigns: [] as SubscriptAssign[],
      comments: [] as Comment[],
      local: [] as LocalFinding[],
      exportsAll: null as string[] | null,
      fastapiRelated: false,
      test: this.facts.test,
      docs: this.facts.docs,
      parseErrors: 0,
      taint: { funcs: [], safeFields: {} } as TaintFacts,
    };
    for (const g of this.groups) {
      const it = g.items;
      for (const x of it.imports) m.imports.push(x);
      for (const x of it.assigns) m.assigns.push(x);
      for (const x of it.funcs) m.funcs.push(x);
      for (const x of it.classes) m.classes.push(x);
      for (const x of it.calls) m.calls.push(x);
      for (const x of it.subscriptAssigns) m.subscriptAssigns.push(x);
      for (const x of it.comments) m.comments.push(x);
      for (const x of it.local) m.local.push(x);
      for (const x of it.taintFuncs) m.taint.funcs.push(x);
      for (const [q, f] of it.safeFields) m.taint.safeFields[q] = f;
      if (it.exportsAll !== undefined) m.exportsAll = it.exportsAll;
      m.fastapiRelated ||= it.fastapiRelated;
    }
    m.parseErrors = this.parseErrors();
    return m;
  }

  /**
   * ERROR nodes of the tree, as the full pass counts them (`descendantsOfType('ERROR')` of the
   * root, at least 1 when it has an error), searched only in groups that have errors: while a
   * statement is being typed the tree has errors, and a search of the whole tree is a WASM walk
   * of every node on every keystroke.
   */
  private parseErrors(): number {
    const root = this.tree.rootNode;
    if (!root.hasError) return 0;
    if (root.type === 'ERROR') return root.descendantsOfType('ERROR').length || 1;
    let count = 0;
    for (const g of this.groups) {
      if (g.clean) continue;
      for (const c of g.nodes) {
        // `descendantsOfType` includes the node itself for some types (ERROR) and not others.
        const below = c.descendantsOfType('ERROR');
        count += below.length;
        if (c.type === 'ERROR' && below[0]?.id !== c.id) count++;
      }
    }
    return count || 1;
  }

  /**
   * The document's text changed: re-parse incrementally and re-analyse the statements that
   * changed. Returns what changed; `facts` is the new facts object.
   */
  update(parser: Parser, next: string): FileChange {
    const t0 = performance.now();
    const prev = this.source;
    if (next === prev)
      return {
        mode: 'unchanged',
        removed: [],
        added: [],
        mapLine: (l) => l,
        rulesFull: false,
        taintFull: false,
        ms: EMPTY_CHANGE_MS,
      };
    // The edit as one range: common prefix and suffix of the two texts.
    const min = Math.min(prev.length, next.length);
    let p = commonPrefix(prev, next, min);
    // parseSource reads a lone CR as a newline: a CR just before the edit ends a line or not
    // depending on the character after it, which the edit may change. Start the edit at it.
    if (p > 0 && prev.charCodeAt(p - 1) === 13) p--;
    const s = commonSuffix(prev, next, min - p);
    const oldEnd = prev.length - s;
    const newEnd = next.length - s;
    this.tree.edit(
      new Edit({
        startIndex: p,
        oldEndIndex: oldEnd,
        newEndIndex: newEnd,
        startPosition: pointAt(prev, p),
        oldEndPosition: pointAt(prev, oldEnd),
        newEndPosition: pointAt(next, newEnd),
      }),
    );
    const oldTree = this.tree;
    const tree = parseSource(parser, next, oldTree);
    oldTree.delete();
    this.tree = tree;
    this.source = next;
    const tParse = performance.now();

    const oldGroups = this.groups;
    const newGroups = groupsOf(tree.rootNode, next);
    this.groups = newGroups;
    if (!this.partitioned) return this.fullPass(oldGroups, t0, tParse);

    // Unchanged groups: same text at the same place before the edit, or at the same distance
    // from the end after it, and clean in both trees.
    const before = new Map<number, Group>();
    const after = new Map<number, Group>();
    for (const o of oldGroups) {
      if (!o.clean) continue;
      if (o.endIndex <= p) before.set(o.startIndex, o);
      else if (o.startIndex >= oldEnd) after.set(prev.length - o.startIndex, o);
    }
    const keptOld = new Map<Group, Group>();
    for (const n of newGroups) {
      if (!n.clean) continue;
      const o =
        n.endIndex <= p
          ? before.get(n.startIndex)
          : n.startIndex >= newEnd
            ? after.get(next.length - n.startIndex)
            : undefined;
      // Same place and length before the edit, or after it: the same text.
      if (o && o.endIndex - o.startIndex === n.endIndex - n.startIndex && o.startCol === n.startCol)
        keptOld.set(o, n);
    }
    const oldFinder = groupFinderOf(oldGroups);
    const mapLine = (line: number): number | null => {
      const g = oldFinder(line);
      if (!g) {
        // A line between groups (blank, or a comment-free gap): maps when both neighbours do.
        return null;
      }
      const n = keptOld.get(g);
      return n ? line + (n.startRow - g.startRow) : null;
    };
    // Local findings of kept groups must only point at kept lines (a fix inserting an import
    // above the first statement, related information): otherwise recompute their group too.
    const sameFile = (file: string) => file === this.abs;
    let demoted = true;
    while (demoted) {
      demoted = false;
      for (const [o] of keptOld) {
        const bad = o.items.local.some(
          (f) =>
            (f.related?.length || f.flow?.length || f.fix) &&
            findingLines(f, this.abs, sameFile).some((l) => mapLine(l) === null),
        );
        if (bad) {
          keptOld.delete(o);
          demoted = true;
        }
      }
    }
    const removed = oldGroups.filter((g) => !keptOld.has(g));
    const keptNew = new Set(keptOld.values());
    const added = newGroups.filter((g) => !keptNew.has(g));
    // Each group analysed alone has a fixed cost: past a few dozen, one pass over all is cheaper.
    if (added.length > MAX_GROUPS_ALONE) return this.fullPass(oldGroups, t0, tParse);

    // Kept groups take their items along, lines shifted (in place).
    for (const [o, n] of keptOld) {
      n.items = o.items;
      const delta = n.startRow - o.startRow;
      if (delta !== 0) shiftLines(n.items, delta);
    }
    for (const [o, n] of keptOld) {
      void o;
      for (const f of n.items.local)
        remapFinding(f, this.abs, sameFile, (l) => mapLine(l) as number);
    }

    // Changed groups: facts first (each alone), then the file-level merge, rules, taint.
    for (const g of added) {
      const f = this.extractGroup(g);
      const inGroup = (line: number) => line - 1 >= g.startRow && line - 1 <= g.endRow;
      g.items = {
        ...emptyItems(),
        imports: f.imports.filter((x) => inGroup(x.line)),
        assigns: f.assigns.filter((x) => inGroup(x.line)),
        funcs: f.funcs.filter((x) => inGroup(x.line)),
        classes: f.classes.filter((x) => inGroup(x.line)),
        calls: f.calls.filter((x) => inGroup(x.line)),
        subscriptAssigns: f.subscriptAssigns.filter((x) => inGroup(x.line)),
        comments: f.comments.filter((x) => inGroup(x.line)),
        exportsAll: f.exportsAll === null ? undefined : f.exportsAll,
        fastapiRelated: f.fastapiRelated,
      };
    }
    const tFacts = performance.now();
    const merged = this.mergeItems();
    const facts: ModuleFacts = {
      file: this.abs,
      imports: merged.imports,
      assigns: merged.assigns,
      funcs: merged.funcs,
      classes: merged.classes,
      calls: merged.calls,
      subscriptAssigns: merged.subscriptAssigns,
      comments: merged.comments,
      exportsAll: merged.exportsAll,
      fastapiRelated: merged.fastapiRelated,
      test: merged.test,
      docs: merged.docs,
      lineCount: tree.rootNode.endPosition.row + 1,
      parseErrors: merged.parseErrors,
      local: [],
    };

    // File rules.
    const rk = rulesKey(facts, newGroups, next);
    const rulesFull = rk !== this.rulesKeyValue;
    this.rulesKeyValue = rk;
    if (rulesFull) {
      const local = runFileRules(this.abs, next, tree, facts);
      const find = this.groupFinder();
      for (const g of newGroups) g.items.local = [];
      for (const f of local) {
        const g = find(f.line);
        if (g) g.items.local.push(f);
        else this.partitioned = false;
      }
    } else {
      for (const g of added) {
        const root = restrictedRoot(tree.rootNode, g.nodes, false);
        const local = runFileRules(this.abs, next, treeWithRoot(tree, root), facts);
        g.items.local = local.filter((f) => f.line - 1 >= g.startRow && f.line - 1 <= g.endRow);
      }
    }
    const tRules = performance.now();

    // Taint summaries.
    const tk = taintKey(facts);
    const taintFull = tk !== this.taintKeyValue || !this.taintPartitioned;
    this.taintKeyValue = tk;
    let taint: TaintFacts;
    if (taintFull) {
      taint = computeTaintFacts(tree, facts);
      for (const g of newGroups) {
        g.items.taintFuncs = [];
        g.items.safeFields = [];
      }
      this.facts = facts;
      this.taintPartitioned = this.partitionTaint(taint);
    } else {
      for (const g of added) {
        const inGroup = (line: number) => line - 1 >= g.startRow && line - 1 <= g.endRow;
        const funcs = facts.funcs.filter((f) => inGroup(f.line));
        const classes = facts.classes.filter((c) => inGroup(c.line));
        const own = new Set<object>([...funcs, ...classes]);
        // The other definitions count for the file context (names defined in the module)
        // but are not summarised again: no parameters, no bases.
        const scoped: ModuleFacts = {
          ...facts,
          funcs: [
            ...funcs,
            ...facts.funcs
              .filter((f) => !own.has(f) && f.scope === '' && !f.className)
              .map((f) => stubOf(f, () => ({ ...f, params: [] }))),
          ],
          classes: [
            ...classes,
            ...facts.classes
              .filter((c) => !own.has(c) && c.scope === '')
              .map((c) => stubOf(c, () => ({ ...c, bases: [] }))),
          ],
        };
        const root = restrictedRoot(tree.rootNode, g.nodes, false);
        const t = computeTaintFacts(treeWithRoot(tree, root), scoped);
        const quals = new Set(funcs.map((f) => f.qualname));
        g.items.taintFuncs = t.funcs.filter((s) => quals.has(s.q));
        const cquals = new Set(classes.map((c) => c.qualname));
        g.items.safeFields = Object.entries(t.safeFields).filter(([q]) => cquals.has(q));
        // Summaries are per def, so defs sharing a qualname are fine; safe fields are by class
        // qualname, so two classes of one name are not.
        if (cquals.size !== classes.length) this.taintPartitioned = false;
      }
      taint = { funcs: [], safeFields: {} };
      for (const g of newGroups) {
        for (const x of g.items.taintFuncs) taint.funcs.push(x);
        for (const [q, f] of g.items.safeFields) taint.safeFields[q] = f;
      }
    }
    const tTaint = performance.now();

    const local: LocalFinding[] = [];
    for (const g of newGroups) for (const f of g.items.local) local.push(f);
    facts.local = local;
    facts.taint = taint;
    this.facts = facts;
    return {
      mode: 'incremental',
      removed,
      added,
      mapLine,
      rulesFull,
      taintFull,
      ms: {
        parse: tParse - t0,
        facts: tFacts - tParse,
        rules: tRules - tFacts,
        taint: tTaint - tRules,
        total: tTaint - t0,
      },
    };
  }

  /** Everything again on the new tree (the groups could not be trusted). */
  private fullPass(oldGroups: Group[], t0: number, tParse: number): FileChange {
    const tree = this.tree;
    const facts = extractFacts(this.abs, tree, this.source, undefined, this.role);
    const tFacts = performance.now();
    facts.local = runFileRules(this.abs, this.source, tree, facts);
    const tRules = performance.now();
    facts.taint = computeTaintFacts(tree, facts);
    const tTaint = performance.now();
    this.facts = facts;
    this.partitionAll();
    return {
      mode: 'full',
      removed: oldGroups,
      added: this.groups,
      mapLine: () => null,
      rulesFull: true,
      taintFull: true,
      ms: {
        parse: tParse - t0,
        facts: tFacts - tParse,
        rules: tRules - tFacts,
        taint: tTaint - tRules,
        total: tTaint - t0,
      },
    };
  }
}

function groupFinderOf(groups: Group[]): (line: number) => Group | null {
  return (line: number) => {
    const row = line - 1;
    let lo = 0;
    let hi = groups.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const g = groups[mid];
      if (row < g.startRow) hi = mid - 1;
      else if (row > g.endRow) lo = mid + 1;
      else return g;
    }
    return null;
  };
}

/** Compared a block at a time (native string comparison) before a character at a time. */
const BLOCK = 256;

/** Length of the common prefix of two texts (at most `max`). */
export function commonPrefix(a: string, b: string, max: number): number {
  let p = 0;
  while (p + BLOCK <= max && a.slice(p, p + BLOCK) === b.slice(p, p + BLOCK)) p += BLOCK;
  while (p < max && a.charCodeAt(p) === b.charCodeAt(p)) p++;
  return p;
}

/** Length of the common suffix of two texts (at most `max`). */
export function commonSuffix(a: string, b: string, max: number): number {
  let s = 0;
  const al = a.length;
  const bl = b.length;
  while (s + BLOCK <= max && a.slice(al - s - BLOCK, al - s) === b.slice(bl - s - BLOCK, bl - s))
    s += BLOCK;
  while (s < max && a.charCodeAt(al - 1 - s) === b.charCodeAt(bl - 1 - s)) s++;
  return s;
}

const LINE_BREAK = /\r\n|\r|\n/g;

/**
 * Row and UTF-16 column of a string index in the text as the parser reads it: parseSource hands
 * it lone CRs as newlines, so lines end at \n, \r\n and a lone \r (the tree's rows count them).
 */
export function pointAt(text: string, index: number): { row: number; column: number } {
  let row = 0;
  let lineStart = 0;
  if (index === 0 || text.lastIndexOf('\r', index - 1) < 0) {
    // No CR before the index (most files): count the newlines.
    for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) {
      row++;
      lineStart = i + 1;
    }
    return { row, column: index - lineStart };
  }
  LINE_BREAK.lastIndex = 0;
  // A break counts once its last character is before `index` (the CR of a CRLF is a column).
  for (
    let m = LINE_BREAK.exec(text);
    m && m.index + m[0].length - 1 < index;
    m = LINE_BREAK.exec(text)
  ) {
    row++;
    lineStart = m.index + m[0].length;
  }
  return { row, column: index - lineStart };
}
