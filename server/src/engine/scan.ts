import * as path from 'node:path';
import type { Node, Tree } from 'web-tree-sitter';
import type {
  FileContext,
  FileReport,
  Rule,
  RuleMeta,
  RuleSettings,
  WorkspaceContext,
  WorkspaceReport,
  WorkspaceRule,
} from '../../../rules/api';
import { RULES } from '../../../rules/index';
import { FileNodes, type ModuleFacts } from './facts';
import { lowerSeverity, type Finding, type LocalFinding, type Severity } from './findings';
import type { Analysis } from './index';
import type { RouteRecord } from './routes';
import type { Exposure } from './types';
import type { WorkspaceFile } from './workspace';

/**
 * Scanning: file rules run while a file's tree is alive (their findings are part of the
 * file's facts), workspace rules run over the model, then findings are tied to routes, weighed
 * by exposure, filtered by configuration and suppression comments, and fingerprinted.
 */

export interface EffectiveConfig {
  select: string[] | null;
  ignore: string[];
  severity: Record<string, Severity>;
  /** Codes ignored for this file by `per-file-ignores`. */
  fileIgnores: string[];
  publicRoutes: string[];
  authDependencies: string[];
}

export const DEFAULT_CONFIG: EffectiveConfig = {
  select: null,
  ignore: [],
  severity: {},
  fileIgnores: [],
  publicRoutes: [],
  authDependencies: [],
};

/** Gives the configuration that applies to a file (nearest pyproject.toml, CLI flags merged). */
export interface ConfigResolver {
  forFile(abs: string): EffectiveConfig;
}

let byCode: Map<string, Rule> | null = null;

/**
 * Registered rules by code. Built on first use, not at module load: rules import this module,
 * so a program that imports `rules/index` first would otherwise see RULES still undefined.
 */
export function rulesByCode(): Map<string, Rule> {
  if (!byCode) byCode = new Map(RULES.map((r) => [r.meta.code, r]));
  return byCode;
}

export function ruleMeta(code: string): RuleMeta | undefined {
  return rulesByCode().get(code)?.meta;
}

/**
 * Whether a file rule's finding is final once its file alone is known: the rule does not weigh
 * it by exposure, and it is outside every function. Code in a function may turn out to run in a
 * route handler (registered from any file); such a finding then names the route, and a comment
 * on the route's line can suppress it. At module level no route can own it (routeForFunction).
 */
export function isFileLocal(lf: LocalFinding): boolean {
  if (lf.fn !== null || lf.exposureSensitive) return false;
  const rule = rulesByCode().get(lf.code);
  return rule !== undefined && rule.kind === 'file' && !rule.meta.exposureSensitive;
}

/** Qualname of the function enclosing a node, built from the def/class names around it. */
export function enclosingFunction(node: Node): string | null {
  const parts: { name: string; kind: 'fn' | 'cls' }[] = [];
  let n: Node | null = node.parent;
  let inFunction = false;
  while (n) {
    if (n.type === 'function_definition' || n.type === 'class_definition') {
      const name = n.childForFieldName('name')?.text ?? '';
      const kind = n.type === 'function_definition' ? 'fn' : 'cls';
      if (kind === 'fn') inFunction = true;
      parts.unshift({ name, kind });
    }
    n = n.parent;
  }
  if (!inFunction) return null;
  // Drop trailing classes (code in a class body inside a function belongs to that function).
  while (parts.length && parts[parts.length - 1].kind === 'cls') parts.pop();
  let q = '';
  parts.forEach((p, i) => {
    if (i === 0) q = p.name;
    else q += parts[i - 1].kind === 'fn' ? `.<locals>.${p.name}` : `.${p.name}`;
  });
  return q || null;
}

/**
 * `enclosingFunction` over the file's def and class nodes, collected once: a binary search and a
 * walk up their nesting, instead of `Node.parent` steps (each one a walk down from the root in
 * tree-sitter, so quadratic in the depth of deeply nested expressions).
 */
function enclosingFunctionIndex(nodes: FileNodes): (node: Node) => string | null {
  let defs: { start: number; end: number; node: Node; parent: number }[] | null = null;
  const build = (): NonNullable<typeof defs> => {
    const all = [...nodes.ofType('function_definition'), ...nodes.ofType('class_definition')]
      .map((node) => ({
        start: node.startIndex,
        end: node.endIndex,
        node,
        parent: -1,
      }))
      .sort((a, b) => a.start - b.start || b.end - a.end);
    const open: number[] = [];
    all.forEach((d, i) => {
      while (open.length && all[open[open.length - 1]].end <= d.start) open.pop();
      d.parent = open.length ? open[open.length - 1] : -1;
      open.push(i);
    });
    return all;
  };
  return (node: Node): string | null => {
    const start = node.startIndex;
    const end = node.endIndex;
    // A zero-width node (inserted by error recovery) at a def's edge: only its parents know.
    if (start === end) return enclosingFunction(node);
    defs ??= build();
    let lo = 0;
    let hi = defs.length - 1;
    let k = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (defs[mid].start <= start) {
        k = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const chain: Node[] = [];
    for (; k >= 0; k = defs[k].parent) {
      const d = defs[k];
      // A def spanning exactly the node is the node itself or inside it (a class body's
      // `block` that holds one method): no def or class has a child covering all of it.
      if (d.start <= start && end <= d.end && (d.start < start || end < d.end)) chain.push(d.node);
    }
    const parts = chain.reverse().map((n) => ({
      name: n.childForFieldName('name')?.text ?? '',
      kind: n.type === 'function_definition' ? ('fn' as const) : ('cls' as const),
    }));
    return qualnameOf(parts);
  };
}

function qualnameOf(parts: { name: string; kind: 'fn' | 'cls' }[]): string | null {
  if (!parts.some((p) => p.kind === 'fn')) return null;
  // Drop trailing classes (code in a class body inside a function belongs to that function).
  while (parts.length && parts[parts.length - 1].kind === 'cls') parts.pop();
  let q = '';
  parts.forEach((p, i) => {
    if (i === 0) q = p.name;
    else q += parts[i - 1].kind === 'fn' ? `.<locals>.${p.name}` : `.${p.name}`;
  });
  return q || null;
}

/** Run every file rule over one parsed file. Rule errors become findings-free, never throws. */
export function runFileRules(
  file: string,
  source: string,
  tree: Tree,
  facts: ModuleFacts,
  shared?: FileNodes,
): LocalFinding[] {
  const out: LocalFinding[] = [];
  const root = tree.rootNode;
  const nodes = shared ?? new FileNodes(root);
  const enclosing = enclosingFunctionIndex(nodes);
  let current: RuleMeta | null = null;
  const ctx: FileContext = {
    file,
    source,
    root,
    facts,
    nodesOfType(type: string): Node[] {
      return nodes.ofType(type);
    },
    nodesIn(node: Node, type: string): Node[] {
      return nodes.within(type, node.startIndex, node.endIndex);
    },
    enclosingFunction: enclosing,
    report(r: FileReport): void {
      if (!current) return;
      const node = r.node;
      const line = r.line ?? (node ? node.startPosition.row + 1 : 1);
      out.push({
        code: current.code,
        message: r.message,
        line,
        column: r.column ?? (node ? node.startPosition.column : 0),
        endLine: r.endLine ?? (node ? node.endPosition.row + 1 : line),
        endColumn: r.endColumn ?? (node ? node.endPosition.column : 0),
        fn: node ? enclosing(node) : null,
        exposureSensitive: current.exposureSensitive,
        severity: r.severity,
        fix: r.fix,
        related: r.related,
        flow: r.flow,
      });
    },
  };
  for (const rule of RULES) {
    if (rule.kind !== 'file') continue;
    current = rule.meta;
    try {
      rule.checkFile(ctx);
    } catch (err) {
      // A rule bug must not lose the other rules' findings or the file's routes.
      out.push({
        code: 'LENS000',
        message: `internal error in ${rule.meta.code}: ${err instanceof Error ? err.message : String(err)}`,
        line: 1,
        column: 0,
        endLine: 1,
        endColumn: 0,
        fn: null,
        exposureSensitive: false,
        severity: 'info',
      });
    }
  }
  current = null;
  return out;
}

const EXPOSURE_RANK: Record<Exposure, number> = {
  public: 4,
  unknown: 3,
  middleware: 2,
  authenticated: 1,
  scoped: 0,
};

export function exposureRank(e: Exposure): number {
  return EXPOSURE_RANK[e];
}

/** `rel#qualname` of each record's handler (records are reused by the next analyses). */
const handlerKeys = new WeakMap<RouteRecord, string>();

/** Routes by handler (`rel#qualname`), most exposed first. */
export function routesByHandler(records: RouteRecord[]): Map<string, RouteRecord[]> {
  const map = new Map<string, RouteRecord[]>();
  for (const r of records) {
    if (!r.handler) continue;
    let key = handlerKeys.get(r);
    if (key === undefined) {
      key = `${r.handler.file.rel}#${r.handler.fn.qualname}`;
      handlerKeys.set(r, key);
    }
    const list = map.get(key);
    if (list) list.push(r);
    else map.set(key, [r]);
  }
  for (const list of map.values())
    if (list.length > 1)
      list.sort((a, b) => EXPOSURE_RANK[b.route.exposure] - EXPOSURE_RANK[a.route.exposure]);
  return map;
}

/** The route running a function: itself a handler, or nested in one. */
export function routeForFunction(
  byHandler: Map<string, RouteRecord[]>,
  rel: string,
  fn: string | null,
): RouteRecord | null {
  let q = fn;
  while (q) {
    const hit = byHandler.get(`${rel}#${q}`);
    if (hit) return hit[0];
    const i = q.lastIndexOf('.<locals>.');
    if (i < 0) break;
    q = q.slice(0, i);
  }
  return null;
}

/** Severity on a public route is the rule's; behind auth or outside any route, one lower. */
export function severityFor(
  base: Severity,
  exposureSensitive: boolean,
  exposure: Exposure | null,
): Severity {
  if (!exposureSensitive) return base;
  if (exposure === 'public' || exposure === 'unknown') return base;
  return lowerSeverity(base);
}

const fingerprints = new Map<string, string>();

/** A finding's fingerprint: FNV-1a over code points of code, file, function and line text (memoized). */
export function fingerprint(
  code: string,
  rel: string,
  fn: string | null,
  lineText: string,
): string {
  const norm = lineText.replace(/\s+/g, ' ').trim();
  const text = `${code}|${rel}|${fn ?? ''}|${norm}`;
  const known = fingerprints.get(text);
  if (known) return known;
  let h = 2166136261;
  for (let i = 0; i < text.length;) {
    const cp = text.codePointAt(i) as number;
    h ^= cp;
    h = Math.imul(h, 16777619) >>> 0;
    i += cp > 0xffff ? 2 : 1;
  }
  const out = h.toString(16).padStart(8, '0');
  if (fingerprints.size > 100_000) fingerprints.clear();
  fingerprints.set(text, out);
  return out;
}

/**
 * `# fastapi-lens: ignore[AUTH001,INJ002] reason` on one of `lines` suppresses those codes. A
 * bare `# fastapi-lens: ignore` (no codes) suppresses every code (`*`), but only on `bareLines`:
 * scanAnalysis passes the finding's own line, so a bare comment on a route's decorator cannot
 * hide findings in the handler's body.
 */
export function suppressedCodes(
  comments: { line: number; text: string }[],
  lines: number[],
  bareLines: number[] = lines,
): Set<string> {
  const codes = new Set<string>();
  for (const c of comments) {
    if (!lines.includes(c.line)) continue;
    const m = /fastapi-lens:\s*ignore(?![\w-])(?:\s*\[([^\]]*)\])?/.exec(c.text);
    if (!m) continue;
    if (m[1] === undefined) {
      if (bareLines.includes(c.line)) codes.add('*');
    } else for (const code of m[1].split(/[\s,]+/)) if (code) codes.add(code.toUpperCase());
  }
  return codes;
}

/** Whether a rule code is selected by a file's configuration. */
export function enabled(code: string, cfg: EffectiveConfig): boolean {
  const matches = (sel: string): boolean => sel === 'ALL' || code === sel || code.startsWith(sel);
  if (cfg.select && !cfg.select.some(matches)) return false;
  if (cfg.ignore.some(matches)) return false;
  if (cfg.fileIgnores.some(matches)) return false;
  return true;
}

export interface RawFinding {
  finding: Omit<Finding, 'fingerprint'>;
  /** Enclosing function of a file-rule finding (part of the fingerprint). */
  fn: string | null;
  /** Code of the rule that reported it (for LENS000, the rule that failed). */
  rule: string;
  /** The route it is reported on (`finding.route`), when there is one. */
  owner?: RouteRecord;
}

/** Settings the workspace rules see: the union over the configurations of every file. */
/**
 * The last settings made with each resolver and the files they were made for: a resolver's
 * answer for a path does not change (new configuration comes with a new resolver), and the
 * editor asks again after every edit that changes the route graph.
 */
const settingsMade = new WeakMap<
  ConfigResolver,
  { files: WorkspaceFile[]; settings: RuleSettings }
>();

export function ruleSettings(analysis: Analysis, config: ConfigResolver): RuleSettings {
  const made = settingsMade.get(config);
  if (
    made &&
    made.files.length === analysis.files.length &&
    made.files.every((f, i) => f.abs === analysis.files[i].abs)
  )
    return made.settings;
  const settings = settingsOf(analysis, config);
  settingsMade.set(config, { files: analysis.files, settings });
  return settings;
}

function settingsOf(analysis: Analysis, config: ConfigResolver): RuleSettings {
  const publicRoutes = new Set<string>();
  const authDependencies = new Set<string>();
  const seen = new Set<EffectiveConfig>();
  for (const f of analysis.files) {
    const cfg = config.forFile(f.abs);
    if (seen.has(cfg)) continue;
    seen.add(cfg);
    for (const g of cfg.publicRoutes) publicRoutes.add(g);
    for (const a of cfg.authDependencies) authDependencies.add(a);
  }
  return { publicRoutes: [...publicRoutes], authDependencies: [...authDependencies] };
}

/** Run one workspace rule over a context; its reports (or its failure) as raw findings. */
export function runWorkspaceRule(
  rule: WorkspaceRule,
  ctx: Omit<WorkspaceContext, 'report'>,
): RawFinding[] {
  const meta = rule.meta;
  const out: RawFinding[] = [];
  try {
    rule.checkWorkspace({
      ...ctx,
      report(r: WorkspaceReport): void {
        out.push({
          fn: null,
          rule: meta.code,
          finding: {
            code: meta.code,
            slug: meta.slug,
            severity: r.severity ?? meta.defaultSeverity,
            message: r.message,
            file: r.file,
            line: r.line,
            column: r.column ?? 0,
            endLine: r.endLine ?? r.line,
            endColumn: r.endColumn ?? r.column ?? 0,
            route: r.route ?? null,
            related: r.related ?? [],
            flow: r.flow ?? null,
            fixes: r.fixes ?? [],
          },
        });
      },
    });
  } catch (err) {
    // What the rule reported before failing stays, plus the failure.
    out.push({
      fn: null,
      rule: meta.code,
      finding: {
        code: 'LENS000',
        slug: 'internal-error',
        severity: 'info',
        message: `internal error in ${meta.code}: ${err instanceof Error ? err.message : String(err)}`,
        file: ctx.analysis.files[0]?.rel ?? '.',
        line: 1,
        column: 0,
        endLine: 1,
        endColumn: 0,
        route: null,
        related: [],
        flow: null,
        fixes: [],
      },
    });
  }
  return out;
}

export interface ScanOptions {
  config: ConfigResolver;
  /** Source text by absolute path, for fingerprints and code frames. */
  sourceOf(abs: string): string | null;
}

export function scanAnalysis(analysis: Analysis, options: ScanOptions): Finding[] {
  const records = analysis.records;
  const byHandler = routesByHandler(records);
  const filesByRel = new Map(analysis.files.map((f) => [f.rel, f]));
  const lineCache = new Map<string, string[]>();
  const lineText = (rel: string, line: number): string => {
    let lines = lineCache.get(rel);
    if (!lines) {
      const f = filesByRel.get(rel);
      const src = f ? options.sourceOf(f.abs) : null;
      // Lone CRs end lines too: line numbers are the parser's.
      lines = src ? src.split(/\r\n|\r|\n/) : [];
      lineCache.set(rel, lines);
    }
    return lines[line - 1] ?? '';
  };

  const raw: { finding: Omit<Finding, 'fingerprint'>; fn: string | null }[] = [];
  const localFindings = new Map<string, LocalFinding[]>();
  for (const f of analysis.files) {
    localFindings.set(f.rel, f.facts.local ?? []);
    for (const lf of f.facts.local ?? []) {
      const meta = ruleMeta(lf.code);
      const record = routeForFunction(byHandler, f.rel, lf.fn);
      const exposure = record ? record.route.exposure : null;
      const severity = severityFor(
        lf.severity ?? meta?.defaultSeverity ?? 'info',
        lf.exposureSensitive,
        exposure,
      );
      raw.push({
        fn: lf.fn,
        finding: {
          code: lf.code,
          slug: meta?.slug ?? 'internal-error',
          severity,
          message: lf.message,
          file: f.rel,
          line: lf.line,
          column: lf.column,
          endLine: lf.endLine,
          endColumn: lf.endColumn,
          route: record ? routeSummary(record) : null,
          related: lf.related ?? [],
          flow: lf.flow ?? null,
          fixes: lf.fix ? [lf.fix] : [],
        },
      });
    }
  }

  const settings = ruleSettings(analysis, options.config);
  for (const rule of RULES) {
    if (rule.kind !== 'workspace') continue;
    for (const r of runWorkspaceRule(rule, { analysis, routes: records, settings, localFindings }))
      raw.push(r);
  }

  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const { finding, fn } of raw) {
    const f = filesByRel.get(finding.file);
    const cfg = f
      ? options.config.forFile(f.abs)
      : options.config.forFile(path.resolve(finding.file));
    if (finding.code !== 'LENS000' && !enabled(finding.code, cfg)) continue;
    if (f) {
      // The finding's own line, or the decorator lines of the route it is reported on.
      const lines = [finding.line];
      if (finding.route && finding.route.file === finding.file) lines.push(finding.route.line);
      const suppressed = suppressedCodes(f.facts.comments, lines, [finding.line]);
      if (suppressed.has('*') || suppressed.has(finding.code)) continue;
    }
    const severity = cfg.severity[finding.code] ?? finding.severity;
    const fp = fingerprint(finding.code, finding.file, fn, lineText(finding.file, finding.line));
    const key = `${finding.code}|${finding.file}|${finding.line}|${finding.column}|${finding.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ ...finding, severity, fingerprint: fp });
  }
  out.sort(
    (a, b) =>
      a.file.localeCompare(b.file) ||
      a.line - b.line ||
      a.column - b.column ||
      a.code.localeCompare(b.code),
  );
  return out;
}

export function routeSummary(r: RouteRecord): Finding['route'] {
  return {
    methods: r.route.methods,
    path: r.route.path,
    exposure: r.route.exposure,
    file: r.route.file,
    line: r.route.line,
  };
}
