import { routeSummary } from '../../server/src/engine/scan';
import type { WorkspaceRule } from '../api';
import { intentionallyPublic, routeLabel } from './util';

/** A guard in the handler that looks at credentials before accepting. */
const CREDENTIAL_WORDS =
  /token|auth|user|credential|session|api_?key|jwt|cookie|ticket|secret|password/i;

/** AUTH005: a websocket that accepts anyone. */
export const rule: WorkspaceRule = {
  kind: 'workspace',
  reach: { warm: 'route', cold: 'route', routes: (r) => r.route.kind === 'websocket' },
  meta: {
    code: 'AUTH005',
    slug: 'websocket-unauthenticated',
    title: 'WebSocket endpoint accepts connections without authentication',
    defaultSeverity: 'error',
    cwe: [306],
    owasp: ['API2:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports `@app.websocket` / `add_api_websocket_route` endpoints that have no enforcing auth dependency and whose handler does not check a credential (token, cookie, session) and close or raise before `accept()`.',
      whyIsThisBad:
        'HTTP middleware (`@app.middleware("http")`, `BaseHTTPMiddleware`) never runs for WebSocket connections, and browsers do not apply CORS to them: any page on the internet can open the socket with the user\'s cookies (cross-site WebSocket hijacking) or without any identity at all.',
      example: `@app.websocket("/ws/chat")
async def chat(websocket: WebSocket):
    await websocket.accept()`,
      useInstead: `@app.websocket("/ws/chat")
async def chat(websocket: WebSocket, token: str = Query(...)):
    user = verify_token(token)
    if user is None:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    await websocket.accept()`,
      fixSafety: 'No automatic fix.',
    },
  },
  checkWorkspace(ctx) {
    for (const record of ctx.routes) {
      const route = record.route;
      if (route.kind !== 'websocket') continue;
      if (route.exposure === 'authenticated' || route.exposure === 'scoped') continue;
      if (intentionallyPublic(record, ctx)) continue;
      const fn = record.handler?.fn;
      if (fn && fn.guards.some((g) => CREDENTIAL_WORDS.test(g.condition))) continue;
      const middleware = route.middleware.length
        ? ` (middleware ${route.middleware.map((m) => `\`${m}\``).join(', ')} does not run for WebSockets)`
        : '';
      ctx.report({
        file: route.file,
        line: route.line,
        column: route.column,
        message: `${routeLabel(route)} accepts connections without authentication${middleware}.`,
        route: routeSummary(record),
      });
    }
  },
};
