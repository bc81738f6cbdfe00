import type { FileRule } from '../api';
import { uvicornCalls } from './apps';
import { keywordNode, stringValue } from './util';

/** CFG002: the server listens on every network interface. */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'CFG002',
    slug: 'bind-all-interfaces',
    title: 'Server bound to all interfaces',
    defaultSeverity: 'info',
    cwe: [1327],
    owasp: ['API8:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports `uvicorn.run(...)` / `uvicorn.Config(...)` with a literal `host="0.0.0.0"` (or `"::"`). A host read from settings or the environment is not reported, nor are test files.',
      whyIsThisBad:
        'Binding every interface makes the server reachable from any network the machine is on, not only through the reverse proxy or load balancer that terminates TLS and enforces limits. Inside a container this is usually required (and the container network limits exposure), which is why this is informational: make sure the port is not published to the world by accident.',
      example: `uvicorn.run(app, host="0.0.0.0", port=8000)`,
      useInstead: `uvicorn.run(app, host=os.getenv("HOST", "127.0.0.1"), port=8000)`,
      fixSafety: 'No automatic fix: in containers binding all interfaces is correct.',
    },
  },
  checkFile(ctx) {
    for (const site of uvicornCalls(ctx)) {
      const kw = keywordNode(site.node, 'host');
      const host = stringValue(kw?.childForFieldName('value') ?? null);
      if (!kw || (host !== '0.0.0.0' && host !== '::' && host !== '[::]')) continue;
      ctx.report({
        node: kw,
        message: `\`${site.callee}(host="${host}")\` listens on every network interface: the app is reachable from any network, not only through the proxy.`,
      });
    }
  },
};
