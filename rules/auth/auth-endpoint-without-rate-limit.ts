import { routeSummary } from '../../server/src/engine/scan';
import type { WorkspaceRule } from '../api';
import { routeLabel } from './util';

/** Login, token, password reset, OTP and sign-up flows: the targets of guessing attacks. */
const AUTH_FLOW =
  /(^|[/_-])(login|log-in|signin|sign-in|token|otp|2fa|mfa|totp|verify|verification|password[-_]?(recovery|reset|forgot)|reset[-_]?password|forgot[-_]?password|magic[-_]?link|signup|sign-up|register)([/_{-]|$)/i;
const LIMITER =
  /limit|throttl|slowapi|ratelimit|rate_limit|backoff|captcha|turnstile|recaptcha|hcaptcha/i;

/** RATE001: guessable auth endpoints with nothing slowing attackers down. */
export const rule: WorkspaceRule = {
  kind: 'workspace',
  reach: {
    warm: 'route',
    cold: 'route',
    routes: (r) => r.route.kind === 'http',
    readsAppMiddleware: true,
  },
  meta: {
    code: 'RATE001',
    slug: 'auth-endpoint-without-rate-limit',
    title: 'Authentication endpoint without rate limiting',
    defaultSeverity: 'warning',
    cwe: [307, 799],
    owasp: ['API4:2023', 'API2:2023'],
    fix: 'none',
    exposureSensitive: false,
    docs: {
      whatItDoes:
        'Reports login, token, password-reset, OTP/2FA verification and sign-up routes (POST, PUT, PATCH) that anonymous callers can reach when nothing limits how often they can be called: no limiter decorator (`@limiter.limit(...)`), no limiter dependency (`Depends(RateLimiter(...))`), no rate-limiting middleware on the app, and no CAPTCHA check.',
      whyIsThisBad:
        'Without a limit, credential stuffing, password guessing, OTP brute force (a 6-digit code falls in a million tries) and reset-email flooding cost the attacker nothing.',
      example: `@router.post("/login/access-token")
def login(form: OAuth2PasswordRequestForm = Depends()): ...`,
      useInstead: `limiter = Limiter(key_func=get_remote_address)

@router.post("/login/access-token")
@limiter.limit("5/minute")
def login(request: Request, form: OAuth2PasswordRequestForm = Depends()): ...`,
      fixSafety: 'No automatic fix: limits depend on the deployment (proxies, shared stores).',
    },
  },
  checkWorkspace(ctx) {
    const model = ctx.analysis.model;
    for (const record of ctx.routes) {
      const route = record.route;
      if (
        route.kind !== 'http' ||
        !route.methods.some((m) => m === 'POST' || m === 'PUT' || m === 'PATCH')
      )
        continue;
      if (!AUTH_FLOW.test(route.path) && !AUTH_FLOW.test(`/${route.function ?? ''}`)) continue;
      // Behind authentication the caller is already known; guessing attacks need anonymity.
      if (route.exposure === 'authenticated' || route.exposure === 'scoped') continue;
      const fn = record.handler?.fn;
      if (fn?.decorators.some((d) => LIMITER.test(d.text))) continue;
      const names: string[] = [];
      const walk = (nodes: typeof route.dependencies): void => {
        for (const n of nodes) {
          names.push(n.name, n.callable);
          walk(n.children);
        }
      };
      walk(route.dependencies);
      if (names.some((n) => LIMITER.test(n))) continue;
      if (fn && fn.mentions.some((m) => LIMITER.test(m))) continue;
      const app = route.app
        ? [...model.objects.values()].find((o) => o.name === route.app)
        : undefined;
      if (app?.middleware.some((m) => LIMITER.test(m.name))) continue;
      ctx.report({
        file: route.file,
        line: route.line,
        column: route.column,
        message: `${routeLabel(route)} is an authentication endpoint with no rate limit: passwords, codes and tokens can be guessed at full speed.`,
        route: routeSummary(record),
      });
    }
  },
};
