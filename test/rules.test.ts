import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { scanWorkspace } from '../server/src/engine/index';
import { toPosix } from '../server/src/engine/discovery';

/**
 * Annotated fixtures, Semgrep style: in test/fixtures/rules/<CODE>/, a line ending in
 * `# expect: CODE[, CODE]` must produce exactly those findings on that line, `# ok: CODE` marks
 * a deliberate negative, and no other line may produce a finding of the codes the folder is
 * about (its own code plus every code its annotations name).
 */

const FIXTURES = path.join(__dirname, 'fixtures', 'rules');

interface Annotations {
  expected: Set<string>;
  negatives: Set<string>;
  codes: Set<string>;
}

function listPy(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listPy(p));
    else if (e.name.endsWith('.py')) out.push(p);
  }
  return out;
}

export function readAnnotations(dir: string, folderCode: string): Annotations {
  const ann: Annotations = {
    expected: new Set(),
    negatives: new Set(),
    codes: new Set([folderCode]),
  };
  for (const file of listPy(dir)) {
    const rel = toPosix(path.relative(dir, file));
    fs.readFileSync(file, 'utf8')
      .split(/\r?\n/)
      .forEach((text, i) => {
        const m = /#\s*(expect|ok):\s*([A-Z0-9_,\s]+)$/.exec(text);
        if (!m) return;
        for (const code of m[2]
          .split(',')
          .map((c) => c.trim())
          .filter(Boolean)) {
          ann.codes.add(code);
          (m[1] === 'expect' ? ann.expected : ann.negatives).add(`${rel}:${i + 1}:${code}`);
        }
      });
  }
  return ann;
}

const folders = fs.existsSync(FIXTURES)
  ? fs
      .readdirSync(FIXTURES, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort()
  : [];

describe('annotated rule fixtures', () => {
  it('has fixture folders', () => {
    assert.ok(folders.length > 0, `no fixture folders under ${FIXTURES}`);
  });
  for (const folder of folders) {
    const code = folder.split('-')[0];
    it(`${folder}: findings match the annotations exactly`, async () => {
      const dir = path.join(FIXTURES, folder);
      const ann = readAnnotations(dir, code);
      assert.ok(ann.expected.size > 0, `${folder} has no "# expect:" annotation`);
      const { findings } = await scanWorkspace({ roots: [dir], cwd: dir });
      const actual = new Set(
        findings.filter((f) => ann.codes.has(f.code)).map((f) => `${f.file}:${f.line}:${f.code}`),
      );
      const missing = [...ann.expected].filter((k) => !actual.has(k));
      const unexpected = [...actual].filter((k) => !ann.expected.has(k));
      const detail = findings
        .filter((f) => ann.codes.has(f.code))
        .map((f) => `  ${f.file}:${f.line} ${f.code} ${f.severity}: ${f.message}`)
        .join('\n');
      assert.deepEqual(
        { missing, unexpected },
        { missing: [], unexpected: [] },
        `${folder}: findings differ from annotations\nfindings:\n${detail}`,
      );
      for (const neg of ann.negatives) assert.ok(!actual.has(neg), `${neg} is a marked negative`);
      const internal = findings.filter((f) => f.code === 'LENS000');
      assert.deepEqual(internal, [], 'no rule may crash');
    });
  }
});
