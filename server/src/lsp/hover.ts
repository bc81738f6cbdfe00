import { MarkupKind, type Hover, type HoverParams } from 'vscode-languageserver/node';
import type { RouteRecord } from '../engine/routes';
import type { DependencyNode } from '../engine/types';
import { PySource } from '../engine/fixes/pyText';
import type { LensFolder } from './folder';
import type { Lens } from './lens';
import { routeCard, routeSpans, type RouteSpan } from './routeInfo';
import { pathToUri, uriToPath } from './uri';

/**
 * Hover: on a route's decorator lines or its handler's name, the route card; on a
 * `Depends(...)` / `Security(...)`, what that dependency is (auth or not, where it is defined,
 * how many routes it protects), followed by the card of the route it belongs to.
 */

/** The `Depends(x)` / `Security(x, ...)` call around a column of a line, with `x` as written. */
export function dependsAt(lineText: string, character: number): { name: string } | null {
  const re = /\b(Depends|Security)\s*\(\s*([A-Za-z_][\w.]*)?/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(lineText))) {
    const start = m.index;
    // The call's extent: up to its closing parenthesis on this line.
    let depth = 0;
    let end = lineText.length;
    for (let i = lineText.indexOf('(', start); i < lineText.length; i++) {
      if (lineText[i] === '(') depth++;
      else if (lineText[i] === ')' && --depth === 0) {
        end = i + 1;
        break;
      }
    }
    if (character >= start && character <= end && m[2]) return { name: m[2] };
  }
  return null;
}

/** The dotted identifier under a column (`deps.CurrentUser`), or null. */
export function wordAt(lineText: string, character: number): string | null {
  const re = /[A-Za-z_][\w.]*/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(lineText))) {
    if (character >= m.index && character <= m.index + m[0].length) return m[0].replace(/\.$/, '');
  }
  return null;
}

/** Is `name` an auth dependency some route uses (by its name, alias or chain)? */
function isAuthName(records: RouteRecord[], name: string): boolean {
  const last = name.split('.').pop() ?? name;
  return records.some((r) =>
    r.route.auth.some(
      (a) =>
        a.dependency.split('.').pop() === last || a.chain.some((c) => c.split('.').pop() === last),
    ),
  );
}

function findNode(nodes: DependencyNode[], name: string, depth = 0): DependencyNode | null {
  for (const n of nodes) {
    if (n.name === name || n.name.endsWith(`.${name}`) || name.endsWith(`.${n.name}`)) return n;
    if (depth < 6) {
      const child = findNode(n.children, name, depth + 1);
      if (child) return child;
    }
  }
  return null;
}

export function dependencyCard(
  folder: LensFolder,
  records: RouteRecord[],
  name: string,
): string | null {
  const last = name.split('.').pop() ?? name;
  const matches = (s: string) => s === name || s.split('.').pop() === last;
  let node: DependencyNode | null = null;
  let protects = 0;
  let auth: RouteRecord['route']['auth'][number] | null = null;
  for (const r of records) {
    const a = r.route.auth.find((x) => matches(x.dependency) || x.chain.some(matches));
    if (a && a.enforcing) protects++;
    if (a && !auth) auth = a;
    if (!node) node = findNode(r.route.dependencies, name);
  }
  if (!auth && !node) return null;
  const lines: string[] = [];
  const file = auth?.file ?? node?.file ?? null;
  const line = auth?.line ?? node?.line ?? null;
  const def = file
    ? ` · defined in [${file}${line ? `:${line}` : ''}](${pathToUri(folder.abs(file))}${line ? `#L${line}` : ''})`
    : '';
  if (auth) {
    const kind = auth.enforcing
      ? 'authentication dependency'
      : 'optional authentication (lets anonymous callers through)';
    lines.push(`**\`${name}\`** — ${kind}${def}`);
    if (auth.chain.length > 1)
      lines.push('', `chain: ${auth.chain.map((c) => `\`${c}\``).join(' → ')}`);
    if (auth.scopes.length)
      lines.push('', `scopes: ${auth.scopes.map((s) => `\`${s}\``).join(', ')}`);
    lines.push('', `protects ${protects} route${protects === 1 ? '' : 's'} in this workspace`);
  } else if (node) {
    lines.push(
      `**\`${name}\`** — dependency \`${node.callable}\`, not an authentication check${def}`,
    );
  }
  return lines.join('\n');
}

function spanAt(
  spans: RouteSpan[],
  abs: string,
  line: number,
  character: number,
): RouteSpan | null {
  for (const s of spans) {
    const h = s.handler;
    if (h && h.abs === abs && h.line === line && character >= h.start && character <= h.end)
      return s;
  }
  for (const s of spans) {
    const defLine = s.handler?.line ?? s.record.route.line + 1;
    if (line >= s.first && line < defLine) return s;
  }
  return null;
}

export async function hover(lens: Lens, params: HoverParams): Promise<Hover | null> {
  const abs = uriToPath(params.textDocument.uri);
  if (!abs) return null;
  const folder = lens.folderFor(abs, false);
  if (!folder || !folder.settings.enable) return null;
  await folder.ready();
  const analysis = folder.analysis();
  const records = analysis.records;
  const line = params.position.line + 1;
  const character = params.position.character;
  const spans = routeSpans(folder, abs, records);
  const text = folder.sourceOf(abs);
  const lineText = text === null ? '' : new PySource(text).lineText(line);
  const word = wordAt(lineText, character);
  // `Depends(x)` under the cursor, or the name of an auth dependency / its Annotated alias.
  const dep =
    dependsAt(lineText, character) ?? (word && isAuthName(records, word) ? { name: word } : null);
  const parts: string[] = [];
  let span = spanAt(spans, abs, line, character);
  if (dep) {
    const card = dependencyCard(folder, records, dep.name);
    if (card) parts.push(card);
    span = span ?? spans.find((s) => line >= s.first && line <= s.last) ?? null;
  }
  if (span) parts.push(routeCard(folder, span.record, lens.findingsOf(folder)));
  if (parts.length === 0) return null;
  return { contents: { kind: MarkupKind.Markdown, value: parts.join('\n\n---\n\n') } };
}
