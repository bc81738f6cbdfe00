import { taintRule } from './shared';

/** XSS001: request data in HTML sent without escaping. */
export const rule = taintRule({
  code: 'XSS001',
  slug: 'unescaped-html-response',
  title: 'Request data in an unescaped HTML response',
  defaultSeverity: 'warning',
  cwe: [79],
  owasp: ['API8:2023'],
  fix: 'none',
  exposureSensitive: true,
  docs: {
    whatItDoes:
      'Reports route inputs that reach the content of an `HTMLResponse(...)` (or a `Response` with an HTML media type), that are returned (as they are, or in a string built from them) by a route declared with `response_class=HTMLResponse`, or that are rendered by a Jinja2 `Template(...)`/`Environment(...)` created without autoescaping. Values passed through `html.escape()`, `markupsafe.escape()` or `bleach.clean()` are not reported. `Jinja2Templates` (which autoescapes `.html` templates) is not reported.',
    whyIsThisBad:
      "A `<script>` in a query parameter runs in the victim's browser with your origin's cookies and storage when they follow a crafted link: session theft, actions on their behalf, fake login forms.",
    example: `@router.get("/hello", response_class=HTMLResponse)
def hello(name: str):
    return f"<h1>Hello {name}</h1>"`,
    useInstead: `@router.get("/hello", response_class=HTMLResponse)
def hello(name: str):
    return f"<h1>Hello {html.escape(name)}</h1>"`,
    fixSafety:
      'No automatic fix: escaping at the right place depends on the HTML context (text, attribute, URL, script).',
  },
});
