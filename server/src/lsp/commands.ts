import { MessageType, type ExecuteCommandParams, type Position } from 'vscode-languageserver/node';
import { COMMANDS } from '../protocol';
import type { Lens } from './lens';
import { ruleDocHref } from './ruleDocs';
import { methodText, routeCard, routeSpans, routeSummary } from './routeInfo';
import { uriToPath } from './uri';

/**
 * Server-side commands (listed in executeCommandProvider, so every editor can run them):
 * `fastapiLens.showRuleDocs [code, href?]` opens the rule page (window/showDocument, or a
 * message with the link), `fastapiLens.showRouteCard [uri, position]` shows a route summary and
 * returns its Markdown card.
 */

export const SERVER_COMMANDS = [COMMANDS.showDocs, COMMANDS.showRouteCard];

export async function executeCommand(lens: Lens, params: ExecuteCommandParams): Promise<unknown> {
  const args = params.arguments ?? [];
  switch (params.command) {
    case COMMANDS.showDocs: {
      const code = typeof args[0] === 'string' ? args[0] : '';
      const href = typeof args[1] === 'string' ? args[1] : ruleDocHref(code);
      if (lens.features.showDocument) {
        const external = !href.startsWith('file:');
        const result = await lens.connection.window.showDocument({ uri: href, external });
        if (result.success) return href;
      }
      void lens.connection.sendNotification('window/showMessage', {
        type: MessageType.Info,
        message: `${code}: ${href}`,
      });
      return href;
    }
    case COMMANDS.showRouteCard: {
      const uri = typeof args[0] === 'string' ? args[0] : '';
      const pos = args[1] as Position | undefined;
      const abs = uriToPath(uri);
      if (!abs || !pos) return null;
      const folder = lens.folderFor(abs, false);
      if (!folder) return null;
      await folder.ready();
      const line = pos.line + 1;
      const span = routeSpans(folder, abs, folder.analysis().records).find(
        (s) => s.record.route.line === line || (line >= s.first && line <= s.last),
      );
      if (!span) return null;
      const r = span.record.route;
      void lens.connection.sendNotification('window/showMessage', {
        type: r.exposure === 'public' ? MessageType.Warning : MessageType.Info,
        message: `${methodText(r)} ${r.path || '/'}: ${routeSummary(r)}`,
      });
      return routeCard(folder, span.record, lens.findingsOf(folder));
    }
    default:
      return null;
  }
}
