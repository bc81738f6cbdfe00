import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import type { Parser } from 'web-tree-sitter';
import { createPythonParser, parseSource } from '../server/src/engine/parser';
import { rulesByCode } from '../server/src/engine/scan';
import { OWASP_API_2023 } from '../server/src/cli/ruleInfo';
import { generate, README, ROOT } from '../scripts/gen-rule-docs';
import type { RuleDocs, RuleMeta } from '../rules/api';

/**
 * The rule registry's contract: unique, well-formed codes and slugs; complete docs with CWE and
 * OWASP ids; generated docs pages and the README rules table up to date; and annotated fixtures
 * (test/fixtures/rules/<CODE>[-suffix]/) with at least one `# expect:` and one `# ok:` for each
 * rule, naming only registered rules.
 */

const RULES: RuleMeta[] = [...rulesByCode().values()].map((r) => r.meta);
const FIXTURES = path.join(__dirname, 'fixtures', 'rules');
const ANNOTATION = /#\s*(expect|ok):\s*([A-Z0-9_,\s]+)$/;
const DOC_FIELDS: (keyof RuleDocs)[] = [
  'whatItDoes',
  'whyIsThisBad',
  'example',
  'useInstead',
  'fixSafety',
];

function listPy(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listPy(p));
    else if (e.name.endsWith('.py')) out.push(p);
  }
  return out;
}

interface Annotation {
  folder: string;
  file: string;
  line: number;
  kind: 'expect' | 'ok';
  code: string;
}

const folders = fs.existsSync(FIXTURES)
  ? fs
      .readdirSync(FIXTURES, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort()
  : [];

const annotations: Annotation[] = folders.flatMap((folder) =>
  listPy(path.join(FIXTURES, folder)).flatMap((file) =>
    fs
      .readFileSync(file, 'utf8')
      .split(/\r?\n/)
      .flatMap((text, i) => {
        const m = ANNOTATION.exec(text);
        if (!m) return [];
        return m[2]
          .split(',')
          .map((c) => c.trim())
          .filter(Boolean)
          .map((code) => ({
            folder,
            file: path.relative(FIXTURES, file),
            line: i + 1,
            kind: m[1] as 'expect' | 'ok',
            code,
          }));
      }),
  ),
);

describe('rule registry', () => {
  it('has rules', () => assert.ok(RULES.length > 0));

  it('codes and slugs are unique and well-formed', () => {
    const codes = new Set<string>();
    const slugs = new Set<string>();
    for (const m of RULES) {
      assert.match(m.code, /^[A-Z]+[0-9]{3}$/, `code ${m.code}`);
      assert.match(
        m.slug,
        /^[a-z0-9]+(-[a-z0-9]+)*$/,
        `${m.code}: slug ${m.slug} is not kebab-case`,
      );
      assert.ok(!codes.has(m.code), `duplicate code ${m.code}`);
      assert.ok(!slugs.has(m.slug), `duplicate slug ${m.slug} (${m.code})`);
      codes.add(m.code);
      slugs.add(m.slug);
    }
  });

  for (const m of RULES) {
    describe(m.code, () => {
      it('has a title, a severity and a fix kind', () => {
        assert.ok(m.title.trim(), 'empty title');
        assert.ok(['error', 'warning', 'info'].includes(m.defaultSeverity), m.defaultSeverity);
        assert.ok(['safe', 'unsafe', 'display-only', 'none'].includes(m.fix), m.fix);
      });

      it('documents all five sections', () => {
        for (const field of DOC_FIELDS)
          assert.ok(m.docs[field]?.trim(), `${m.code}: docs.${field} is empty`);
        assert.notEqual(
          m.docs.example.trim(),
          m.docs.useInstead.trim(),
          'example and use-instead are the same code',
        );
      });

      it('names at least one CWE and one OWASP API Top 10 (2023) id', () => {
        assert.ok(m.cwe.length > 0, 'no CWE id');
        for (const c of m.cwe) assert.ok(Number.isInteger(c) && c > 0, `bad CWE id ${c}`);
        assert.ok(m.owasp.length > 0, 'no OWASP id');
        for (const o of m.owasp)
          assert.ok(o in OWASP_API_2023, `${o} is not an OWASP API Security Top 10 2023 id`);
      });

      it('has annotated fixtures with an expect and an ok', () => {
        const own = folders.filter((f) => f.split('-')[0] === m.code);
        assert.ok(own.length > 0, `no fixture folder test/fixtures/rules/${m.code}/`);
        const mine = annotations.filter((a) => a.code === m.code);
        assert.ok(
          mine.some((a) => a.kind === 'expect'),
          `no "# expect: ${m.code}" annotation`,
        );
        assert.ok(
          mine.some((a) => a.kind === 'ok'),
          `no "# ok: ${m.code}" annotation`,
        );
      });
    });
  }
});

describe('rule docs examples are valid Python', () => {
  let parser: Parser;
  before(async () => {
    parser = await createPythonParser();
  });
  for (const m of RULES)
    it(m.code, () => {
      for (const field of ['example', 'useInstead'] as const) {
        const tree = parseSource(parser, m.docs[field]);
        try {
          assert.ok(!tree.rootNode.hasError, `${m.code}: docs.${field} has a syntax error`);
        } finally {
          tree.delete();
        }
      }
    });
});

describe('fixtures name registered rules', () => {
  const codes = new Set(RULES.map((m) => m.code));
  it('every fixture folder is named after a registered rule', () => {
    const orphans = folders.filter((f) => !codes.has(f.split('-')[0]));
    assert.deepEqual(orphans, [], 'fixture folders of unregistered rules');
  });
  it('every annotation names a registered rule', () => {
    const unknown = annotations
      .filter((a) => !codes.has(a.code))
      .map((a) => `${a.file}:${a.line}: ${a.kind}: ${a.code}`);
    assert.deepEqual(unknown, [], 'annotations naming unregistered codes');
  });
});

describe('generated docs are up to date (npm run docs:rules)', () => {
  const generated = generate(ROOT);
  const current = (rel: string): string | null => {
    try {
      return fs.readFileSync(path.join(ROOT, rel), 'utf8');
    } catch {
      return null;
    }
  };
  for (const [rel, content] of generated) {
    if (rel === README) continue;
    it(rel, () => {
      if (content === null) assert.equal(current(rel), null, `${rel} documents no rule: delete it`);
      else assert.ok(current(rel) === content, `${rel} is stale: run \`npm run docs:rules\``);
    });
  }
  it('README.md rules table is current', () => {
    assert.ok(
      current(README) === generated.get(README),
      'README.md rules table is stale: run `npm run docs:rules`',
    );
  });
});
