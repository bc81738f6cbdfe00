import { taintRule } from './shared';

/** SSRF001: the server fetches a URL or host chosen by the client. */
export const rule = taintRule({
  code: 'SSRF001',
  slug: 'request-controlled-url',
  title: 'Outgoing request to a client-controlled URL',
  defaultSeverity: 'error',
  cwe: [918],
  owasp: ['API7:2023'],
  fix: 'none',
  exposureSensitive: true,
  docs: {
    whatItDoes:
      'Reports route inputs that reach the URL of an outgoing HTTP request: `requests.get/post/...()`, `httpx.get/...()`, methods of `httpx.Client`/`AsyncClient`, `requests.Session` and `aiohttp.ClientSession` instances, and `urllib.request.urlopen()`. A request value appended after a fixed scheme and host (`f"https://api.example.com/items/{item_id}"`) or after a base URL held in a setting is not reported, since it cannot change the host; neither is a URL checked in a guard clause (`if urlparse(url).netloc not in ALLOWED_HOSTS: raise ...`).',
    whyIsThisBad:
      'The server has network access the client does not: `url=http://169.254.169.254/latest/meta-data/` reads cloud credentials, `http://localhost:6379/` talks to internal services, and responses or timing leak what is behind the firewall.',
    example: `@router.get("/preview")
async def preview(url: str):
    async with httpx.AsyncClient() as client:
        return (await client.get(url)).text`,
    useInstead: `ALLOWED_HOSTS = {"images.example.com"}

@router.get("/preview")
async def preview(url: str):
    if urlparse(url).hostname not in ALLOWED_HOSTS:
        raise HTTPException(status_code=400, detail="host not allowed")
    async with httpx.AsyncClient() as client:
        return (await client.get(url)).text`,
    fixSafety:
      'No automatic fix: the allowed hosts are a product decision, and resolving DNS to block private addresses needs care (redirects, rebinding).',
  },
});
