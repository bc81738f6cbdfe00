import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

/**
 * The `fastapi-lens` binary, spawned as users run it (bin/fastapi-lens.js -> dist/cli.js):
 * `routes` formats and errors, `scan` formats, exit codes, --output, flags and configuration.
 * Builds dist/cli.js first when it is missing or older than the sources.
 */

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'fastapi-lens.js');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const FIX = path.join(__dirname, 'fixtures');
const PROJECT = path.join(FIX, 'cli', 'project');
const CLEAN = path.join(FIX, 'cli', 'clean');
const CONFIG = path.join(FIX, 'config');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

function ensureBuilt(): void {
  const built = fs.existsSync(CLI) ? fs.statSync(CLI).mtimeMs : 0;
  const sources = Math.max(
    newestSource(path.join(ROOT, 'server', 'src')),
    newestSource(path.join(ROOT, 'rules')),
  );
  if (built >= sources) return;
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `npm run build failed:\n${r.stdout}\n${r.stderr}`);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], cwd = PROJECT, env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let tmp: string;
before(() => {
  ensureBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fastapi-lens-cli-'));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('fastapi-lens (no command)', () => {
  it('--help prints usage and exits 0; --version prints the version', () => {
    const help = run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /fastapi-lens scan \[PATH\.\.\.\]/);
    assert.match(help.stdout, /fastapi-lens routes \[PATH\.\.\.\]/);
    const version = run(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  });
  it('an unknown command exits 2 with a message', () => {
    const r = run(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /fastapi-lens: unknown command frobnicate/);
  });
});

describe('fastapi-lens routes', () => {
  it('json: the route inventory, exit 0', () => {
    const r = run(['routes', '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.version, 1);
    const byPath = new Map(
      report.routes.map((x: { methods: string[]; path: string; exposure: string }) => [
        `${x.methods.join(',')} ${x.path}`,
        x.exposure,
      ]),
    );
    assert.equal(byPath.get('GET /users/me'), 'authenticated');
    assert.equal(byPath.get('DELETE /users/{user_id}'), 'public');
    assert.equal(byPath.get('POST /jobs/run'), 'public');
  });
  it('csv, markdown and table', () => {
    const csv = run(['routes', '--format', 'csv']);
    assert.equal(csv.code, 0, csv.stderr);
    assert.match(csv.stdout, /^methods,path,kind,exposure,/);
    assert.match(csv.stdout, /\nDELETE,\/users\/\{user_id\},http,public,/);
    const md = run(['routes', '--format=markdown']);
    assert.equal(md.code, 0, md.stderr);
    assert.match(md.stdout, /^\| Method \| Path \| Exposure \|/);
    const table = run(['routes', 'app']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^METHOD\s+PATH\s+EXPOSURE/);
    assert.match(table.stdout, /\n\d+ routes: /);
    assert.ok(!table.stdout.includes('\x1b['), 'no colours when not on a terminal');
  });
  it('--output writes the report to a file', () => {
    const out = path.join(tmp, 'routes.json');
    const r = run(['routes', '--format', 'json', '--output', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(JSON.parse(fs.readFileSync(out, 'utf8')).version, 1);
  });
  it('bad path, format or flag: exit 2 with a message on stderr', () => {
    const cases: [string[], RegExp][] = [
      [['routes', 'no/such/dir'], /no such file or folder: no\/such\/dir/],
      [['routes', '--format', 'xml'], /--format must be table, json, csv or markdown \(got xml\)/],
      [['routes', '--bogus'], /unknown option --bogus/],
      [['routes', '--format'], /--format needs a value/],
      [['routes', '--fail-on', 'error'], /--fail-on is not an option of `routes`/],
      [['routes', '--config', 'missing.toml'], /missing\.toml: cannot read/],
    ];
    for (const [args, message] of cases) {
      const r = run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
  });
  it('applies [tool.fastapi-lens]: auth-dependencies and exclude', () => {
    const deps = JSON.parse(
      run(['routes', '--format', 'json'], path.join(CONFIG, 'auth-deps')).stdout,
    );
    assert.equal(deps.routes[0].exposure, 'authenticated');
    const excl = JSON.parse(
      run(['routes', '--format', 'json'], path.join(CONFIG, 'exclude')).stdout,
    );
    assert.deepEqual(excl.routes.map((x: { path: string }) => x.path).sort(), ['/items', '/svc']);
  });
});

describe('fastapi-lens scan', () => {
  it('text: one block per finding and a summary; exit 1 at the default --fail-on warning', () => {
    const r = run(['scan']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(
      r.stdout,
      /^app\/routes\/users\.py:13:1: error AUTH001 public-route: DELETE \/users\/\{user_id\} is public/m,
    );
    assert.match(r.stdout, /^ {2}on public DELETE \/users\/\{user_id\}$/m);
    assert.match(r.stdout, /^ {2}> 13 \| @router\.delete\("\/\{user_id\}"\)$/m);
    assert.match(r.stdout, /^ {2} {5}\| \^{28}$/m, 'the decorator is underlined');
    assert.match(r.stdout, /^ {2}auth: none$/m);
    assert.match(
      r.stdout,
      /\n\d+ findings: \d+ errors?, \d+ warnings?, \d+ infos? in \d+ files? \(6 files scanned\)\n$/,
    );
    assert.ok(!r.stdout.includes('\x1b['), 'no colours when not on a terminal');
  });

  it('--color forces colours', () => {
    const r = run(['scan', '--color', '--fail-on', 'never']);
    assert.ok(r.stdout.includes('\x1b[31merror'), 'severity in red');
  });

  it('--fail-on: never, error, warning, info', () => {
    assert.equal(run(['scan', '--fail-on', 'never']).code, 0);
    assert.equal(run(['scan', '--fail-on', 'error']).code, 1);
    // clean/ has one info finding (POST /token is public by nature) among the AUTH rules.
    const clean = (failOn: string) =>
      run(['scan', '--select', 'AUTH', '--fail-on', failOn], CLEAN).code;
    assert.equal(clean('error'), 0);
    assert.equal(clean('warning'), 0);
    assert.equal(clean('info'), 1);
    assert.equal(run(['scan', '--select', 'AUTH', '--fail-on', 'info', 'main.py'], CLEAN).code, 1);
  });

  it('json to --output: findings, diagnostics and a consistent summary', () => {
    const out = path.join(tmp, 'nested', 'scan.json');
    const r = run(['scan', '--format', 'json', '--output', out]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /findings written to /);
    const report = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(report.version, 1);
    assert.ok(Array.isArray(report.diagnostics));
    const sev = (s: string) =>
      report.findings.filter((f: { severity: string }) => f.severity === s);
    assert.deepEqual(report.summary, {
      findings: report.findings.length,
      errors: sev('error').length,
      warnings: sev('warning').length,
      infos: sev('info').length,
      files: new Set(report.findings.map((f: { file: string }) => f.file)).size,
      filesScanned: 6,
      routes: report.summary.routes,
    });
    const f = report.findings.find((x: { code: string }) => x.code === 'AUTH001');
    for (const key of ['code', 'slug', 'severity', 'message', 'file', 'line', 'column', 'route'])
      assert.ok(key in f, key);
    assert.match(f.fingerprint, /^[0-9a-f]{8}$/);
  });

  it('sarif to --output', () => {
    const out = path.join(tmp, 'results.sarif');
    const r = run(['scan', '--format', 'sarif', '--output', out, '--fail-on', 'never']);
    assert.equal(r.code, 0);
    const log = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.equal(log.version, '2.1.0');
    assert.equal(log.$schema, 'https://json.schemastore.org/sarif-2.1.0.json');
    assert.ok(log.runs[0].results.some((x: { ruleId: string }) => x.ruleId === 'AUTH001'));
  });

  it('--select and --ignore take codes and prefixes', () => {
    const codes = (...flags: string[]) =>
      new Set(
        JSON.parse(run(['scan', '--format', 'json', ...flags]).stdout).findings.map(
          (f: { code: string }) => f.code,
        ),
      );
    assert.deepEqual([...codes('--select', 'AUTH001')], ['AUTH001']);
    assert.deepEqual([...codes('--select=AUTH001,AUTH002')], ['AUTH001']);
    assert.ok(![...codes('--ignore', 'AUTH')].some((c) => String(c).startsWith('AUTH')));
  });

  it('--exclude adds to the configuration', () => {
    const r = JSON.parse(run(['scan', '--format', 'json', '--exclude', 'app/routes/']).stdout);
    assert.ok(r.findings.every((f: { file: string }) => !f.file.startsWith('app/routes/')));
    assert.equal(r.summary.filesScanned, 3);
  });

  it('usage errors exit 2 with a message on stderr', () => {
    const cases: [string[], RegExp][] = [
      [['scan', '--fail-on', 'sometimes'], /--fail-on must be error, warning, info or never/],
      [['scan', '--format', 'xml'], /--format must be text, json or sarif \(got xml\)/],
      [['scan', 'missing.py'], /no such file or folder: missing\.py/],
      [['scan', '--bogus'], /unknown option --bogus/],
      [['scan', '--select', 'NOPE001'], /--select: unknown rule code or prefix NOPE001/],
      [
        ['scan', '--ignore', 'AUTH999'],
        /--ignore: unknown rule code or prefix AUTH999 \(did you mean AUTH009\?\)/,
      ],
      [['scan', '--config', 'missing.toml'], /fastapi-lens: --config: missing\.toml: cannot read/],
    ];
    for (const [args, message] of cases) {
      const r = run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
  });

  it('config problems go to stderr and do not change the exit code', () => {
    const r = run(['scan', '--fail-on', 'never'], path.join(CONFIG, 'bad-values'));
    assert.equal(r.code, 0);
    assert.ok(
      r.stderr.includes(
        'fastapi-lens: pyproject.toml: [tool.fastapi-lens] select: expected a list of rule codes, got a string; using the default\n',
      ),
      r.stderr,
    );
    assert.match(r.stderr, /selct: unknown key; did you mean `select`\?/);
    const json = JSON.parse(
      run(['scan', '--format', 'json'], path.join(CONFIG, 'bad-values')).stdout,
    );
    assert.ok(
      json.diagnostics.some(
        (d: { source: string; message: string }) =>
          d.source === 'config' && d.message.startsWith('[tool.fastapi-lens] select: expected'),
      ),
    );
  });

  it('invalid TOML: the report with defaults, a message, exit 2 (scan and routes)', () => {
    const cwd = path.join(CONFIG, 'invalid-toml');
    const r = run(['scan', '--fail-on', 'never'], cwd);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^fastapi-lens: pyproject\.toml:3:1: invalid TOML: .*; using the default settings$/m,
    );
    assert.match(r.stdout, /AUTH001 public-route: POST \/jobs is public/);
    const routes = run(['routes'], cwd);
    assert.equal(routes.code, 2);
    assert.match(routes.stdout, /POST\s+\/jobs\s+public/);
  });

  it('--config FILE replaces the nearest pyproject.toml', () => {
    const cwd = path.join(CONFIG, 'nested');
    const r = JSON.parse(
      run(['scan', '--format', 'json', '--config', '../explicit/lens.toml'], cwd).stdout,
    );
    assert.deepEqual(
      [
        ...new Set(
          r.findings.map((f: { code: string; severity: string }) => `${f.code} ${f.severity}`),
        ),
      ],
      ['AUTH001 warning'],
    );
  });
});
