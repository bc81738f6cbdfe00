import type { Route } from '../types';
import { PySource } from './pyText';
import { toEdits, type CodeFix } from './types';

/**
 * Comment fixes: `# fastapi-lens: public <reason>` above a route's decorator, and
 * `# fastapi-lens: ignore[CODE] <reason>` at the end of a line (merged into an existing one).
 */

/** A starting reason for routes that are public by nature; the user edits it. */
export function defaultPublicReason(route: Pick<Route, 'path' | 'function'>): string {
  const text = `${route.path} ${route.function ?? ''}`.toLowerCase();
  if (/login|logout|sign-?in|sign-?up|register|token|oauth|callback|authorize|password/.test(text))
    return 'authentication endpoint, callers are not logged in yet';
  if (/health|ping|ready|readiness|liveness|status|version|metrics/.test(text))
    return 'health check for the load balancer';
  if (/docs|openapi|redoc/.test(text)) return 'API documentation';
  if (/webhook/.test(text)) return 'webhook, authenticated by its signature';
  return 'TODO: explain why anyone may call this route';
}

/** Insert `# fastapi-lens: public <reason>` on its own line above the route registration. */
export function markPublicFix(
  file: string,
  text: string,
  route: Pick<Route, 'line' | 'path' | 'function' | 'methods'>,
  reason = defaultPublicReason(route),
): CodeFix | null {
  const src = new PySource(text);
  if (route.line < 1 || route.line > src.lineCount) return null;
  const indent = src.indentOf(route.line);
  // The line above must not be inside a multi-line string or bracket continuation we'd break:
  // a comment line is valid anywhere a new line may start, which is the case at a decorator.
  const offset = src.lineStart(route.line);
  const before = src.tokenContaining(Math.max(0, offset - 1));
  if (before && before.type === 'string' && before.end > offset) return null;
  const label = `${route.methods.join(',') || 'ROUTE'} ${route.path || '/'}`;
  return {
    title: `Mark \`${label}\` public on purpose (# fastapi-lens: public <reason>)`,
    kind: 'mark-public',
    safety: 'unsafe',
    edits: toEdits(file, src, [
      { offset, text: `${indent}# fastapi-lens: public ${reason}${src.eol}` },
    ]),
    creates: [],
    preferred: false,
  };
}

const IGNORE_RE = /fastapi-lens:\s*ignore(?![\w-])\s*\[([^\]]*)\]/;

/** `# fastapi-lens: ignore[CODE] reason` at the end of `line` (or merged into one there). */
export function ignoreFix(
  file: string,
  text: string,
  line: number,
  code: string,
  reason = 'TODO: explain why this is safe',
): CodeFix | null {
  const src = new PySource(text);
  if (line < 1 || line > src.lineCount) return null;
  const lineStart = src.lineStart(line);
  const lineEnd = src.lineEnd(line);
  const title = `Ignore ${code} on this line (# fastapi-lens: ignore[${code}])`;
  // An existing suppression comment on the line: add the code to its list.
  for (const t of src.allTokens()) {
    if (t.start >= lineEnd) break;
    if (t.type !== 'comment' || t.start < lineStart) continue;
    const m = IGNORE_RE.exec(src.tokenText(t));
    if (!m || m.index === undefined) continue;
    const codes = m[1].split(/[\s,]+/).filter(Boolean);
    if (codes.map((c) => c.toUpperCase()).includes(code)) return null;
    const closing = t.start + m.index + m[0].length - 1;
    const sep = codes.length ? ', ' : '';
    return {
      title,
      kind: 'ignore',
      safety: 'unsafe',
      edits: toEdits(file, src, [{ offset: closing, text: `${sep}${code}` }]),
      creates: [],
      preferred: false,
    };
  }
  if (!src.canAppendComment(line)) return null;
  const lineText = src.lineText(line);
  const trimmed = lineText.replace(/[ \t]+$/, '');
  if (trimmed.trim() === '') return null;
  const offset = lineStart + trimmed.length;
  return {
    title,
    kind: 'ignore',
    safety: 'unsafe',
    edits: toEdits(file, src, [{ offset, text: `  # fastapi-lens: ignore[${code}] ${reason}` }]),
    creates: [],
    preferred: false,
  };
}
