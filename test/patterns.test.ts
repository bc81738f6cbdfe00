import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Parser } from 'web-tree-sitter';
import { PATTERNS_RULES } from '../rules/patterns/index';
import { matchesEverything } from '../rules/patterns/cors';
import { isPlaceholder } from '../rules/patterns/hardcoded-secret';
import { fileRoleUnder, isDocsFile, isTestFile } from '../server/src/engine/discovery';
import { isSecretName, words } from '../rules/patterns/util';
import { scanWorkspace, type Finding } from '../server/src/engine/index';
import type { TextEdit } from '../server/src/engine/findings';
import { createPythonParser } from '../server/src/engine/parser';

/** Unit tests of the pattern rules: metadata, helpers, and that every fix leaves valid Python. */

const FIXTURES = path.join(__dirname, 'fixtures', 'rules');
const CODES = PATTERNS_RULES.map((r) => r.meta.code);

function applyEdits(source: string, edits: TextEdit[]): string {
  const lines = source.split('\n');
  const offset = (line: number, column: number): number => {
    let o = 0;
    for (let i = 0; i < line - 1; i++) o += lines[i].length + 1;
    return o + column;
  };
  const sorted = [...edits].sort((a, b) => offset(b.line, b.column) - offset(a.line, a.column));
  let out = source;
  for (const e of sorted) {
    const start = offset(e.line, e.column);
    const end = offset(e.endLine, e.endColumn);
    out = out.slice(0, start) + e.newText + out.slice(end);
  }
  return out;
}

let parser: Parser;
before(async () => {
  parser = await createPythonParser();
});

function parsesCleanly(source: string): boolean {
  const tree = parser.parse(source);
  assert.ok(tree);
  const ok = !tree.rootNode.hasError;
  tree.delete();
  return ok;
}

describe('pattern rules: metadata', () => {
  it('registers every rule once, in code order groups', () => {
    assert.equal(new Set(CODES).size, CODES.length);
    assert.equal(CODES.length, 15);
  });
  for (const rule of PATTERNS_RULES) {
    const m = rule.meta;
    it(`${m.code} is fully documented`, () => {
      assert.equal(rule.kind, 'file');
      assert.match(m.code, /^[A-Z]+\d{3}$/);
      assert.match(m.slug, /^[a-z]+(-[a-z]+)*$/);
      assert.ok(m.title.length > 5);
      assert.ok(m.cwe.length > 0);
      assert.ok(m.owasp.length > 0 && m.owasp.every((o) => /^API([1-9]|10):2023$/.test(o)));
      for (const [k, v] of Object.entries(m.docs)) assert.ok(v.trim().length > 10, `${k}`);
      assert.ok(fs.existsSync(path.join(FIXTURES, m.code)), `fixtures for ${m.code}`);
    });
  }
});

describe('pattern rules: helpers', () => {
  it('splits identifiers into words', () => {
    assert.deepEqual(words('jwtSecretKey'), ['jwt', 'secret', 'key']);
    assert.deepEqual(words('JWT_SECRET-KEY'), ['jwt', 'secret', 'key']);
    assert.deepEqual(words('APIKeyHeader'), ['api', 'key', 'header']);
  });

  it('recognises secret names by their last word', () => {
    for (const n of [
      'SECRET_KEY',
      'JWT_SECRET',
      'db_password',
      'GITHUB_TOKEN',
      'api_key',
      'apiKey',
      'client_secret',
      'PRIVATE_KEY',
      'secretKey',
    ])
      assert.ok(isSecretName(n), n);
    for (const n of [
      'token_url',
      'tokenUrl',
      'ACCESS_TOKEN_EXPIRE_MINUTES',
      'hashed_password',
      'password_min_length',
      'KEY',
      'cache_key',
      'token_type',
      'API_KEY_NAME',
    ])
      assert.ok(!isSecretName(n), n);
  });

  it('accepts only obvious placeholders', () => {
    for (const v of [
      '',
      'changethis',
      'CHANGE_ME',
      'change-me',
      'xxx',
      '****',
      '<secret>',
      '${SECRET_KEY}',
      '{{ secret }}',
      'replace-me',
    ])
      assert.ok(isPlaceholder(v), v);
    for (const v of [
      'your-secret-key',
      'secret',
      'supersecret',
      '09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7',
    ])
      assert.ok(!isPlaceholder(v), v);
  });

  it('knows which origin regexes match everything', () => {
    for (const r of ['.*', '.+', '^.*$', 'https?://.*', 'https://.*', '(.*)', '^https?:\\/\\/.*$'])
      assert.ok(matchesEverything(r), r);
    for (const r of ['https://.*\\.example\\.com', '^https://app\\.example\\.com$', ''])
      assert.ok(!matchesEverything(r), r);
  });

  it('treats test files by name and test folders below the root', () => {
    assert.ok(isTestFile('tests/test_api.py'));
    assert.ok(isTestFile('app/tests/utils/factories.py'));
    assert.ok(isTestFile('conftest.py'));
    assert.ok(isTestFile('test/helpers.py'));
    assert.ok(isTestFile('src/pkg/testing/fakes.py'));
    assert.ok(isTestFile('app/user_test.py'));
    assert.ok(!isTestFile('app/core/config.py'));
    assert.ok(!isTestFile('app/testimonials.py'));
    assert.ok(!isTestFile('app/contest.py'));
    // Folders above the root are where the checkout lives, not test code.
    assert.ok(!fileRoleUnder('/home/me/tests/shop/app/main.py', ['/home/me/tests/shop']).test);
    assert.ok(!fileRoleUnder('/srv/testing/a/b/c/api.py', ['/srv/testing/a']).test);
    assert.ok(fileRoleUnder('/home/me/tests/shop/tests/test_x.py', ['/home/me/tests/shop']).test);
    // The deepest root holding the file decides; a file root by its name.
    assert.ok(!fileRoleUnder('/w/tests/svc/app.py', ['/w', '/w/tests/svc']).test);
    assert.ok(fileRoleUnder('/w/tests/svc/test_app.py', ['/w/tests/svc/test_app.py']).test);
    assert.ok(!fileRoleUnder('/elsewhere/tests/app.py', ['/w']).test);
    // Documentation examples, the same way.
    assert.ok(isDocsFile('docs/tutorial/security.py'));
    assert.ok(isDocsFile('project/doc/example.py'));
    assert.ok(!isDocsFile('app/docs_router.py'));
    assert.ok(!fileRoleUnder('/home/me/docs/shop/app/config.py', ['/home/me/docs/shop']).docs);
  });
});

describe('pattern rules: fixes', () => {
  const findings: Finding[] = [];
  const sources = new Map<string, string>();
  before(async () => {
    for (const code of CODES) {
      const dir = path.join(FIXTURES, code);
      const res = await scanWorkspace({ roots: [dir], cwd: dir });
      for (const f of res.findings) {
        if (!CODES.includes(f.code) || !f.fixes.length) continue;
        findings.push(f);
        for (const fx of f.fixes)
          for (const e of fx.edits)
            if (!sources.has(e.file)) sources.set(e.file, fs.readFileSync(e.file, 'utf8'));
      }
    }
  });

  it('every fix leaves valid Python', () => {
    assert.ok(findings.length > 10, 'fixtures produce fixes');
    for (const f of findings) {
      for (const fx of f.fixes) {
        const files = new Set(fx.edits.map((e) => e.file));
        for (const file of files) {
          const src = sources.get(file) as string;
          const fixed = applyEdits(
            src,
            fx.edits.filter((e) => e.file === file),
          );
          assert.ok(parsesCleanly(fixed), `${f.code} ${f.file}:${f.line} ${fx.title}`);
          assert.notEqual(fixed, src);
        }
      }
    }
  });

  it('marks fix safety as the rule metadata says', () => {
    for (const f of findings) {
      const meta = PATTERNS_RULES.find((r) => r.meta.code === f.code)!.meta;
      for (const fx of f.fixes) {
        if (meta.fix === 'display-only') assert.equal(fx.safety, 'display-only');
        if (meta.fix === 'none') assert.fail(`${f.code} offers a fix but declares none`);
      }
    }
  });
});

describe('pattern rules: fix output', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-patterns-'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function fixed(name: string, source: string, code: string): Promise<string[]> {
    const file = path.join(dir, name);
    fs.writeFileSync(file, source);
    const { findings } = await scanWorkspace({ roots: [file], cwd: dir });
    return findings
      .filter((f) => f.code === code)
      .map((f) => applyEdits(source, f.fixes[0]?.edits ?? []));
  }

  it('DESER001 rewrites yaml.load to yaml.safe_load', async () => {
    const out = await fixed(
      'y.py',
      'import yaml\n\nconfig = yaml.load(open("c.yml"))\n',
      'DESER001',
    );
    assert.deepEqual(out, ['import yaml\n\nconfig = yaml.safe_load(open("c.yml"))\n']);
  });

  it('CRYPTO001 uses secrets.compare_digest and adds the import after the docstring', async () => {
    const src =
      '"""Auth."""\nfrom __future__ import annotations\n\nfrom app.config import settings\n\n\ndef check(api_key: str) -> None:\n    if api_key != settings.API_KEY:\n        raise PermissionError\n';
    const [out] = await fixed('c.py', src, 'CRYPTO001');
    assert.equal(
      out,
      '"""Auth."""\nfrom __future__ import annotations\n\nimport secrets\nfrom app.config import settings\n\n\ndef check(api_key: str) -> None:\n    if not secrets.compare_digest(api_key, settings.API_KEY):\n        raise PermissionError\n',
    );
  });

  it('COOKIE001 adds the missing flags', async () => {
    const src = 'def login(response):\n    response.set_cookie("session", "abc",)\n';
    const [out] = await fixed('k.py', src, 'COOKIE001');
    assert.equal(
      out,
      'def login(response):\n    response.set_cookie("session", "abc", httponly=True, secure=True,)\n',
    );
  });

  it('TIMEOUT001 adds timeout=10', async () => {
    const src =
      'import requests\n\nr = requests.get(\n    "https://example.com",\n    params={"q": 1},  # search\n)\n';
    const [out] = await fixed('t.py', src, 'TIMEOUT001');
    assert.ok(parsesCleanly(out));
    assert.match(out, /params=\{"q": 1\}, timeout=10, {2}# search/);
  });
});
