import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { analyzeWorkspace, type Route } from '../server/src/engine/index';
import { oracleTargets } from './oracle/targets';

/**
 * Runtime oracle: real FastAPI (Debian's 0.92 through /usr/bin/python3) answers an anonymous
 * request to every HTTP route of every fixture app it can import (test/oracle/runtime_check.py:
 * path parameters "1", no body, no credentials, the app's own dependencies, no overrides).
 *
 * - Every route we call `authenticated`, `scoped` or `middleware` must be rejected: 401 or 403,
 *   or a 422 whose errors include a missing header or cookie declared by one of the route's
 *   dependencies (a dependency that needs a credential never runs without it, so the handler is
 *   never reached; errors about the endpoint's own parameters or body do not count).
 * - Every route we call `public` must not answer 401 or 403.
 * - `unknown` routes are not judged; websockets and mounts are not requested.
 *
 * Handlers do run, so each project is copied to a temp folder first. Known disagreements are
 * listed in KNOWN with the reason; an unlisted disagreement fails, and so does a listed one
 * that no longer happens (remove it then).
 */

const PYTHON = process.env.FASTAPI_LENS_ORACLE_PYTHON ?? '/usr/bin/python3';
const ROOT = path.join(__dirname, '..');
const CHECK = path.join(__dirname, 'oracle', 'runtime_check.py');

interface Answer {
  method: string;
  path: string;
  url: string;
  status: number;
  rejected: boolean;
  why: string | null;
  error?: string;
}

/**
 * `<project> <METHOD> <path>` -> why our verdict and FastAPI's behaviour differ. Empty: every
 * route we judge agrees with FastAPI. (Starlette's AuthenticationMiddleware alone is `public`,
 * a dependency that is auth by its name only is `unknown`; both were listed here before.)
 */
const KNOWN: Record<string, string> = {};

function unavailable(): string | null {
  try {
    execFileSync(PYTHON, ['-c', 'import fastapi, httpx, fastapi.testclient'], { stdio: 'pipe' });
    return null;
  } catch {
    return `${PYTHON} cannot import fastapi, httpx and fastapi.testclient (apt-get install python3-fastapi python3-httpx)`;
  }
}

const skip = unavailable();
if (skip) console.warn(`\n!!! SKIPPING the runtime oracle tests: ${skip}\n`);

const targets = oracleTargets();

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-runtime-oracle-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const totals = { rejected: 0, served: 0, unknown: 0, known: 0 };

function askFastApi(dir: string, app: string): Answer[] {
  const copy = fs.mkdtempSync(path.join(tmp, `${path.basename(dir)}-`));
  fs.cpSync(dir, copy, { recursive: true });
  const out = execFileSync(PYTHON, [CHECK, copy, app], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  return (JSON.parse(out) as { routes: Answer[] }).routes;
}

function oursFor(routes: Route[], app: string): Route[] {
  // The target is an app we found, or a router that no app includes (a plugin package).
  const inApp = routes.filter((r) => r.app === app);
  return (inApp.length ? inApp : routes.filter((r) => r.app === null)).filter(
    (r) => r.kind === 'http',
  );
}

describe(
  'runtime oracle: FastAPI rejects what we call protected and serves what we call public',
  { skip: skip ?? false },
  () => {
    it('has runtime targets', () =>
      assert.ok(targets.length >= 5, `only ${targets.length} targets`));

    for (const { dir, app } of targets) {
      const name = path.relative(ROOT, dir).split(path.sep).join('/');
      it(`${name} (${app})`, async (t) => {
        const answers = askFastApi(dir, app);
        const { report } = await analyzeWorkspace({ roots: [dir], cwd: dir });
        const problems: string[] = [];
        const seenKnown = new Set<string>();
        let judged = 0;
        for (const route of oursFor(report.routes, app)) {
          for (const method of route.methods) {
            const answer = answers.find((a) => a.method === method && a.path === route.path);
            const key = `${name} ${method} ${route.path}`;
            if (!answer) {
              problems.push(`${key}: in our inventory, not in FastAPI's app`);
              continue;
            }
            if (route.exposure === 'unknown') {
              totals.unknown++;
              continue;
            }
            judged++;
            const protectedByUs = route.exposure !== 'public';
            const detail = `we say ${route.exposure} (${route.auth.map((a) => `${a.dependency} ${a.level} ${a.basis}${a.confidence === 'low' ? ' low-confidence' : ''}`).join('; ') || 'no auth'}); FastAPI answers ${answer.status}${answer.why ? ` (${answer.why})` : ''}${answer.error ? ` ${answer.error}` : ''}`;
            const agrees = protectedByUs ? answer.rejected : !answer.rejected;
            if (answer.rejected) totals.rejected++;
            else totals.served++;
            if (agrees) continue;
            if (KNOWN[key]) {
              seenKnown.add(key);
              totals.known++;
              t.diagnostic(`known disagreement: ${key}: ${detail} [${KNOWN[key]}]`);
              continue;
            }
            problems.push(`${key}: ${detail}`);
          }
        }
        for (const key of Object.keys(KNOWN))
          if (key.startsWith(`${name} `) && !seenKnown.has(key))
            problems.push(`${key}: listed in KNOWN but FastAPI and we now agree: remove it`);
        assert.ok(judged > 0, 'no route judged');
        assert.deepEqual(problems, []);
      });
    }

    it('summary', (t) => {
      t.diagnostic(
        `anonymous requests: ${totals.rejected} rejected, ${totals.served} served; ${totals.unknown} unknown not judged; ${totals.known} known disagreements`,
      );
    });
  },
);
