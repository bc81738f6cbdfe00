import { taintRule } from './shared';

/** REDIR001: redirect to a location chosen by the client. */
export const rule = taintRule({
  code: 'REDIR001',
  slug: 'open-redirect',
  title: 'Redirect to a client-controlled location',
  defaultSeverity: 'warning',
  cwe: [601],
  owasp: ['API8:2023'],
  fix: 'none',
  exposureSensitive: true,
  docs: {
    whatItDoes:
      'Reports route inputs that become the target of `RedirectResponse(url)`, the `Location` entry of a response\'s `headers={...}`, or `response.headers["Location"] = ...`. Targets that start with a fixed path (`f"/items/{item_id}"`) or a fixed scheme and host are not reported; neither are targets checked in a guard clause against allowed hosts (`urlparse(next).netloc in ALLOWED_HOSTS`) or with `url_has_allowed_host_and_scheme()`.',
    whyIsThisBad:
      'A link on your own domain that sends users anywhere (`/login?next=https://evil.example`) makes phishing pages look trustworthy and can leak OAuth codes or tokens carried in the redirect.',
    example: `@router.get("/login/done")
def after_login(next: str):
    return RedirectResponse(next)`,
    useInstead: `@router.get("/login/done")
def after_login(next: str):
    if urlparse(next).netloc not in ("", "app.example.com"):
        next = "/"
    return RedirectResponse(next)`,
    fixSafety:
      'No automatic fix: which destinations are legitimate (relative paths only, or a list of hosts) is up to the application.',
  },
});
