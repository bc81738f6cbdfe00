import type { FixSafety, TextEdit } from '../findings';
import type { Analysis } from '../index';
import { PySource, type Insertion } from './pyText';

/** What the fix generators produce: richer than a rule's `Fix` (they may create files). */

export interface FileCreate {
  /** Absolute path of a file that does not exist yet. */
  file: string;
  text: string;
}

export type CodeFixKind =
  | 'rule'
  | 'protect-parameter'
  | 'protect-decorator'
  | 'protect-router'
  | 'scaffold-auth'
  | 'mark-public'
  | 'ignore';

export interface CodeFix {
  title: string;
  kind: CodeFixKind;
  safety: FixSafety;
  /** Edits of existing files (absolute paths, 1-based lines, 0-based UTF-16 columns). */
  edits: TextEdit[];
  /** Files to create; a fix never overwrites an existing file. */
  creates: FileCreate[];
  /** The one fix an editor should apply first for this finding. */
  preferred: boolean;
}

export interface FixContext {
  analysis: Analysis;
  /** Current text of a file (open editor buffer or disk), or null. */
  sourceOf(abs: string): string | null;
  /** Whether a path exists on disk (new modules never overwrite anything). */
  exists(abs: string): boolean;
  /** Optional syntax check of an edited file; fixes that fail it are dropped. */
  isValidPython?(text: string): boolean;
}

/** Insertions (offsets into `src`) as engine text edits of `file`. */
export function toEdits(file: string, src: PySource, ins: Insertion[]): TextEdit[] {
  return ins.map((i) => {
    const p = src.positionAt(i.offset);
    return {
      file,
      line: p.line,
      column: p.column,
      endLine: p.line,
      endColumn: p.column,
      newText: i.text,
    };
  });
}

/** Apply engine text edits of one file to its text (edits must not overlap). */
export function applyEdits(text: string, edits: TextEdit[]): string {
  const src = new PySource(text);
  const withOffsets = edits.map((e) => ({
    start: src.offsetAt(e.line, e.column),
    end: src.offsetAt(e.endLine, e.endColumn),
    text: e.newText,
  }));
  // Later edits first; at the same offset keep the given order.
  const order = withOffsets.map((e, i) => ({ ...e, i }));
  order.sort((a, b) => b.start - a.start || b.i - a.i);
  let out = text;
  for (const e of order) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}
