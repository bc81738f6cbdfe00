import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CodeAction, Diagnostic } from 'vscode-languageserver-protocol';
import { applyWorkspaceEdit, buildServerIfMissing, Client, msg, uriOf } from './lspClient';

/**
 * The authentication quick fixes work at runtime. A fixture app is copied to a temp folder, the
 * bundled language server (dist/server.js, over stdio) offers its quick fixes for an AUTH001
 * route, the chosen WorkspaceEdit is applied to disk (created files included) as an editor
 * would, and real FastAPI (Debian's 0.92 through /usr/bin/python3, `TestClient`) is asked:
 * before the fix the route answers anonymous callers; after it, 401 without a token, 401 with a
 * bad one, 200 with a valid JWT minted by PyJWT with the secret and algorithm the dependency
 * reads (taken from its source: the environment variable and the pinned algorithm).
 *
 * - `fix-runtime/jwt-dependency`: the project has an OAuth2 + PyJWT `get_current_user`; each
 *   "protect" fix (handler parameter, decorator `dependencies=`, router) reuses it.
 * - `fix-runtime/no-auth`: no authentication at all; "scaffold" creates the module and wires it
 *   in, then "protect" on another route reuses the scaffolded dependency.
 */

const PYTHON = process.env.FASTAPI_LENS_ORACLE_PYTHON ?? '/usr/bin/python3';
const REQUESTS = path.join(__dirname, 'oracle', 'request_with_tokens.py');
const FIXTURES = path.join(__dirname, 'fixtures', 'fix-runtime');

function unavailable(): string | null {
  try {
    execFileSync(PYTHON, ['-c', 'import fastapi, fastapi.testclient, httpx, jwt'], {
      stdio: 'pipe',
    });
    return null;
  } catch {
    return `${PYTHON} cannot import fastapi, fastapi.testclient, httpx and jwt (apt-get install python3-fastapi python3-httpx python3-jwt)`;
  }
}

const skip = unavailable();
if (skip) console.warn(`\n!!! SKIPPING the quick-fix runtime tests: ${skip}\n`);

// ---------------------------------------------------------------------------------------------
// Python side

interface TokenSpec {
  key: string;
  algorithm: string;
  claims: Record<string, unknown>;
  /** Seconds until `exp`; no `exp` claim when absent. */
  exp_in?: number;
}

interface RequestSpec {
  method: string;
  path: string;
  token?: TokenSpec;
  raw_token?: string;
}

interface Answer {
  status: number;
  body: string;
}

/** Requests against a fresh import of the app (each call is a new Python process). */
function ask(
  project: string,
  requests: RequestSpec[],
  env: Record<string, string> = {},
  unset: string[] = [],
): Answer[] {
  const out = execFileSync(PYTHON, [REQUESTS], {
    input: JSON.stringify({ project, app: 'app.main:app', env, unset, requests }),
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  return (JSON.parse(out) as { answers: Answer[] }).answers;
}

/** The statuses of `requests`, with the bodies in the message when they differ. */
function assertStatuses(
  project: string,
  requests: [RequestSpec, number][],
  env: Record<string, string>,
  what: string,
  unset: string[] = [],
): void {
  const answers = ask(
    project,
    requests.map(([r]) => r),
    env,
    unset,
  );
  const got = requests.map(([r], i) => `${label(r)} -> ${answers[i].status}`);
  const want = requests.map(([r, status]) => `${label(r)} -> ${status}`);
  assert.deepEqual(got, want, `${what}\n${answers.map((a) => a.body).join('\n')}`);
}

function label(r: RequestSpec): string {
  if (r.raw_token !== undefined) return `${r.method} ${r.path} with a malformed token`;
  if (!r.token) return `${r.method} ${r.path} anonymously`;
  const t = r.token;
  const flaws = [
    t.key === SECRET ? '' : 'signed with another key',
    t.exp_in === undefined ? 'without exp' : t.exp_in < 0 ? 'expired' : '',
    'sub' in t.claims ? '' : 'without sub',
  ].filter(Boolean);
  return `${r.method} ${r.path} with a ${t.algorithm} token${flaws.length ? ` ${flaws.join(', ')}` : ''}`;
}

/** How the project's dependency verifies tokens, read from its source. */
interface Verifier {
  envVar: string;
  algorithm: string;
}

function verifierOf(source: string, where: string): Verifier {
  const env = /os\.environ(?:\.get\(\s*|\[\s*)"(\w+)"/.exec(source);
  assert.ok(env, `${where} does not read its secret from os.environ`);
  const alg =
    /^JWT_ALGORITHM = "(\w+)"$/m.exec(source) ?? /algorithms=\[\s*"(\w+)"\s*\]/.exec(source);
  assert.ok(alg, `${where} pins no algorithm`);
  return { envVar: env[1], algorithm: alg[1] };
}

// ---------------------------------------------------------------------------------------------
// Editor side

const tmpRoots: string[] = [];
const clients: Client[] = [];

function copyFixture(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lens-fix-runtime-${name}-`));
  tmpRoots.push(dir);
  fs.cpSync(path.join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

async function startClient(dir: string): Promise<Client> {
  const c = await Client.start(dir);
  clients.push(c);
  return c;
}

/** The AUTH001 diagnostic of a route, by method and path (lines move when fixes add imports). */
function diagnosticFor(diags: Diagnostic[], route: string): Diagnostic {
  const d = diags.find((x) => x.code === 'AUTH001' && msg(x).startsWith(`${route} is public`));
  assert.ok(d, `no AUTH001 for ${route}: ${JSON.stringify(diags.map(msg))}`);
  return d;
}

function pick(actions: CodeAction[], title: RegExp): CodeAction {
  const found = actions.filter((a) => a.edit && title.test(a.title));
  assert.equal(
    found.length,
    1,
    `one action matching ${title}; offered:\n${actions.map((a) => a.title).join('\n')}`,
  );
  return found[0];
}

/**
 * Apply a code action's WorkspaceEdit to disk, as an editor does when the user saves, and tell
 * the server through watched-file notifications. Returns the touched files' new texts.
 */
async function applyToDisk(c: Client, action: CodeAction): Promise<Map<string, string>> {
  assert.ok(action.edit);
  const edited = applyWorkspaceEdit(action.edit, (p) => fs.readFileSync(p, 'utf8'));
  const changes: { uri: string; type: number }[] = [];
  for (const [file, text] of edited) {
    const created = !fs.existsSync(file);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    changes.push({ uri: uriOf(file), type: created ? 1 : 2 });
  }
  await c.conn.sendNotification('workspace/didChangeWatchedFiles', { changes });
  return edited;
}

before(buildServerIfMissing);
after(async () => {
  for (const c of clients) await c.stop();
  for (const d of tmpRoots) fs.rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

const SECRET = 'fix-runtime-test-secret-0123456789abcdef';
const OTHER_SECRET = 'not-the-configured-secret-0123456789abcdef';

describe(
  'quick fixes at runtime: the fixed route answers 401 without a token and 200 with one',
  { skip: skip ?? false, timeout: 300000 },
  () => {
    it('protect this route / its router reuses the project JWT dependency', async (t) => {
      const READ = 'GET /reports/{report_id}';
      const DELETE = 'DELETE /reports/{report_id}';
      const variants: { kind: string; title: RegExp; deleteProtected: boolean }[] = [
        {
          kind: 'parameter',
          title: /^Require `get_current_user` on this route: add parameter/,
          deleteProtected: false,
        },
        { kind: 'decorator', title: /to the decorator$/, deleteProtected: false },
        {
          kind: 'router',
          title: /on every route of router `reports\.router`/,
          deleteProtected: true,
        },
      ];
      for (const v of variants) {
        const dir = copyFixture('jwt-dependency');
        const verifier = verifierOf(
          fs.readFileSync(path.join(dir, 'app', 'security.py'), 'utf8'),
          'app/security.py',
        );
        const env = { [verifier.envVar]: SECRET };
        const valid = (claims: Record<string, unknown>): TokenSpec => ({
          key: SECRET,
          algorithm: verifier.algorithm,
          claims,
          exp_in: 600,
        });
        const read: RequestSpec = { method: 'GET', path: '/reports/1' };
        const del: RequestSpec = { method: 'DELETE', path: '/reports/1' };
        assertStatuses(
          dir,
          [
            [read, 200],
            [del, 200],
            [{ method: 'GET', path: '/account/me' }, 401],
            [{ method: 'GET', path: '/account/me', token: valid({ sub: 'alice' }) }, 200],
          ],
          env,
          `${v.kind}: before the fix the report routes are public and /account/me is not`,
        );

        const c = await startClient(dir);
        const reports = path.join(dir, 'app', 'routers', 'reports.py');
        const diags = await c.waitFor(reports, (d) => d.length === 2);
        const actions = await c.codeActions(reports, [diagnosticFor(diags, READ)]);
        assert.ok(
          !actions.some((a) => a.title.startsWith('Scaffold')),
          'no scaffold when the project has auth',
        );
        const edited = await applyToDisk(c, pick(actions, v.title));
        assert.deepEqual(
          [...edited.keys()].map((f) => path.relative(dir, f)),
          [path.join('app', 'routers', 'reports.py')],
          `${v.kind}: edits only the router's file`,
        );
        assert.match(
          edited.get(reports) ?? '',
          /^from app\.security import get_current_user$/m,
          `${v.kind}: reuses the project's dependency`,
        );
        // The server agrees that the route (or the router) is protected now.
        const left = await c.waitFor(reports, (d) => d.length === (v.deleteProtected ? 0 : 1));
        if (!v.deleteProtected) diagnosticFor(left, DELETE);

        assertStatuses(
          dir,
          [
            [read, 401],
            [{ ...read, raw_token: 'not-a-jwt' }, 401],
            [{ ...read, token: { ...valid({ sub: 'alice' }), key: OTHER_SECRET } }, 401],
            [{ ...read, token: valid({ sub: 'alice' }) }, 200],
            [del, v.deleteProtected ? 401 : 200],
            [{ ...del, token: valid({ sub: 'alice' }) }, 200],
          ],
          env,
          `${v.kind}: after the fix`,
        );
        t.diagnostic(
          `${v.kind}: ${edited
            .get(reports)
            ?.match(/^.*get_current_user.*$/gm)
            ?.join(' | ')}`,
        );
      }
    });

    it('scaffold auth creates a working get_current_user; protect then reuses it', async (t) => {
      const READ = 'GET /notes/{note_id}';
      const DELETE = 'DELETE /notes/{note_id}';
      const dir = copyFixture('no-auth');
      const read: RequestSpec = { method: 'GET', path: '/notes/1' };
      const del: RequestSpec = { method: 'DELETE', path: '/notes/1' };
      assertStatuses(
        dir,
        [
          [read, 200],
          [del, 200],
        ],
        {},
        'before the fix both routes are public',
      );

      const c = await startClient(dir);
      const notes = path.join(dir, 'app', 'notes.py');
      const diags = await c.waitFor(notes, (d) => d.length === 2);
      const actions = await c.codeActions(notes, [diagnosticFor(diags, READ)]);
      assert.ok(
        !actions.some((a) => /add parameter|to the decorator/.test(a.title)),
        'nothing to reuse before the scaffold',
      );
      const edited = await applyToDisk(
        c,
        pick(actions, /^Scaffold an OAuth2\/JWT `get_current_user`/),
      );
      const created = [...edited.keys()].filter((f) => f !== notes);
      assert.equal(created.length, 1, 'one module created');
      const moduleRel = path.relative(dir, created[0]);
      assert.match(moduleRel, /^app[/\\]\w+\.py$/);
      const moduleName = moduleRel.replace(/\.py$/, '').split(path.sep).join('.');
      assert.match(
        edited.get(notes) ?? '',
        new RegExp(`^from ${moduleName.replace(/\./g, '\\.')} import get_current_user$`, 'm'),
      );
      const left = await c.waitFor(notes, (d) => d.length === 1);
      diagnosticFor(left, DELETE);

      // The secret's variable and the algorithm come from the generated code.
      const verifier = verifierOf(fs.readFileSync(created[0], 'utf8'), moduleRel);
      const env = { [verifier.envVar]: SECRET };
      const token = (over: Partial<TokenSpec> = {}): TokenSpec => ({
        key: SECRET,
        algorithm: verifier.algorithm,
        claims: { sub: 'alice' },
        exp_in: 600,
        ...over,
      });
      const otherAlgorithm = verifier.algorithm === 'HS512' ? 'HS256' : 'HS512';
      assertStatuses(
        dir,
        [
          [read, 401],
          [{ ...read, raw_token: 'not-a-jwt' }, 401],
          [{ ...read, token: token({ key: OTHER_SECRET }) }, 401],
          [{ ...read, token: token({ exp_in: -120 }) }, 401],
          [{ ...read, token: token({ exp_in: undefined }) }, 401],
          [{ ...read, token: token({ claims: {} }) }, 401],
          [{ ...read, token: token({ algorithm: otherAlgorithm }) }, 401],
          [{ ...read, token: token() }, 200],
          [del, 200],
        ],
        env,
        'after the scaffold: a valid token (signed, unexpired, with sub and exp) and nothing else',
      );
      assertStatuses(
        dir,
        [[{ ...read, token: token() }, 401]],
        {},
        'without the secret configured no token is accepted (fail closed)',
        [verifier.envVar],
      );

      // Now the project has auth: the other route is protected with the scaffolded dependency.
      const again = await c.codeActions(notes, [diagnosticFor(left, DELETE)]);
      assert.ok(!again.some((a) => a.title.startsWith('Scaffold')), 'no second scaffold');
      const protect = await applyToDisk(
        c,
        pick(again, /^Require `get_current_user` on this route: add parameter/),
      );
      assert.deepEqual([...protect.keys()], [notes]);
      assert.equal(
        (protect.get(notes)?.match(/import get_current_user/g) ?? []).length,
        1,
        'the import is reused',
      );
      await c.waitFor(notes, (d) => d.length === 0);
      assertStatuses(
        dir,
        [
          [read, 401],
          [{ ...read, token: token() }, 200],
          [del, 401],
          [{ ...del, token: token({ key: OTHER_SECRET }) }, 401],
          [{ ...del, token: token() }, 200],
        ],
        env,
        'after protecting the second route with the scaffolded dependency',
      );
      t.diagnostic(
        `scaffolded ${moduleRel} (${verifier.envVar}, ${verifier.algorithm}); ${protect
          .get(notes)
          ?.match(/^def .*$/gm)
          ?.join(' | ')}`,
      );
    });
  },
);
