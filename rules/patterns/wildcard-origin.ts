import type { FileRule } from '../api';
import { corsWildcards } from './cors';

/** CORS002: any origin may read responses (no credentials). */
export const rule: FileRule = {
  kind: 'file',
  meta: {
    code: 'CORS002',
    slug: 'wildcard-origin',
    title: 'CORS allows any origin',
    defaultSeverity: 'info',
    cwe: [942],
    owasp: ['API8:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports `CORSMiddleware` configured with an origin list containing `"*"`, or an `allow_origin_regex` matching every origin, without `allow_credentials=True` (with credentials it is CORS001). Origins read from settings or the environment are not treated as wildcards. Test files are skipped.',
      whyIsThisBad:
        "Without credentials the browser does not attach cookies, so this is often intended for public APIs. It still lets any website read every response the API gives an anonymous caller, including from inside a victim's network (intranet services, IP-allow-listed endpoints), and it is easy to add `allow_credentials=True` later without noticing the wildcard. Listing origins makes the intent explicit.",
      example: `app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"])`,
      useInstead: `app.add_middleware(
    CORSMiddleware,
    allow_origins=["https://app.example.com"],
    allow_methods=["GET"],
)`,
      fixSafety: "No automatic fix: the list of legitimate origins is the team's decision.",
    },
  },
  checkFile(ctx) {
    for (const w of corsWildcards(ctx)) {
      if (w.credentials) continue;
      ctx.report({
        node: w.node,
        message:
          w.kind === 'origins'
            ? `CORS allows any origin (\`allow_origins=${w.shown}\`): every website can read this API's responses from a visitor's browser.`
            : `CORS \`allow_origin_regex=${w.shown}\` matches every origin: every website can read this API's responses from a visitor's browser.`,
      });
    }
  },
};
