import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { scanWorkspace } from '../server/src/engine/index';
import { EngineSession } from '../server/src/engine/session';

/**
 * Which files are test code (or documentation examples) is decided once, at discovery, from the
 * path below the root: a project checked out under a folder named `tests`, `testing` or `docs`
 * is analysed like any other (taint, secrets, overrides), while its own `tests/` and `docs/`
 * folders keep their role.
 */

const FIXTURES = path.join(__dirname, 'fixtures', 'rules');
/** Fixtures whose findings depend on test-ness: taint, overrides, secrets, CORS. */
const CASES = ['INJ001', 'AUTH007', 'SECRET001', 'CORS001', 'TIMEOUT001'];

function copyTo(parent: string, name: string): string {
  const dest = path.join(parent, name);
  fs.cpSync(path.join(FIXTURES, name), dest, { recursive: true });
  return dest;
}

function summary(findings: { code: string; file: string; line: number; message: string }[]) {
  return findings.map((f) => `${f.code} ${f.file}:${f.line} ${f.message}`).sort();
}

describe('test files are decided below the root', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-testfiles-'));
  const plain = path.join(tmp, 'work');
  const nested = path.join(tmp, 'tests');

  for (const name of CASES) {
    it(`${name}: the same findings under a folder named tests`, async () => {
      const a = copyTo(plain, name);
      const b = copyTo(nested, name);
      const ra = await scanWorkspace({ roots: [a], cwd: a, threads: 1 });
      const rb = await scanWorkspace({ roots: [b], cwd: b, threads: 1 });
      assert.ok(ra.findings.length > 0, `${name}: the fixture has findings`);
      assert.deepEqual(summary(rb.findings), summary(ra.findings));
    });
  }

  it('SECRET001: the same findings under a folder named docs; a docs folder inside is skipped', async () => {
    const a = path.join(plain, 'SECRET001');
    if (!fs.existsSync(a)) copyTo(plain, 'SECRET001');
    const b = copyTo(path.join(tmp, 'docs'), 'SECRET001');
    const ra = await scanWorkspace({ roots: [a], cwd: a, threads: 1 });
    const rb = await scanWorkspace({ roots: [b], cwd: b, threads: 1 });
    assert.ok(ra.findings.some((f) => f.code === 'SECRET001'));
    assert.deepEqual(summary(rb.findings), summary(ra.findings));
    // The project's own documentation examples are not deployed.
    fs.mkdirSync(path.join(b, 'docs'), { recursive: true });
    fs.copyFileSync(
      path.join(b, 'app', 'core', 'config.py'),
      path.join(b, 'docs', 'config_example.py'),
    );
    const rc = await scanWorkspace({ roots: [b], cwd: b, threads: 1 });
    assert.ok(!rc.findings.some((f) => f.file.startsWith('docs/')), 'docs/ examples skipped');
    assert.ok(rc.findings.some((f) => f.file === 'app/core/config.py' && f.code === 'SECRET001'));
  });

  it('taint findings survive a checkout under tests/ (CLI and editor)', async () => {
    const b = path.join(nested, 'INJ001');
    if (!fs.existsSync(b)) copyTo(nested, 'INJ001');
    const cli = await scanWorkspace({ roots: [b], cwd: b, threads: 1 });
    assert.ok(
      cli.findings.some((f) => f.code === 'INJ001'),
      'INJ001 found',
    );
    const session = new EngineSession({ roots: [b], cwd: b, threads: 1 });
    await session.loadAll();
    assert.deepEqual(summary(session.findings()), summary(cli.findings));
    // An open document edited in the editor keeps its taint summaries too.
    const users = path.join(b, 'app', 'api', 'users.py');
    const text = fs.readFileSync(users, 'utf8');
    await session.updateFile(users, text);
    await session.updateFile(users, text + '\n# touched\n');
    assert.deepEqual(
      summary(session.findings()).filter((s) => s.startsWith('INJ001')),
      summary(cli.findings).filter((s) => s.startsWith('INJ001')),
    );
  });

  it("the project's own tests folder is still test code", async () => {
    const root = path.join(plain, 'AUTH007');
    if (!fs.existsSync(root)) copyTo(plain, 'AUTH007');
    const { analysis, findings } = await scanWorkspace({ roots: [root], cwd: root, threads: 1 });
    const testFile = analysis.files.find((f) => f.rel === 'tests/test_me.py');
    assert.ok(testFile?.facts.test, 'tests/test_me.py is test code');
    assert.ok(!analysis.files.find((f) => f.rel === 'main.py')?.facts.test);
    assert.ok(!findings.some((f) => f.file === 'tests/test_me.py' && f.code === 'AUTH007'));
  });
});
