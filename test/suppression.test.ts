import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { analyzeWorkspace, scanWorkspace } from '../server/src/engine/index';
import {
  DEFAULT_CONFIG,
  rulesByCode,
  scanAnalysis,
  suppressedCodes,
} from '../server/src/engine/scan';

/**
 * Suppression comments: `# fastapi-lens: ignore[CODE1,CODE2] reason` on a finding's line, or on
 * the decorator line of the route it is reported on, suppresses exactly those codes. A bare
 * `# fastapi-lens: ignore` suppresses every code, but only on its own line: on a decorator it
 * does not hide findings in the handler's body.
 */

const DIR = path.join(__dirname, 'fixtures', 'config', 'suppression');

function linesOf(file: string, needle: string): number[] {
  return fs
    .readFileSync(path.join(DIR, file), 'utf8')
    .split('\n')
    .flatMap((text, i) => (text.includes(needle) ? [i + 1] : []));
}

describe('suppression comments: parsing', () => {
  const c = (line: number, text: string) => ({ line, text });
  it('names codes, case-insensitively, comma or space separated', () => {
    assert.deepEqual(
      [...suppressedCodes([c(3, '# fastapi-lens: ignore[auth001, AUTH002 DESER001] why')], [3])],
      ['AUTH001', 'AUTH002', 'DESER001'],
    );
    assert.deepEqual(
      [...suppressedCodes([c(3, '# fastapi-lens:ignore [AUTH001]')], [3])],
      ['AUTH001'],
    );
  });
  it('only on the given lines', () => {
    assert.deepEqual([...suppressedCodes([c(2, '# fastapi-lens: ignore[AUTH001]')], [3])], []);
  });
  it('a bare ignore means every code, only on the bare lines', () => {
    const comments = [c(3, '# fastapi-lens: ignore  reason'), c(5, '# fastapi-lens: ignore')];
    assert.deepEqual([...suppressedCodes(comments, [3, 5], [3])], ['*']);
    assert.deepEqual([...suppressedCodes(comments, [5], [3])], []);
  });
  it('look-alikes are not directives', () => {
    for (const text of [
      '# fastapi-lens: ignored-by-mistake',
      '# fastapi-lens: ignore-file',
      '# fastapi-lens: public health probe',
      '# ignore[AUTH001]',
    ])
      assert.deepEqual([...suppressedCodes([c(1, text)], [1])], [], text);
  });
  it('empty brackets suppress nothing', () => {
    assert.deepEqual([...suppressedCodes([c(1, '# fastapi-lens: ignore[]')], [1])], []);
  });
});

describe('suppression comments: real rules', () => {
  it('ignore[CODE] on the finding line (the route decorator) suppresses only that code', async () => {
    const { findings } = await scanWorkspace({ roots: [DIR], cwd: DIR });
    const got = findings
      .filter((f) => f.file === 'main.py' && (f.code === 'AUTH001' || f.code === 'AUTH007'))
      .map((f) => `${f.code} ${f.route ? `${f.route.methods.join(',')} ${f.route.path}` : f.line}`);
    const overrideLine = linesOf('main.py', 'dependency_overrides.update')[0];
    assert.deepEqual(got, [
      'AUTH001 POST /internal/b', // ignore[AUTH002] names another code
      'AUTH001 POST /internal/f', // the comment is on the def line, not the finding's line
      'AUTH001 POST /internal/g', // `ignored-by-mistake` is not a directive
      `AUTH007 ${overrideLine}`, // ignore[AUTH001] there names another code
    ]);
  });
});

describe('suppression comments: line endings', () => {
  it('a lone-CR or CRLF copy gives the same findings and fingerprints as the LF original', async () => {
    const lf = await scanWorkspace({ roots: [DIR], cwd: DIR });
    const key = (f: { code: string; file: string; line: number; fingerprint: string }) =>
      `${f.code} ${f.file}:${f.line} ${f.fingerprint}`;
    assert.ok(lf.findings.length > 3, `${lf.findings.length} findings`);
    for (const eol of ['\r', '\r\n']) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-eol-'));
      try {
        for (const name of fs.readdirSync(DIR)) {
          const text = fs.readFileSync(path.join(DIR, name), 'utf8');
          fs.writeFileSync(path.join(dir, name), text.replace(/\n/g, eol));
        }
        const other = await scanWorkspace({ roots: [dir], cwd: dir });
        assert.deepEqual(other.findings.map(key), lf.findings.map(key), JSON.stringify(eol));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});

describe('suppression comments: findings inside a handler', () => {
  // Injects a finding on each `pickle.loads` line of body.py, as a file rule would report it,
  // so the mechanism is tested whatever rules are registered.
  it('decorator ignore[CODE] covers the body; a bare ignore only its own line', async () => {
    const analysis = await analyzeWorkspace({ roots: [DIR], cwd: DIR });
    const file = analysis.files.find((f) => f.rel === 'body.py');
    assert.ok(file);
    const lines = linesOf('body.py', 'pickle.loads(');
    assert.equal(lines.length, 4);
    file.facts.local = ['job_a', 'job_b', 'job_c', 'job_d'].map((fn, i) => ({
      code: 'DESER001',
      message: `injected ${fn}`,
      line: lines[i],
      column: 11,
      endLine: lines[i],
      endColumn: 45,
      fn,
      exposureSensitive: true,
    }));
    const findings = scanAnalysis(analysis, {
      config: { forFile: () => DEFAULT_CONFIG },
      sourceOf: (abs) => fs.readFileSync(abs, 'utf8'),
    }).filter((f) => f.message.startsWith('injected'));
    assert.deepEqual(
      findings.map((f) => `${f.message} ${f.route?.path}`),
      [
        'injected job_b /jobs/b', // bare ignore on the decorator: not for the body
        'injected job_d /jobs/d', // ignore[AUTH001] on the decorator: another code
      ],
    );
  });

  it(
    'the same with the real DESER001 rule',
    { skip: rulesByCode().has('DESER001') ? false : 'DESER001 is not registered yet' },
    async () => {
      const { findings } = await scanWorkspace({ roots: [DIR], cwd: DIR });
      const lines = linesOf('body.py', 'pickle.loads(');
      assert.deepEqual(
        findings.filter((f) => f.file === 'body.py' && f.code === 'DESER001').map((f) => f.line),
        [lines[1], lines[3]],
      );
    },
  );
});
