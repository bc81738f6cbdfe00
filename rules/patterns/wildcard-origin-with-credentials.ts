import type { FileRule } from '../api';
import { corsWildcards } from './cors';

/** CORS001: any origin may make credentialed requests. */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'CORS001',
    slug: 'wildcard-origin-with-credentials',
    title: 'CORS allows any origin with credentials',
    defaultSeverity: 'error',
    cwe: [942, 346],
    owasp: ['API8:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports `CORSMiddleware` (via `app.add_middleware(CORSMiddleware, ...)`, `Middleware(CORSMiddleware, ...)` or `CORSMiddleware(app, ...)`) configured with `allow_credentials=True` and an origin list containing `"*"` (directly or through a module-level variable), or an `allow_origin_regex` that matches every origin (`.*`, `.+`, `^.*$`, `https?://.*`). Origins read from settings or the environment (`settings.BACKEND_CORS_ORIGINS`, `os.getenv(...)`) and conditional expressions are not treated as wildcards. Test files are skipped.',
      whyIsThisBad:
        "With credentials allowed, Starlette answers a request that carries cookies by echoing the caller's `Origin` instead of `*`, and a matching regex always echoes it. Any website a logged-in user visits can then call the API with the user's cookies or HTTP auth and read the responses: account data, CSRF tokens, everything the user can see.",
      example: `app.add_middleware(
    CORSMiddleware,
    allow_origins=["*"],
    allow_credentials=True,
    allow_methods=["*"],
)`,
      useInstead: `app.add_middleware(
    CORSMiddleware,
    allow_origins=settings.BACKEND_CORS_ORIGINS,  # e.g. ["https://app.example.com"]
    allow_credentials=True,
    allow_methods=["*"],
)`,
      fixSafety: 'No automatic fix: only the team knows which front-end origins are legitimate.',
    },
  },
  checkFile(ctx) {
    for (const w of corsWildcards(ctx)) {
      if (!w.credentials) continue;
      ctx.report({
        node: w.node,
        message:
          w.kind === 'origins'
            ? `CORS allows any origin (\`allow_origins=${w.shown}\`) together with \`allow_credentials=True\`: any website can send credentialed requests and read the responses.`
            : `CORS \`allow_origin_regex=${w.shown}\` matches every origin and \`allow_credentials=True\` is set: any website can send credentialed requests and read the responses.`,
      });
    }
  },
};
