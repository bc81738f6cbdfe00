import type { FileRule } from '../api';
import {
  assignments,
  callsNamed,
  fix,
  importsModule,
  isFalse,
  keywordNode,
  qualify,
  qualifyNode,
  replaceNode,
  unparen,
} from './util';

/** Request methods of requests/httpx/aiohttp sessions and clients. */
const METHODS = [
  'get',
  'post',
  'put',
  'patch',
  'delete',
  'head',
  'options',
  'request',
  'stream',
  'send',
  'ws_connect',
  'urlopen',
];
const CONSTRUCTORS = [
  'Client',
  'AsyncClient',
  'Session',
  'ClientSession',
  'TCPConnector',
  'AsyncHTTPTransport',
  'HTTPTransport',
  'PoolManager',
];
const HTTP_LIBS = /^(requests|httpx|aiohttp|urllib3)(\.|$)/;

/** TLS001: certificate verification switched off. */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'TLS001',
    slug: 'tls-verification-disabled',
    title: 'TLS certificate verification disabled',
    defaultSeverity: 'error',
    cwe: [295],
    owasp: ['API10:2023'],
    fix: 'unsafe',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports HTTP clients that skip certificate checks: `verify=False` on `requests`/`httpx` calls and clients (`requests.get`, `httpx.AsyncClient(verify=False)`, and request methods on session/client objects such as `client.get(url, verify=False)`), `ssl=False` / `verify_ssl=False` on aiohttp, `session.verify = False`, `ssl._create_unverified_context()` (also assigned to `ssl._create_default_https_context`), and `ctx.verify_mode = ssl.CERT_NONE` / `ctx.check_hostname = False`. Module calls are resolved through the imports, so `jwt.decode(..., verify=False)` is not mistaken for TLS. `urllib3.disable_warnings()` on its own is not a finding, and a value read from settings is trusted.',
      whyIsThisBad:
        'Without verification the client accepts any certificate, so anyone on the network path (a compromised Wi-Fi, a cloud neighbour, a proxy) can impersonate the payment provider or identity service, read the API keys the app sends and feed it forged responses. The app trusts a third party it cannot authenticate (OWASP API10).',
      example: `async with httpx.AsyncClient(verify=False) as client:
    r = await client.get("https://payments.example.com/charge")`,
      useInstead: `async with httpx.AsyncClient(verify="/etc/ssl/certs/internal-ca.pem") as client:
    r = await client.get("https://payments.example.com/charge")`,
      fixSafety:
        'For `verify=False` the fix sets `verify=True`. Unsafe: if the server uses a private CA the calls start failing until the CA bundle is passed as `verify="/path/to/ca.pem"`.',
    },
  },
  checkFile(ctx) {
    if (
      !/\b(verify|ssl|verify_ssl|check_hostname)\s*=\s*False\b|CERT_NONE|_create_unverified_context/.test(
        ctx.source,
      )
    )
      return;
    for (const site of callsNamed(ctx, [...METHODS, ...CONSTRUCTORS])) {
      const q = qualify(ctx, site.callee);
      if (q !== null) {
        if (!HTTP_LIBS.test(q)) continue;
      } else if (!METHODS.includes(site.name) || site.callee === site.name) {
        // An unresolved receiver: only request methods of an object (`client.get`).
        continue;
      }
      const call = site.node;
      const verify = keywordNode(call, 'verify');
      if (verify && isFalse(verify.childForFieldName('value'))) {
        const v = verify.childForFieldName('value');
        ctx.report({
          node: verify,
          message: `\`${site.callee}(..., verify=False)\` accepts any TLS certificate: anyone on the network path can read and alter this traffic.`,
          fix: v ? fix('Set verify=True', 'unsafe', [replaceNode(ctx, v, 'True')]) : undefined,
        });
        continue;
      }
      for (const name of ['ssl', 'verify_ssl']) {
        const kw = keywordNode(call, name);
        if (!kw || !isFalse(kw.childForFieldName('value'))) continue;
        // aiohttp (resolved) or a request method on a session object.
        if (q !== null && !q.startsWith('aiohttp')) continue;
        ctx.report({
          node: kw,
          message: `\`${site.callee}(..., ${name}=False)\` skips TLS certificate verification: anyone on the network path can read and alter this traffic.`,
        });
      }
    }

    const httpLib = importsModule(ctx, 'requests') || importsModule(ctx, 'httpx');
    if (!httpLib && !importsModule(ctx, 'ssl')) return;
    for (const site of callsNamed(ctx, ['_create_unverified_context'])) {
      if (qualify(ctx, site.callee) !== 'ssl._create_unverified_context') continue;
      ctx.report({
        node: site.node,
        message:
          '`ssl._create_unverified_context()` builds a TLS context that accepts any certificate.',
      });
    }
    for (const a of assignments(ctx)) {
      const left = a.childForFieldName('left');
      const right = unparen(a.childForFieldName('right'));
      if (left?.type !== 'attribute' || !right) continue;
      const attr = left.childForFieldName('attribute')?.text ?? '';
      if (attr === 'verify' && isFalse(right) && httpLib) {
        ctx.report({
          node: a,
          message: `\`${left.text} = False\` turns off TLS certificate verification for every request of this session.`,
          fix: fix('Set verify = True', 'unsafe', [replaceNode(ctx, right, 'True')]),
        });
      } else if (attr === 'verify_mode' && qualifyNode(ctx, right) === 'ssl.CERT_NONE') {
        ctx.report({
          node: a,
          message: `\`${left.text} = ssl.CERT_NONE\` makes this TLS context accept any certificate.`,
        });
      } else if (attr === 'check_hostname' && isFalse(right) && importsModule(ctx, 'ssl')) {
        ctx.report({
          node: a,
          message: `\`${left.text} = False\` makes this TLS context accept a valid certificate for any host.`,
        });
      } else if (
        attr === '_create_default_https_context' &&
        qualifyNode(ctx, right) === 'ssl._create_unverified_context'
      ) {
        ctx.report({
          node: a,
          message:
            '`ssl._create_default_https_context = ssl._create_unverified_context` turns off certificate verification for every HTTPS connection of the process.',
        });
      }
    }
  },
};
