import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import fsModule from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { analyzeWorkspace, scanWorkspace } from '../server/src/engine/index';
import { checkAnalysis } from '../scripts/fuzz';
import { SMALL_APP as APP } from './smallApp';

/**
 * Workspace faults: symlink loops, unreadable folders and files, files deleted or changed during
 * a scan, 50,000 files, deep folder trees, non-UTF-8 names, a broken pyproject.toml. Each gets a
 * clear message, the rest of the workspace is analysed, and nothing is written to the workspace
 * (every case compares a snapshot of the tree, with sizes, modes and times, before and after).
 *
 * Permission bits do not stop root: when the tests run as root (CI containers), the unreadable
 * cases run the CLI as `nobody` (uid 65534); the engine API is also checked with `fs` patched to
 * fail with EACCES on the chosen paths.
 */

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'fastapi-lens.js');
const BUILT = fs.existsSync(path.join(ROOT, 'dist', 'cli.js'));
const NOT_BUILT = 'dist/cli.js is not built (npm run build)';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-faults-'));
  fs.chmodSync(tmp, 0o755); // readable by `nobody` for the unreadable-folder case
});
after(() => {
  // `rm` copes with trees deeper than PATH_MAX and with folders that were made unreadable.
  execFileSync('chmod', ['-R', 'u+rwx', tmp]);
  execFileSync('rm', ['-rf', tmp]);
});

function project(name: string, files: Record<string, string | Buffer> = {}): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries({ 'main.py': APP, ...files })) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  }
  return dir;
}

/**
 * Every entry of a tree with its type, size, mode, link target and modification / change times
 * (`find`, which copes with non-UTF-8 names and paths longer than PATH_MAX). Access times are
 * left out: reading is allowed.
 */
function snapshot(dir: string): string {
  return execFileSync('find', [dir, '-printf', '%P\\t%y\\t%s\\t%m\\t%l\\t%T@\\t%C@\\n'], {
    maxBuffer: 512 * 1024 * 1024,
  }).toString('latin1');
}

function unchanged(dir: string, before: string): void {
  const after = snapshot(dir);
  if (after === before) return;
  const a = new Set(before.split('\n'));
  const diff = after.split('\n').filter((l) => !a.has(l));
  assert.fail(`the workspace changed:\n${diff.slice(0, 20).join('\n')}`);
}

function routesOf(analysis: Awaited<ReturnType<typeof analyzeWorkspace>>): string[] {
  return analysis.report.routes.map((r) => `${r.file} ${r.path} ${r.exposure}`).sort();
}

interface CliJson {
  findings: { code: string; file: string }[];
  diagnostics: { source: string; file: string; message: string; line?: number }[];
  summary: { filesScanned: number; routes: number };
}

function cli(
  args: string[],
  cwd: string,
  options: { uid?: number; gid?: number } = {},
): { status: number | null; json: CliJson | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    ...options,
  });
  let json: CliJson | null;
  try {
    json = JSON.parse(res.stdout) as CliJson;
  } catch {
    json = null;
  }
  return { status: res.status, json, stdout: res.stdout, stderr: res.stderr };
}

type FsPatch = Partial<
  Record<
    'readFileSync' | 'readdirSync' | 'statSync' | 'realpathSync',
    (real: (...a: unknown[]) => unknown, ...args: unknown[]) => unknown
  >
>;

/** Run `fn` with some `fs` functions wrapped (the engine reads through the same module). */
async function withFs<T>(patch: FsPatch, fn: () => Promise<T>): Promise<T> {
  const mod = fsModule as unknown as Record<string, (...a: unknown[]) => unknown>;
  const saved = new Map<string, (...a: unknown[]) => unknown>();
  for (const [name, wrap] of Object.entries(patch)) {
    const real = mod[name];
    saved.set(name, real);
    mod[name] = (...args: unknown[]) => wrap!(real, ...args);
  }
  try {
    return await fn();
  } finally {
    for (const [name, real] of saved) mod[name] = real;
  }
}

function errno(code: string, p: unknown): Error {
  return Object.assign(new Error(`${code}: ${String(p)}`), { code });
}

describe('faults: links, special files and odd names', () => {
  it('symlink loops, broken links, FIFOs and devices named .py, non-UTF-8 names: one message each', async () => {
    const dir = project('links', { 'pkg/a.py': 'x = 1\n', 'dir.py/inner.py': 'y = 2\n' });
    fs.symlinkSync('..', path.join(dir, 'pkg', 'loop'));
    fs.symlinkSync('self', path.join(dir, 'self'));
    fs.symlinkSync('self.py', path.join(dir, 'self.py'));
    fs.symlinkSync('nowhere.py', path.join(dir, 'dangling.py'));
    fs.symlinkSync('nowhere', path.join(dir, 'dangling-folder'));
    fs.symlinkSync('/dev/zero', path.join(dir, 'zero.py'));
    execFileSync('mkfifo', [path.join(dir, 'fifo.py')]);
    const bytes = (name: number[], rest = '') =>
      Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name), Buffer.from(rest)]);
    fs.writeFileSync(bytes([0xff, 0xfe], '.py'), APP);
    fs.mkdirSync(bytes([0xc3, 0x28]));
    fs.writeFileSync(bytes([0xc3, 0x28], '/in.py'), APP);
    for (const odd of [
      '..py',
      ' .py',
      '\\.py',
      'a\nb.py',
      '*.py',
      '[.py',
      '#.py',
      '!x.py',
      'é.py',
      '\u202e.py',
    ])
      fs.writeFileSync(path.join(dir, odd), 'z = 3\n');
    const before = snapshot(dir);
    const started = performance.now();
    const { analysis, findings } = await scanWorkspace({ roots: [dir], cwd: dir, threads: 1 });
    assert.ok(performance.now() - started < 10_000, 'the FIFO and /dev/zero were not read');
    checkAnalysis(analysis, findings, dir);
    const messages = analysis.report.diagnostics.map((d) => `${d.file}: ${d.message}`).sort();
    assert.deepEqual(messages, [
      'dangling.py: skipped: broken symbolic link',
      'fifo.py: skipped: not a regular file',
      'pkg/loop: skipped: symbolic link loop (it leads back to .)',
      'self.py: skipped: symbolic link loop',
      'self: skipped: symbolic link loop',
      'zero.py: skipped: not a regular file',
      '\ufffd(: skipped: its name is not valid UTF-8',
      '\ufffd\ufffd.py: skipped: its name is not valid UTF-8',
    ]);
    assert.deepEqual(routesOf(analysis), ['main.py /closed authenticated', 'main.py /open public']);
    const names = analysis.files.map((f) => f.rel);
    for (const odd of [
      '..py',
      ' .py',
      'a\nb.py',
      '[.py',
      '\u202e.py',
      'dir.py/inner.py',
      'pkg/a.py',
    ])
      assert.ok(names.includes(odd), `${JSON.stringify(odd)} analysed`);
    unchanged(dir, before);
  });

  it('the CLI prints the same messages as valid JSON', { skip: BUILT ? false : NOT_BUILT }, () => {
    const dir = path.join(tmp, 'links');
    const before = snapshot(dir);
    const res = cli(['scan', '.', '--format', 'json', '--fail-on', 'never'], dir);
    assert.equal(res.status, 0, res.stderr);
    assert.ok(res.json);
    assert.equal(res.json.diagnostics.length, 8);
    assert.ok(
      res.json.diagnostics.every((d) => d.source === 'engine' && d.message.startsWith('skipped: ')),
    );
    unchanged(dir, before);
  });
});

describe('faults: unreadable folders and files', () => {
  it('engine API: EACCES on a folder and on a file (fs patched): a message each, the rest analysed', async () => {
    const dir = project('eacces', {
      'secret/hidden.py': APP,
      'private.py': APP,
      'ok/fine.py': 'x = 1\n',
    });
    const before = snapshot(dir);
    const secret = path.join(dir, 'secret');
    const priv = path.join(dir, 'private.py');
    const analysis = await withFs(
      {
        readdirSync: (real, p, ...rest) => {
          if (p === secret) throw errno('EACCES', p);
          return real(p, ...rest);
        },
        readFileSync: (real, p, ...rest) => {
          if (p === priv) throw errno('EACCES', p);
          return real(p, ...rest);
        },
      },
      () => analyzeWorkspace({ roots: [dir], cwd: dir, threads: 1 }),
    );
    assert.deepEqual(analysis.report.diagnostics.map((d) => `${d.file}: ${d.message}`).sort(), [
      'private.py: cannot read: permission denied',
      'secret: folder skipped: permission denied',
    ]);
    assert.deepEqual(routesOf(analysis), ['main.py /closed authenticated', 'main.py /open public']);
    assert.ok(analysis.files.some((f) => f.rel === 'ok/fine.py'));
    unchanged(dir, before);
  });

  it(
    'CLI: chmod 000 on a folder and a file (as `nobody` when running as root)',
    { skip: BUILT ? false : NOT_BUILT },
    (t) => {
      const dir = project('chmod', {
        'secret/hidden.py': APP,
        'private.py': APP,
        'ok/fine.py': 'x = 1\n',
      });
      execFileSync('chmod', ['-R', 'a+rX', dir]);
      fs.chmodSync(path.join(dir, 'secret'), 0o000);
      fs.chmodSync(path.join(dir, 'private.py'), 0o000);
      const before = snapshot(dir);
      const asRoot = process.getuid?.() === 0;
      const user = asRoot ? { uid: 65534, gid: 65534 } : {};
      const probe = spawnSync(
        process.execPath,
        ['-e', `require('fs').readdirSync(${JSON.stringify(path.join(dir, 'secret'))})`],
        user,
      );
      if (probe.error) {
        // Root without the right to switch users (a rootless container): nothing left to try.
        console.warn(
          `\n!!! SKIPPING the chmod 000 CLI case: cannot run as nobody (${probe.error.message})\n`,
        );
        t.skip(`cannot run as nobody: ${probe.error.message}`);
        return;
      }
      if (probe.status === 0) {
        // Only when neither permission bits nor a drop to `nobody` can hide a folder.
        console.warn(
          '\n!!! SKIPPING the chmod 000 CLI case: this user can read a chmod 000 folder\n',
        );
        t.skip('permission bits do not apply to this user');
        return;
      }
      t.diagnostic(
        asRoot ? 'running the CLI as nobody (uid 65534)' : 'running the CLI as this user',
      );
      const res = cli(['scan', '.', '--format', 'json', '--fail-on', 'never'], dir, user);
      assert.equal(res.status, 0, res.stderr);
      assert.ok(res.json, res.stdout);
      assert.deepEqual(res.json.diagnostics.map((d) => `${d.file}: ${d.message}`).sort(), [
        'private.py: cannot read: permission denied',
        'secret: folder skipped: permission denied',
      ]);
      assert.equal(res.json.summary.routes, 2);
      unchanged(dir, before);
    },
  );
});

describe('faults: files deleted or changed during a scan', () => {
  it('deleted, replaced by a folder, or grown past the size limit between discovery and reading', async () => {
    const dir = project('vanishing', {
      'app/__init__.py': '',
      'app/gone.py': APP,
      'app/morph.py': APP,
      'app/grows.py': APP,
      'app/kept.py': APP.replace(/open/g, 'kept'),
    });
    const at = (f: string) => path.join(dir, 'app', f);
    let grew = false;
    const { analysis, findings } = await withFs(
      {
        readFileSync: (real, p, ...rest) => {
          if (p === at('gone.py') && fs.existsSync(at('gone.py'))) fs.unlinkSync(at('gone.py'));
          if (p === at('morph.py') && fs.statSync(at('morph.py')).isFile()) {
            fs.unlinkSync(at('morph.py'));
            fs.mkdirSync(at('morph.py'));
          }
          if (p === at('grows.py') && !grew) {
            grew = true;
            fs.appendFileSync(at('grows.py'), Buffer.alloc(6 * 1024 * 1024, '#'));
          }
          return real(p, ...rest);
        },
      },
      () => scanWorkspace({ roots: [dir], cwd: dir, threads: 1 }),
    );
    checkAnalysis(analysis, findings, dir);
    assert.deepEqual(analysis.report.diagnostics.map((d) => `${d.file}: ${d.message}`).sort(), [
      'app/gone.py: cannot read: no such file or folder',
      'app/grows.py: skipped: file is 6.0 MB, over the 5.0 MB limit',
      'app/morph.py: cannot read: is a folder',
    ]);
    assert.deepEqual(routesOf(analysis), [
      'app/kept.py /closed authenticated',
      'app/kept.py /kept public',
      'main.py /closed authenticated',
      'main.py /open public',
    ]);
  });

  it('changed between the facts pass and the rules (the file is read twice): no crash', async () => {
    const routes = `${APP}\n\n@app.get("/later")\ndef later(q: str):\n    import os\n    os.system(q)\n`;
    const dir = project('changing', { 'api.py': routes });
    const file = path.join(dir, 'api.py');
    let reads = 0;
    for (const replacement of [
      '',
      'x = 1\n',
      '\0binary',
      routes.slice(0, 200),
      `${'\n'.repeat(500)}${routes}`,
    ]) {
      fs.writeFileSync(file, routes);
      reads = 0;
      const { analysis, findings } = await withFs(
        {
          readFileSync: (real, p, ...rest) => {
            if (p === file && ++reads === 2) fs.writeFileSync(file, replacement);
            return real(p, ...rest);
          },
        },
        () => scanWorkspace({ roots: [dir], cwd: dir, threads: 1 }),
      );
      assert.ok(reads >= 2, 'the file was read twice');
      JSON.stringify({ report: analysis.report, findings });
      assert.ok(analysis.report.routes.some((r) => r.path === '/later'));
    }
  });

  it(
    'CLI with worker threads: 3,000 files, half of them deleted while it scans',
    { skip: BUILT ? false : NOT_BUILT },
    async () => {
      const files: Record<string, string> = {};
      for (let i = 0; i < 3000; i++)
        files[`pkg${i % 30}/m${i}.py`] =
          `from fastapi import APIRouter\nrouter = APIRouter()\n@router.get("/r${i}")\ndef r${i}():\n    return ${i}\n`;
      const dir = project('race', files);
      const child = spawn(
        process.execPath,
        [CLI, 'scan', '.', '--format', 'json', '--fail-on', 'never'],
        { cwd: dir },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      for (let i = 0; i < 3000; i += 2) {
        await fs.promises.rm(path.join(dir, `pkg${i % 30}`, `m${i}.py`), { force: true });
        if (i % 100 === 0) await new Promise((r) => setImmediate(r));
      }
      const status = await exited;
      assert.equal(status, 0, stderr);
      assert.doesNotMatch(stderr, /internal error/);
      const json = JSON.parse(stdout) as CliJson;
      for (const d of json.diagnostics)
        assert.equal(d.message, 'cannot read: no such file or folder', JSON.stringify(d));
    },
  );
});

describe('faults: size and depth', () => {
  it(
    '50,000 small files: the CLI (worker threads), or the engine when the CLI is not built, timed',
    { timeout: 180_000 },
    async (t) => {
      const dir = path.join(tmp, 'many');
      let started = performance.now();
      project('many');
      for (let d = 0; d < 100; d++) {
        const sub = path.join(dir, `pkg${d}`);
        fs.mkdirSync(sub);
        for (let i = 0; i < 500; i++)
          fs.writeFileSync(path.join(sub, `m${i}.py`), `X${i} = ${i}\n`);
      }
      const writeMs = performance.now() - started;
      const before = snapshot(dir);
      started = performance.now();
      if (BUILT) {
        const res = cli(['scan', '.', '--format', 'json', '--fail-on', 'never'], dir);
        assert.equal(res.status, 0, res.stderr);
        assert.equal(res.json?.summary.filesScanned, 50_001);
        assert.equal(res.json?.summary.routes, 2);
        assert.deepEqual(res.json?.diagnostics, []);
      } else {
        const analysis = await analyzeWorkspace({ roots: [dir], cwd: dir, threads: 1 });
        assert.equal(analysis.files.length, 50_001);
        assert.deepEqual(analysis.report.diagnostics, []);
        assert.deepEqual(routesOf(analysis), [
          'main.py /closed authenticated',
          'main.py /open public',
        ]);
      }
      const scanMs = performance.now() - started;
      t.diagnostic(
        `50,001 files: written in ${writeMs.toFixed(0)} ms; ${BUILT ? 'CLI scan (worker threads)' : 'analyzeWorkspace (1 thread)'} ${scanMs.toFixed(0)} ms`,
      );
      assert.ok(scanMs < 120_000);
      unchanged(dir, before);
      execFileSync('rm', ['-rf', dir]);
    },
  );

  it('a package 200 folders deep is resolved; a tree deeper than PATH_MAX gets a message', async () => {
    const dir = project('deep', {});
    const chain = Array.from({ length: 200 }, () => 'd');
    fs.writeFileSync(
      path.join(dir, 'main.py'),
      `${APP}\nfrom ${chain.join('.')}.leaf import router\n\napp.include_router(router, prefix="/deep")\n`,
    );
    let p = dir;
    for (const part of chain) {
      p = path.join(p, part);
      fs.mkdirSync(p);
      fs.writeFileSync(path.join(p, '__init__.py'), '');
    }
    fs.writeFileSync(
      path.join(p, 'leaf.py'),
      'from fastapi import APIRouter\nrouter = APIRouter()\n\n\n@router.get("/leaf")\ndef leaf():\n    return 1\n',
    );
    // 100 folders of 60 characters: paths past 4,096 bytes can only be made relative, step by step.
    const long = 'x'.repeat(60);
    execFileSync(process.execPath, [
      '-e',
      `const fs = require('fs'); process.chdir(${JSON.stringify(dir)}); for (let i = 0; i < 100; i++) { fs.mkdirSync('${long}'); process.chdir('${long}'); fs.writeFileSync('m.py', 'y = 1\\n'); }`,
    ]);
    const before = snapshot(dir);
    const analysis = await analyzeWorkspace({ roots: [dir], cwd: dir, threads: 1 });
    const leaf = analysis.report.routes.find((r) => r.path === '/deep/leaf');
    assert.ok(leaf, routesOf(analysis).join('; '));
    assert.equal(leaf.app, 'main:app');
    assert.equal(analysis.report.diagnostics.length, 1);
    assert.match(analysis.report.diagnostics[0].message, /^cannot resolve folder: path too long$/);
    assert.ok(analysis.report.diagnostics[0].file.length > 4000);
    assert.ok(analysis.files.filter((f) => f.rel.endsWith('m.py')).length >= 60);
    unchanged(dir, before);
  });
});

describe('faults: pyproject.toml', { skip: BUILT ? false : NOT_BUILT }, () => {
  const cases: { name: string; toml: string | null; status: number; messages: string[] }[] = [
    {
      name: 'invalid TOML',
      toml: '[tool.fastapi-lens]\nselect = ["AUTH001"\nignore = []\n',
      status: 2,
      messages: [
        'pyproject.toml:3:1: invalid TOML: expected comma or end of structure; using the default settings',
      ],
    },
    {
      name: 'binary garbage',
      toml: '\u0000\u0001\u0002 [[[ \ufffd',
      status: 2,
      messages: [
        'pyproject.toml:1:1: invalid TOML: illegal character in key; using the default settings',
      ],
    },
    {
      name: 'wrong types',
      toml: '[tool.fastapi-lens]\nselect = "AUTH001"\nexclude = 5\nseverity = { AUTH001 = "high" }\nauth-dependencies = [1, 2]\npublic-routes = true\nper-file-ignores = "x"\nignore = [["AUTH001"]]\n',
      status: 0,
      messages: [
        'pyproject.toml: [tool.fastapi-lens] select: expected a list of rule codes, got a string; using the default',
        'pyproject.toml: [tool.fastapi-lens] exclude: expected a list of gitignore-style globs, got a number; using the default',
        'pyproject.toml: [tool.fastapi-lens] severity.AUTH001: expected "error", "warning" or "info", got "high"; using the rule\'s default',
        'pyproject.toml: [tool.fastapi-lens] auth-dependencies: expected a list of dependency names, got a list containing a number; using the default',
        'pyproject.toml: [tool.fastapi-lens] public-routes: expected a list of route path globs, got a boolean; using the default',
        'pyproject.toml: [tool.fastapi-lens] per-file-ignores: expected a table of glob = list of rule codes, got a string; using the default',
        'pyproject.toml: [tool.fastapi-lens] ignore: expected a list of rule codes, got a list containing a list; using the default',
      ],
    },
    {
      name: 'the tool table is not a table',
      toml: '[tool]\nfastapi-lens = "yes"\n',
      status: 0,
      messages: [
        'pyproject.toml: [tool.fastapi-lens] must be a table, got a string; using the defaults',
      ],
    },
    {
      name: 'a folder named pyproject.toml',
      toml: null,
      status: 2,
      messages: ['pyproject.toml: cannot read: is a folder'],
    },
  ];
  for (const c of cases) {
    it(`${c.name}: a message naming the key or position, analysis goes on`, () => {
      const dir = project(`toml-${c.name.replace(/\W+/g, '-')}`);
      if (c.toml === null) fs.mkdirSync(path.join(dir, 'pyproject.toml'));
      else fs.writeFileSync(path.join(dir, 'pyproject.toml'), c.toml);
      const before = snapshot(dir);
      const res = cli(['scan', '.', '--format', 'json', '--fail-on', 'never'], dir);
      assert.equal(res.status, c.status, res.stderr);
      assert.ok(res.json, `stdout is JSON even so: ${res.stdout.slice(0, 200)}`);
      assert.ok(
        res.json.findings.some((f) => f.code === 'AUTH001'),
        'the app was still analysed',
      );
      const lines = res.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, c.messages.length, res.stderr);
      c.messages.forEach((m, i) =>
        assert.ok(
          lines[i].startsWith(`fastapi-lens: ${m}`),
          `${lines[i]}\n  expected to start with: fastapi-lens: ${m}`,
        ),
      );
      assert.ok(
        res.json.diagnostics.filter((d) => d.source === 'config').length === c.messages.length,
      );
      unchanged(dir, before);
    });
  }
});
