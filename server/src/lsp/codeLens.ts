import type { CodeLens, CodeLensParams } from 'vscode-languageserver/node';
import { COMMANDS } from '../protocol';
import type { Lens } from './lens';
import { routeSpans, routeSummary } from './routeInfo';
import { uriToPath } from './uri';

/**
 * A code lens above each route registered in the file (`🔒 get_current_user · router`,
 * `⚠ public · POST`, `🛡 scoped: items:write`); clicking it runs the server command that shows
 * the route card. Off with `fastapiLens.codeLens.enable`.
 */

export async function codeLenses(lens: Lens, params: CodeLensParams): Promise<CodeLens[]> {
  const abs = uriToPath(params.textDocument.uri);
  if (!abs) return [];
  const folder = lens.folderFor(abs, false);
  if (!folder || !folder.settings.enable || !folder.settings.codeLens.enable) return [];
  await folder.ready();
  const rel = folder.rel(abs);
  const out: CodeLens[] = [];
  for (const span of routeSpans(folder, abs, folder.analysis().records)) {
    const r = span.record.route;
    if (r.file !== rel) continue;
    const line = Math.max(0, r.line - 1);
    const position = { line, character: r.column };
    out.push({
      range: { start: position, end: position },
      command: {
        title: routeSummary(r),
        command: COMMANDS.showRouteCard,
        arguments: [params.textDocument.uri, position],
      },
    });
  }
  return out.sort((a, b) => a.range.start.line - b.range.start.line);
}
