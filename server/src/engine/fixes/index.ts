import * as path from 'node:path';
import { conventionallyPublic } from '../../../../rules/auth/util';
import type { Finding, TextEdit } from '../findings';
import type { Analysis } from '../index';
import type { RouteRecord } from '../routes';
import { ignoreFix, markPublicFix } from './comments';
import { protectFixes } from './protect';
import { scaffoldFix } from './scaffold';
import { projectAuthStyle, type AuthStyle } from './style';
import { applyEdits, type CodeFix, type FixContext } from './types';

/**
 * Quick fixes for findings, as pure data (no editor API): the rule's own fix, and for the
 * authentication rules the fixes a developer wants (protect the route or its router following
 * the project's style, scaffold an auth dependency when there is none, mark the route public
 * with a reason), plus "ignore CODE on this line" for every finding.
 */

export type { CodeFix, CodeFixKind, FileCreate, FixContext } from './types';
export { applyEdits } from './types';
export { projectAuthStyle, type AuthStyle, type AuthChoice } from './style';
export { planImports, topLevelImports } from './imports';
export { protectFixes, addAuthParameter, addToDependencies } from './protect';
export { scaffoldFix, scaffoldModuleText } from './scaffold';
export { ignoreFix, markPublicFix, defaultPublicReason } from './comments';

/** Rules for which adding authentication is the fix. */
const PROTECT_CODES = new Set(['AUTH001', 'AUTH002']);
/** Rules that honour `# fastapi-lens: public <reason>` on the route. */
const PUBLIC_MARK_CODES = new Set(['AUTH001', 'AUTH002', 'AUTH003', 'AUTH005', 'AUTH008']);

/** The route a finding is about (same file, line and path), if the model has it. */
export function recordOf(analysis: Analysis, finding: Finding): RouteRecord | null {
  const r = finding.route;
  if (!r) return null;
  return (
    analysis.records.find(
      (x) =>
        x.route.file === r.file &&
        x.route.line === r.line &&
        x.route.path === r.path &&
        x.route.methods.join(',') === r.methods.join(','),
    ) ?? null
  );
}

function absOf(analysis: Analysis, rel: string): string | null {
  for (const f of analysis.files) if (f.rel === rel) return f.abs;
  return null;
}

/** Drop fixes whose result would not parse (when a checker is given). */
function valid(ctx: FixContext, fix: CodeFix): boolean {
  if (!ctx.isValidPython) return true;
  const byFile = new Map<string, TextEdit[]>();
  for (const e of fix.edits) byFile.set(e.file, [...(byFile.get(e.file) ?? []), e]);
  for (const [file, edits] of byFile) {
    const text = ctx.sourceOf(file);
    if (text === null) return false;
    if (!ctx.isValidPython(applyEdits(text, edits))) return false;
  }
  return fix.creates.every((c) => ctx.isValidPython?.(c.text) ?? true);
}

/** A memo for the project's auth style, computed at most once per analysis. */
const styleCache = new WeakMap<Analysis, AuthStyle>();
export function styleOf(analysis: Analysis): AuthStyle {
  let s = styleCache.get(analysis);
  if (!s) {
    s = projectAuthStyle(analysis);
    styleCache.set(analysis, s);
  }
  return s;
}

/** Every quick fix for one finding, most useful first. */
export function fixesForFinding(ctx: FixContext, finding: Finding): CodeFix[] {
  const out: CodeFix[] = [];
  const abs = absOf(ctx.analysis, finding.file);
  // 1. The rule's own fixes.
  finding.fixes.forEach((f, i) => {
    out.push({
      title: f.title,
      kind: 'rule',
      safety: f.safety,
      edits: f.edits.map((e) => ({
        ...e,
        file: path.isAbsolute(e.file) ? e.file : (absOf(ctx.analysis, e.file) ?? e.file),
      })),
      creates: [],
      preferred: i === 0 && f.safety === 'safe',
    });
  });
  const record = recordOf(ctx.analysis, finding);
  // 2. Add authentication.
  if (record && PROTECT_CODES.has(finding.code)) {
    const style = styleOf(ctx.analysis);
    const protect = protectFixes(ctx, record, style);
    out.push(...protect);
    if (!style.hasAuth) {
      const scaffold = scaffoldFix(ctx, record);
      if (scaffold) out.push(scaffold);
    }
  }
  // 3. Comments.
  const text = abs ? ctx.sourceOf(abs) : null;
  if (abs && text !== null) {
    if (record && PUBLIC_MARK_CODES.has(finding.code) && record.route.file === finding.file) {
      const mark = markPublicFix(abs, text, record.route);
      // Sign-up, login and health routes are public by design: offer marking them first.
      if (mark && conventionallyPublic(record.route)) out.unshift(mark);
      else if (mark) out.push(mark);
    }
    let ignore = ignoreFix(abs, text, finding.line, finding.code);
    if (
      !ignore &&
      record &&
      record.route.file === finding.file &&
      record.route.line !== finding.line
    )
      ignore = ignoreFix(abs, text, record.route.line, finding.code);
    if (ignore) out.push(ignore);
  }
  return out.filter((f) => valid(ctx, f));
}

/** The safe fixes of a file's findings that do not overlap: what fix-all applies. */
export function fixAllEdits(ctx: FixContext, findings: Finding[]): TextEdit[] {
  const edits: TextEdit[] = [];
  const taken: { file: string; start: number; end: number }[] = [];
  for (const f of findings) {
    for (const fix of f.fixes) {
      if (fix.safety !== 'safe') continue;
      const spans = fix.edits.map((e) => ({
        file: e.file,
        start: e.line * 1e6 + e.column,
        end: e.endLine * 1e6 + e.endColumn,
      }));
      const overlaps = spans.some((s) =>
        taken.some((t) => t.file === s.file && s.start < t.end && t.start < s.end),
      );
      if (overlaps) continue;
      taken.push(...spans);
      edits.push(
        ...fix.edits.map((e) => ({
          ...e,
          file: path.isAbsolute(e.file) ? e.file : (absOf(ctx.analysis, e.file) ?? e.file),
        })),
      );
      break;
    }
  }
  return edits;
}
