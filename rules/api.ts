import type { Node } from 'web-tree-sitter';
import type { ModuleFacts } from '../server/src/engine/facts';
import type {
  Finding,
  FixSafety,
  LocalFinding,
  RelatedInfo,
  Severity,
  Fix,
  FlowStep,
} from '../server/src/engine/findings';
import type { Analysis } from '../server/src/engine/index';
import type { RouteRecord } from '../server/src/engine/routes';

/**
 * The rule contract. A rule is one module exporting `meta` and one check:
 * - a *file* rule looks at one file's syntax tree while it is parsed (pattern rules); its
 *   findings name the enclosing function, and the workspace pass weighs them by the exposure
 *   of the route that runs that function;
 * - a *workspace* rule looks at the whole model (routes, exposure, dependencies, taint).
 */

export interface RuleDocs {
  /** One paragraph each; Markdown. Headings are fixed by the doc generator. */
  whatItDoes: string;
  whyIsThisBad: string;
  /** Python code showing the problem (no fences). */
  example: string;
  /** Python code showing the fix (no fences). */
  useInstead: string;
  fixSafety: string;
}

export interface RuleMeta {
  /** Public and stable: users write it in suppressions. e.g. `AUTH001`. */
  code: string;
  /** kebab-case, e.g. `public-route`. */
  slug: string;
  title: string;
  /** Severity on a public route (or where exposure does not matter). */
  defaultSeverity: Severity;
  /** CWE ids, numbers only. */
  cwe: number[];
  /** OWASP API Security Top 10 2023 ids, e.g. `API1:2023`. */
  owasp: string[];
  docs: RuleDocs;
  /** What kind of fix the rule offers, if any. */
  fix: FixSafety | 'none';
  /** Severity follows route exposure (see LocalFinding.exposureSensitive). */
  exposureSensitive: boolean;
}

export interface FileReport {
  node?: Node;
  /** Explicit span when not using a node (1-based line, 0-based columns). */
  line?: number;
  column?: number;
  endLine?: number;
  endColumn?: number;
  message: string;
  severity?: Severity;
  fix?: Fix;
  related?: RelatedInfo[];
  flow?: FlowStep[];
}

export interface FileContext {
  /** Absolute path. */
  file: string;
  source: string;
  root: Node;
  facts: ModuleFacts;
  /** All nodes of a type, collected once per file and shared by every rule. */
  nodesOfType(type: string): Node[];
  /**
   * The nodes of a type inside `node` (document order), taken from the same per-file
   * collection as `nodesOfType`: prefer it to `node.descendantsOfType`, which searches again.
   */
  nodesIn(node: Node, type: string): Node[];
  /** Qualname of the function a node is in (`Cls.method`, `f.<locals>.g`), or null. */
  enclosingFunction(node: Node): string | null;
  report(finding: FileReport): void;
}

export interface FileRule {
  kind: 'file';
  meta: RuleMeta;
  checkFile(ctx: FileContext): void;
}

export interface WorkspaceReport extends Omit<Partial<Finding>, 'code' | 'slug'> {
  file: string;
  line: number;
  message: string;
}

export interface WorkspaceContext {
  analysis: Analysis;
  routes: RouteRecord[];
  /** Resolved `[tool.fastapi-lens]` settings that rules may read. */
  settings: RuleSettings;
  /** Local findings of every file (from file rules and the per-file taint pass). */
  localFindings: Map<string, LocalFinding[]>;
  report(finding: WorkspaceReport): void;
}

export interface RuleSettings {
  /** Path globs of routes that are intentionally public (`/health*`). */
  publicRoutes: string[];
  authDependencies: string[];
}

/**
 * What a workspace rule reads, which decides what the editor re-runs after an edit
 * (`server/src/engine/incremental/`). Declared by each rule, so a new rule cannot be left out.
 */
export interface RuleReach {
  /**
   * After an edit that keeps the route graph (warm.ts):
   * - graph: routes, exposure, dependency trees, function headers (all unchanged): keep;
   * - route: also the handler's body: re-run on the routes of the edited file;
   * - group: also the other routes of the same router: re-run on those routers;
   * - statement: each function or statement of a file by itself (and the graph): re-run on the
   *   changed statements of the edited file;
   * - taint: function bodies along call chains (warm.ts mergeTaint).
   */
  warm: 'graph' | 'route' | 'group' | 'statement' | 'taint';
  /**
   * After an edit that changes the route graph (rescan.ts):
   * - route: each route's record, its handler and registration, and what the evaluator finds
   *   from their files;
   * - group: the same, for all routes of a router together;
   * - upstream: each function of each file, evaluated from its file: re-run on the edited file
   *   and the files importing it;
   * - file: each file's own facts: re-run on the edited file;
   * - taint: as above;
   * - global: anything else (re-run everywhere).
   */
  cold: 'route' | 'group' | 'upstream' | 'file' | 'taint' | 'global';
  /**
   * Per-route rules that only ever report some routes, by what the route graph says (which a
   * warm edit does not change): skipped when no changed route is one.
   */
  routes?: (record: RouteRecord) => boolean;
  /** Also reads the middleware of the route's app (model objects): re-run everywhere when that changed. */
  readsAppMiddleware?: boolean;
}

export interface WorkspaceRule {
  kind: 'workspace';
  meta: RuleMeta;
  reach: RuleReach;
  checkWorkspace(ctx: WorkspaceContext): void;
}

export type Rule = FileRule | WorkspaceRule;

/** Text of a call's callee (`subprocess.run`), or ''. */
export function calleeText(call: Node): string {
  const fn = call.childForFieldName('function');
  return fn ? fn.text : '';
}

/** The keyword argument `name=` of a call, if present. */
export function keywordArg(call: Node, name: string): Node | null {
  const args = call.childForFieldName('arguments');
  if (!args) return null;
  for (const a of args.namedChildren) {
    if (a && a.type === 'keyword_argument' && a.childForFieldName('name')?.text === name)
      return a.childForFieldName('value');
  }
  return null;
}

/** Positional arguments of a call (no keywords, no splats). */
export function positionalArgs(call: Node): Node[] {
  const args = call.childForFieldName('arguments');
  if (!args || args.type !== 'argument_list') return [];
  return args.namedChildren.filter(
    (a): a is Node =>
      !!a &&
      a.type !== 'keyword_argument' &&
      a.type !== 'comment' &&
      a.type !== 'list_splat' &&
      a.type !== 'dictionary_splat',
  );
}
