import type { Node } from 'web-tree-sitter';
import type { FileRule } from '../api';
import { appConstructors } from './apps';
import { hasSplat, keywordNode, snippet, stringValue, unparen } from './util';

type Setting = { state: 'default' | 'literal' | 'off' | 'configured'; shown: string };

const DEFAULTS: Record<string, string> = {
  openapi_url: '/openapi.json',
  docs_url: '/docs',
  redoc_url: '/redoc',
};

/** A path written in the code (string, f-string, `prefix + "/docs"`) is always on. */
function isPathLiteral(node: Node): boolean {
  if (node.type === 'string' || node.type === 'concatenated_string') return true;
  if (node.type === 'binary_operator') {
    const l = node.childForFieldName('left');
    const r = node.childForFieldName('right');
    return (!!l && isPathLiteral(l)) || (!!r && isPathLiteral(r));
  }
  return false;
}

function setting(call: Node, name: string): Setting {
  const kw = keywordNode(call, name);
  if (!kw) return { state: 'default', shown: DEFAULTS[name] };
  const v = unparen(kw.childForFieldName('value'));
  if (!v || v.type === 'none') return { state: 'off', shown: '' };
  if (isPathLiteral(v)) return { state: 'literal', shown: stringValue(v) ?? snippet(v, 40) };
  return { state: 'configured', shown: '' };
}

/** CFG003: Swagger UI, ReDoc and the OpenAPI schema served unconditionally. */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'CFG003',
    slug: 'docs-exposed',
    title: 'API docs exposed unconditionally',
    defaultSeverity: 'info',
    cwe: [200, 215],
    owasp: ['API9:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports `FastAPI(...)` constructors that serve the OpenAPI schema, and with it Swagger UI and ReDoc, in every environment: `openapi_url` left at its default or set to a path written in the code (a string, an f-string such as `f"{settings.API_V1_STR}/openapi.json"`, or a concatenation). Not reported when `openapi_url` is `None` (which also disables `/docs` and `/redoc`), or when `openapi_url` comes from settings, the environment, a variable or a conditional expression (`"/openapi.json" if settings.ENVIRONMENT == "local" else None`), or when the call forwards `**kwargs`. Test files are skipped.',
      whyIsThisBad:
        'The schema lists every endpoint, parameter and model, including admin and internal routes nobody links to, and Swagger UI gives anyone a ready-made client for them. That is a map for an attacker and an inventory of forgotten endpoints (OWASP API9, improper inventory management). Public APIs may want this; internal ones should switch it off outside development.',
      example: `app = FastAPI(title="Billing API")`,
      useInstead: `app = FastAPI(
    title="Billing API",
    openapi_url="/openapi.json" if settings.ENVIRONMENT == "local" else None,
)`,
      fixSafety: 'No automatic fix: whether docs should be public is a product decision.',
    },
  },
  checkFile(ctx) {
    for (const { site, kind } of appConstructors(ctx)) {
      if (kind !== 'FastAPI' || hasSplat(site.node)) continue;
      const openapi = setting(site.node, 'openapi_url');
      if (openapi.state === 'off' || openapi.state === 'configured') continue;
      const exposed = [openapi.shown];
      for (const name of ['docs_url', 'redoc_url']) {
        const s = setting(site.node, name);
        if (s.state === 'default' || s.state === 'literal') exposed.push(s.shown);
      }
      ctx.report({
        node: site.node,
        message: `\`${site.callee}()\` serves its API description in every environment (${exposed
          .map((p) => `\`${p}\``)
          .join(
            ', ',
          )}): anyone can list all endpoints and models; disable it outside development with \`openapi_url=None\` or a setting.`,
      });
    }
  },
};
