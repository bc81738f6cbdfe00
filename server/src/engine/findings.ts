import type { Exposure } from './types';

/**
 * Findings: what rules report. Positions are 1-based lines and 0-based columns counted in UTF-16
 * code units (what tree-sitter gives for JS strings and what LSP expects by default).
 */

export type Severity = 'error' | 'warning' | 'info';

export const SEVERITY_ORDER: Record<Severity, number> = { info: 0, warning: 1, error: 2 };

export interface Span {
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

/** A text edit on a file: replace [start, end) with newText. */
export interface TextEdit extends Span {
  file: string;
  newText: string;
}

export type FixSafety = 'safe' | 'unsafe' | 'display-only';

export interface Fix {
  title: string;
  safety: FixSafety;
  edits: TextEdit[];
}

export interface FlowStep {
  file: string;
  line: number;
  column: number;
  message: string;
}

export interface RelatedInfo {
  file: string;
  line: number;
  column: number;
  message: string;
}

/** A finding produced by the per-file phase: no exposure known yet, function named instead. */
export interface LocalFinding extends Span {
  code: string;
  message: string;
  /** Qualname of the enclosing function, or null at module level. */
  fn: string | null;
  /**
   * Whether severity follows the exposure of the route that runs this code: the rule's default
   * on public routes, one level lower behind authentication or outside any route.
   */
  exposureSensitive: boolean;
  /** Optional severity override for this occurrence (e.g. CORS002 is info). */
  severity?: Severity;
  fix?: Fix;
  related?: RelatedInfo[];
  flow?: FlowStep[];
}

export interface FindingRoute {
  methods: string[];
  path: string;
  exposure: Exposure;
  file: string;
  line: number;
}

export interface Finding extends Span {
  code: string;
  slug: string;
  severity: Severity;
  message: string;
  /** POSIX path relative to the report's cwd. */
  file: string;
  route: FindingRoute | null;
  related: RelatedInfo[];
  flow: FlowStep[] | null;
  fixes: Fix[];
  /** Stable across unrelated edits: code + file + enclosing function + normalised line text. */
  fingerprint: string;
}

export function lowerSeverity(s: Severity): Severity {
  return s === 'error' ? 'warning' : 'info';
}
