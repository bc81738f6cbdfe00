import type { FileRule } from '../api';
import { positionalArgs } from '../api';
import {
  appendArgs,
  callsNamed,
  fix,
  hasSplat,
  importsAny,
  isNone,
  keywordNode,
  qualify,
  replaceNode,
} from './util';

const REQUESTS = /^requests(\.api)?\.(get|post|put|patch|delete|head|options|request)$/;
const HTTPX = /^httpx\.(get|post|put|patch|delete|head|options|request|stream|Client|AsyncClient)$/;
const URLOPEN = /^urllib\.request\.urlopen$/;

/** TIMEOUT001: an outbound HTTP call that can wait forever. */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'TIMEOUT001',
    slug: 'outbound-call-without-timeout',
    title: 'Outbound HTTP call without a timeout',
    defaultSeverity: 'info',
    cwe: [400],
    owasp: ['API4:2023'],
    fix: 'unsafe',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        "Reports `requests.get/post/put/patch/delete/head/options/request(...)` and `urllib.request.urlopen(...)` without a timeout (`timeout=` keyword, or `urlopen`'s third positional argument), and `timeout=None` on those or on `httpx` calls and clients. Plain `httpx` calls without `timeout=` are fine: httpx defaults to 5 seconds. Calls forwarding `**kwargs` are skipped, and so are methods of `requests.Session` objects (the receiver cannot be resolved cheaply), and test files.",
      whyIsThisBad:
        '`requests` and `urlopen` wait forever by default. When the remote service hangs, every request that calls it holds a worker (or, in an `async def` endpoint calling `requests`, the whole event loop) until the server stops answering anyone: a slow third party becomes a denial of service.',
      example: `r = requests.get(f"{settings.BILLING_URL}/invoices/{invoice_id}")`,
      useInstead: `r = requests.get(f"{settings.BILLING_URL}/invoices/{invoice_id}", timeout=10)`,
      fixSafety:
        'The fix adds `timeout=10` (or replaces `timeout=None`). Unsafe: slow but legitimate calls (large downloads, long reports) start failing after 10 seconds; pick a value that fits the call.',
    },
  },
  checkFile(ctx) {
    if (ctx.facts.test) return;
    if (!importsAny(ctx, ['requests', 'httpx', 'urllib'])) return;
    const names = [
      'get',
      'post',
      'put',
      'patch',
      'delete',
      'head',
      'options',
      'request',
      'stream',
      'Client',
      'AsyncClient',
      'urlopen',
    ];
    for (const site of callsNamed(ctx, names)) {
      const q = qualify(ctx, site.callee);
      if (!q) continue;
      const isRequests = REQUESTS.test(q);
      const isUrlopen = URLOPEN.test(q);
      const isHttpx = HTTPX.test(q);
      if (!isRequests && !isUrlopen && !isHttpx) continue;
      const call = site.node;
      const kw = keywordNode(call, 'timeout');
      const value = kw?.childForFieldName('value') ?? null;
      if (value && isNone(value)) {
        ctx.report({
          node: call,
          message: `\`${site.callee}(..., timeout=None)\` waits forever if the remote service hangs, holding a worker the whole time.`,
          fix: fix('Use timeout=10', 'unsafe', [replaceNode(ctx, value, '10')]),
        });
        continue;
      }
      if (kw || isHttpx || hasSplat(call)) continue;
      if (isUrlopen && positionalArgs(call).length >= 3) continue;
      const edit = appendArgs(ctx, call, 'timeout=10');
      ctx.report({
        node: call,
        message: `\`${site.callee}(...)\` has no timeout: if the remote service hangs, this call waits forever and holds a worker.`,
        fix: edit ? fix('Add timeout=10', 'unsafe', [edit]) : undefined,
      });
    }
  },
};
