import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { scanWorkspace, type Finding } from '../server/src/engine/index';
import { ProjectConfigResolver } from '../server/src/engine/config';
import { rulesByCode } from '../server/src/engine/scan';
import { artifactUri, renderSarif, SARIF_SCHEMA } from '../server/src/cli/sarifFormat';
import { ruleDocsUrl } from '../server/src/cli/ruleInfo';

/**
 * SARIF 2.1.0 output, checked with a focused structural validator written from the spec's
 * required properties, types and enums (OASIS SARIF 2.1.0, sections 3.13-3.52), plus what GitHub
 * code scanning reads: 1-based positive regions, ruleIndex pointing at the matching rule,
 * relative URIs under a declared uriBaseId, partialFingerprints, security-severity.
 */

const PROJECT = path.join(__dirname, 'fixtures', 'cli', 'project');
const LEVELS = ['none', 'note', 'warning', 'error'];

type Obj = Record<string, unknown>;

class Validator {
  readonly errors: string[] = [];
  private baseIds = new Set<string>();
  private rules: Obj[] = [];

  private fail(at: string, msg: string): void {
    this.errors.push(`${at}: ${msg}`);
  }

  private obj(v: unknown, at: string): v is Obj {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return true;
    this.fail(at, 'expected an object');
    return false;
  }

  private str(o: Obj, key: string, at: string, required = true): string | undefined {
    const v = o[key];
    if (v === undefined) {
      if (required) this.fail(`${at}.${key}`, 'required');
      return undefined;
    }
    if (typeof v !== 'string' || v === '') this.fail(`${at}.${key}`, 'expected a non-empty string');
    return typeof v === 'string' ? v : undefined;
  }

  private int(o: Obj, key: string, at: string, min: number, required = false): number | undefined {
    const v = o[key];
    if (v === undefined) {
      if (required) this.fail(`${at}.${key}`, 'required');
      return undefined;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
      this.fail(`${at}.${key}`, `expected an integer >= ${min}, got ${JSON.stringify(v)}`);
    return typeof v === 'number' ? v : undefined;
  }

  private arr(o: Obj, key: string, at: string, required = false, minItems = 0): unknown[] {
    const v = o[key];
    if (v === undefined) {
      if (required) this.fail(`${at}.${key}`, 'required');
      return [];
    }
    if (!Array.isArray(v)) {
      this.fail(`${at}.${key}`, 'expected an array');
      return [];
    }
    if (v.length < minItems) this.fail(`${at}.${key}`, `expected at least ${minItems} items`);
    return v;
  }

  private absoluteUri(s: string | undefined, at: string): void {
    if (s === undefined) return;
    try {
      new URL(s);
    } catch {
      this.fail(at, `not an absolute URI: ${s}`);
    }
  }

  private message(v: unknown, at: string): void {
    if (!this.obj(v, at)) return;
    if (v.text === undefined && v.id === undefined) this.fail(at, 'message needs text or id');
    if (v.text !== undefined) this.str(v, 'text', at);
  }

  private multiformat(v: unknown, at: string): void {
    if (v === undefined) return;
    if (!this.obj(v, at)) return;
    this.str(v, 'text', at);
    if (v.markdown !== undefined) this.str(v, 'markdown', at);
  }

  private propertyBag(v: unknown, at: string): void {
    if (v === undefined) return;
    if (!this.obj(v, at)) return;
    if (v.tags !== undefined) {
      const tags = this.arr(v, 'tags', at);
      if (tags.some((t) => typeof t !== 'string')) this.fail(`${at}.tags`, 'tags must be strings');
      if (new Set(tags).size !== tags.length) this.fail(`${at}.tags`, 'tags must be unique');
    }
  }

  region(v: unknown, at: string): void {
    if (!this.obj(v, at)) return;
    const startLine = this.int(v, 'startLine', at, 1, true);
    const startColumn = this.int(v, 'startColumn', at, 1);
    const endLine = this.int(v, 'endLine', at, 1);
    const endColumn = this.int(v, 'endColumn', at, 1);
    if (startLine !== undefined && endLine !== undefined && endLine < startLine)
      this.fail(at, 'endLine before startLine');
    if (
      startLine !== undefined &&
      (endLine ?? startLine) === startLine &&
      startColumn !== undefined &&
      endColumn !== undefined &&
      endColumn < startColumn
    )
      this.fail(at, 'endColumn before startColumn on one line');
  }

  artifactLocation(v: unknown, at: string): void {
    if (!this.obj(v, at)) return;
    const uri = this.str(v, 'uri', at);
    if (uri !== undefined) {
      if (uri.includes('\\')) this.fail(`${at}.uri`, 'backslash in a URI');
      if (/^[a-z]+:/i.test(uri) || uri.startsWith('/'))
        this.fail(`${at}.uri`, `expected a relative reference, got ${uri}`);
      if (/\s/.test(uri)) this.fail(`${at}.uri`, 'unencoded whitespace');
    }
    const base = this.str(v, 'uriBaseId', at);
    if (base !== undefined && !this.baseIds.has(base))
      this.fail(`${at}.uriBaseId`, `${base} is not in originalUriBaseIds`);
  }

  location(v: unknown, at: string): void {
    if (!this.obj(v, at)) return;
    if (v.message !== undefined) this.message(v.message, `${at}.message`);
    if (v.id !== undefined) this.int(v, 'id', at, 0);
    if (v.physicalLocation === undefined) return;
    const pl = v.physicalLocation;
    if (!this.obj(pl, `${at}.physicalLocation`)) return;
    if (pl.artifactLocation === undefined)
      this.fail(`${at}.physicalLocation`, 'no artifactLocation');
    else this.artifactLocation(pl.artifactLocation, `${at}.physicalLocation.artifactLocation`);
    if (pl.region !== undefined) this.region(pl.region, `${at}.physicalLocation.region`);
  }

  private rule(v: unknown, at: string): void {
    if (!this.obj(v, at)) return;
    this.str(v, 'id', at);
    this.str(v, 'name', at, false);
    this.multiformat(v.shortDescription, `${at}.shortDescription`);
    this.multiformat(v.fullDescription, `${at}.fullDescription`);
    this.multiformat(v.help, `${at}.help`);
    this.absoluteUri(this.str(v, 'helpUri', at, false), `${at}.helpUri`);
    if (v.defaultConfiguration !== undefined && this.obj(v.defaultConfiguration, `${at}.dc`)) {
      const level = (v.defaultConfiguration as Obj).level;
      if (level !== undefined && !LEVELS.includes(level as string))
        this.fail(`${at}.defaultConfiguration.level`, `bad level ${String(level)}`);
    }
    this.propertyBag(v.properties, `${at}.properties`);
  }

  private notification(v: unknown, at: string): void {
    if (!this.obj(v, at)) return;
    this.message(v.message, `${at}.message`);
    if (v.level !== undefined && !LEVELS.includes(v.level as string)) this.fail(at, 'bad level');
    this.arr(v, 'locations', at).forEach((l, i) => this.location(l, `${at}.locations[${i}]`));
  }

  private result(v: unknown, at: string): void {
    if (!this.obj(v, at)) return;
    this.message(v.message, `${at}.message`);
    const ruleId = this.str(v, 'ruleId', at, false);
    const ruleIndex = this.int(v, 'ruleIndex', at, -1);
    if (ruleIndex !== undefined && ruleIndex >= 0) {
      const r = this.rules[ruleIndex];
      if (!r) this.fail(`${at}.ruleIndex`, `no rule at ${ruleIndex}`);
      else if (ruleId !== undefined && r.id !== ruleId)
        this.fail(`${at}.ruleIndex`, `rules[${ruleIndex}] is ${String(r.id)}, not ${ruleId}`);
    }
    if (v.level !== undefined && !LEVELS.includes(v.level as string))
      this.fail(`${at}.level`, `bad level ${String(v.level)}`);
    this.arr(v, 'locations', at).forEach((l, i) => this.location(l, `${at}.locations[${i}]`));
    if (v.partialFingerprints !== undefined && this.obj(v.partialFingerprints, `${at}.pf`))
      for (const [k, fp] of Object.entries(v.partialFingerprints as Obj))
        if (typeof fp !== 'string') this.fail(`${at}.partialFingerprints.${k}`, 'not a string');
    this.arr(v, 'codeFlows', at).forEach((cf, i) => {
      const a = `${at}.codeFlows[${i}]`;
      if (!this.obj(cf, a)) return;
      this.arr(cf, 'threadFlows', a, true, 1).forEach((tf, j) => {
        const b = `${a}.threadFlows[${j}]`;
        if (!this.obj(tf, b)) return;
        this.arr(tf, 'locations', b, true, 1).forEach((tfl, k) => {
          const c = `${b}.locations[${k}]`;
          if (!this.obj(tfl, c)) return;
          if (tfl.location !== undefined) this.location(tfl.location, `${c}.location`);
          if (tfl.executionOrder !== undefined) this.int(tfl, 'executionOrder', c, -1);
        });
      });
    });
    const ids = new Set<unknown>();
    this.arr(v, 'relatedLocations', at).forEach((l, i) => {
      this.location(l, `${at}.relatedLocations[${i}]`);
      const id = (l as Obj).id;
      if (id !== undefined && ids.has(id)) this.fail(`${at}.relatedLocations`, 'duplicate id');
      ids.add(id);
    });
    this.arr(v, 'fixes', at).forEach((fx, i) => {
      const a = `${at}.fixes[${i}]`;
      if (!this.obj(fx, a)) return;
      this.arr(fx, 'artifactChanges', a, true, 1).forEach((ch, j) => {
        const b = `${a}.artifactChanges[${j}]`;
        if (!this.obj(ch, b)) return;
        this.artifactLocation(ch.artifactLocation, `${b}.artifactLocation`);
        this.arr(ch, 'replacements', b, true, 1).forEach((rep, k) => {
          const c = `${b}.replacements[${k}]`;
          if (!this.obj(rep, c)) return;
          this.region(rep.deletedRegion, `${c}.deletedRegion`);
        });
      });
    });
    this.propertyBag(v.properties, `${at}.properties`);
  }

  log(v: unknown): string[] {
    if (!this.obj(v, '$')) return this.errors;
    if (v.version !== '2.1.0') this.fail('$.version', 'must be "2.1.0"');
    this.absoluteUri(this.str(v, '$schema', '$', false), '$.$schema');
    this.arr(v, 'runs', '$', true).forEach((run, i) => {
      const at = `$.runs[${i}]`;
      if (!this.obj(run, at)) return;
      this.baseIds = new Set();
      if (run.originalUriBaseIds !== undefined && this.obj(run.originalUriBaseIds, `${at}.oubi`))
        for (const [k, loc] of Object.entries(run.originalUriBaseIds as Obj)) {
          this.baseIds.add(k);
          const uri = this.obj(loc, `${at}.originalUriBaseIds.${k}`)
            ? this.str(loc as Obj, 'uri', `${at}.originalUriBaseIds.${k}`)
            : undefined;
          this.absoluteUri(uri, `${at}.originalUriBaseIds.${k}.uri`);
          if (uri && !uri.endsWith('/'))
            this.fail(`${at}.originalUriBaseIds.${k}`, 'must end in /');
        }
      if (
        run.columnKind !== undefined &&
        !['utf16CodeUnits', 'unicodeCodePoints'].includes(run.columnKind as string)
      )
        this.fail(`${at}.columnKind`, 'bad columnKind');
      if (run.tool === undefined || !this.obj(run.tool, `${at}.tool`)) {
        if (run.tool === undefined) this.fail(`${at}.tool`, 'required');
        return;
      }
      const driver = (run.tool as Obj).driver;
      if (driver === undefined) this.fail(`${at}.tool.driver`, 'required');
      else if (this.obj(driver, `${at}.tool.driver`)) {
        this.str(driver, 'name', `${at}.tool.driver`);
        this.str(driver, 'version', `${at}.tool.driver`, false);
        this.absoluteUri(
          this.str(driver, 'informationUri', `${at}.tool.driver`, false),
          `${at}.tool.driver.informationUri`,
        );
        this.rules = this.arr(driver, 'rules', `${at}.tool.driver`) as Obj[];
        this.rules.forEach((r, j) => this.rule(r, `${at}.tool.driver.rules[${j}]`));
        const ids = this.rules.map((r) => r.id);
        if (new Set(ids).size !== ids.length) this.fail(`${at}.tool.driver.rules`, 'duplicate ids');
      }
      this.arr(run, 'invocations', at).forEach((inv, j) => {
        const a = `${at}.invocations[${j}]`;
        if (!this.obj(inv, a)) return;
        if (typeof inv.executionSuccessful !== 'boolean')
          this.fail(`${a}.executionSuccessful`, 'required boolean');
        for (const key of ['toolExecutionNotifications', 'toolConfigurationNotifications'])
          this.arr(inv, key, a).forEach((n, k) => this.notification(n, `${a}.${key}[${k}]`));
      });
      this.arr(run, 'results', at).forEach((r, j) => this.result(r, `${at}.results[${j}]`));
    });
    return this.errors;
  }
}

function validate(log: unknown): string[] {
  return new Validator().log(log);
}

async function projectSarif() {
  const resolver = new ProjectConfigResolver({ cwd: PROJECT, roots: ['.'] });
  const ws = resolver.workspaceOptions();
  const { findings } = await scanWorkspace({ roots: ['.'], cwd: PROJECT, ...ws, config: resolver });
  const rules = [...rulesByCode().values()].map((r) => r.meta);
  const log = JSON.parse(renderSarif(findings, [], { cwd: PROJECT, rules }));
  return { findings, rules, log };
}

describe('SARIF validator', () => {
  it('rejects what the spec forbids', () => {
    const bad = {
      version: '2.0.0',
      runs: [
        {
          tool: { driver: { rules: [{ id: 'A001' }] } },
          results: [
            {
              ruleId: 'B001',
              ruleIndex: 0,
              level: 'info',
              message: {},
              locations: [
                {
                  physicalLocation: {
                    artifactLocation: { uri: 'C:\\x.py', uriBaseId: '%NOPE%' },
                    region: { startLine: 0, startColumn: 0 },
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const errors = validate(bad);
    for (const expected of [
      '$.version',
      'tool.driver.name: required',
      'ruleIndex: rules[0] is A001, not B001',
      'level: bad level info',
      'message: message needs text or id',
      'uri: backslash in a URI',
      'uriBaseId: %NOPE% is not in originalUriBaseIds',
      'startLine: expected an integer >= 1',
      'startColumn: expected an integer >= 1',
    ])
      assert.ok(
        errors.some((e) => e.includes(expected)),
        `missing "${expected}" in:\n${errors.join('\n')}`,
      );
  });
});

describe('SARIF output', () => {
  it('is structurally valid SARIF 2.1.0 for a real scan', async () => {
    const { log, findings } = await projectSarif();
    assert.ok(findings.length >= 3, 'the fixture has findings');
    assert.deepEqual(validate(log), []);
    assert.equal(log.$schema, SARIF_SCHEMA);
    assert.equal(log.version, '2.1.0');
    assert.equal(log.runs.length, 1);
  });

  it('describes every registered rule in the driver', async () => {
    const { log, rules } = await projectSarif();
    const driver = log.runs[0].tool.driver;
    assert.equal(driver.name, 'fastapi-lens');
    assert.match(driver.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(
      driver.rules.map((r: Obj) => r.id),
      rules.map((r) => r.code),
    );
    for (const [i, r] of driver.rules.entries()) {
      const meta = rules[i];
      assert.equal(r.name, meta.slug);
      assert.equal(r.shortDescription.text, meta.title);
      assert.ok(r.fullDescription.text);
      assert.equal(r.helpUri, ruleDocsUrl(meta.code));
      assert.match(r.helpUri, new RegExp(`/docs/rules/${meta.code}\\.md$`));
      assert.equal(
        r.defaultConfiguration.level,
        meta.defaultSeverity === 'info' ? 'note' : meta.defaultSeverity,
      );
      assert.ok(r.properties.tags.includes('security'));
      for (const c of meta.cwe) assert.ok(r.properties.tags.includes(`CWE-${c}`));
      for (const o of meta.owasp) assert.ok(r.properties.tags.includes(`OWASP-${o}`));
      const sev = Number(r.properties['security-severity']);
      assert.ok(sev > 0 && sev <= 10, `security-severity of ${meta.code}`);
    }
  });

  it('maps findings to results: level, 1-based region, fingerprint, route, flow', async () => {
    const { log, findings } = await projectSarif();
    const run = log.runs[0];
    assert.match(
      run.originalUriBaseIds['%SRCROOT%'].uri,
      /^file:\/\/.*\/test\/fixtures\/cli\/project\/$/,
    );
    assert.equal(run.columnKind, 'utf16CodeUnits');
    assert.equal(run.results.length, findings.length);
    for (const [i, r] of run.results.entries()) {
      const f = findings[i];
      assert.equal(r.ruleId, f.code);
      assert.equal(run.tool.driver.rules[r.ruleIndex].id, f.code);
      assert.equal(r.level, f.severity === 'info' ? 'note' : f.severity);
      assert.equal(r.message.text, f.message);
      const pl = r.locations[0].physicalLocation;
      assert.equal(pl.artifactLocation.uri, f.file);
      assert.equal(pl.artifactLocation.uriBaseId, '%SRCROOT%');
      assert.equal(pl.region.startLine, f.line);
      assert.equal(pl.region.startColumn, f.column + 1);
      assert.equal(r.partialFingerprints.primaryLocationLineHash, f.fingerprint);
      if (f.route) {
        assert.equal(r.properties.route, `${f.route.methods.join(',')} ${f.route.path}`);
        assert.equal(r.properties.exposure, f.route.exposure);
      }
      if (f.flow) {
        const steps = r.codeFlows[0].threadFlows[0].locations;
        assert.equal(steps.length, f.flow.length);
        assert.equal(steps[0].location.message.text, f.flow[0].message);
      } else assert.equal(r.codeFlows, undefined);
    }
    const auth = run.results.find((r: Obj) => r.ruleId === 'AUTH001');
    assert.equal(auth.properties.route, 'POST /jobs/run');
  });

  it('covers related locations, fixes, internal errors, notifications and odd paths', () => {
    const base: Finding = {
      code: 'LENS000',
      slug: 'internal-error',
      severity: 'info',
      message: 'internal error in X',
      file: 'my app/ünï.py',
      line: 3,
      column: 0,
      endLine: 3,
      endColumn: 0,
      route: null,
      related: [{ file: 'a.py', line: 1, column: 4, message: 'defined here' }],
      flow: null,
      fixes: [
        {
          title: 'Use safe_load',
          safety: 'safe',
          edits: [
            {
              file: path.join(PROJECT, 'app', 'x.py'),
              line: 2,
              column: 4,
              endLine: 2,
              endColumn: 13,
              newText: 'yaml.safe_load',
            },
          ],
        },
      ],
      fingerprint: 'deadbeef',
    };
    const rules = [...rulesByCode().values()].map((r) => r.meta);
    const log = JSON.parse(
      renderSarif(
        [base],
        [
          { source: 'engine', file: 'bad.py', level: 'warning', message: 'syntax errors (1)' },
          {
            source: 'config',
            file: 'pyproject.toml',
            line: 3,
            column: 1,
            level: 'error',
            message: 'invalid TOML',
          },
        ],
        { cwd: PROJECT, rules },
      ),
    );
    assert.deepEqual(validate(log), []);
    const run = log.runs[0];
    const r = run.results[0];
    assert.equal(run.tool.driver.rules[r.ruleIndex].id, 'LENS000');
    assert.equal(r.locations[0].physicalLocation.artifactLocation.uri, 'my%20app/%C3%BCn%C3%AF.py');
    // An empty span covers its line: no endColumn.
    assert.deepEqual(r.locations[0].physicalLocation.region, {
      startLine: 3,
      startColumn: 1,
      endLine: 3,
    });
    assert.equal(r.relatedLocations[0].physicalLocation.region.startColumn, 5);
    const change = r.fixes[0].artifactChanges[0];
    assert.equal(change.artifactLocation.uri, 'app/x.py');
    assert.deepEqual(change.replacements[0].deletedRegion, {
      startLine: 2,
      startColumn: 5,
      endLine: 2,
      endColumn: 14,
    });
    const inv = run.invocations[0];
    assert.equal(inv.toolExecutionNotifications[0].message.text, 'syntax errors (1)');
    assert.equal(inv.toolConfigurationNotifications[0].level, 'error');
  });

  it('encodes artifact URIs segment by segment', () => {
    assert.equal(artifactUri('app/main.py'), 'app/main.py');
    assert.equal(artifactUri('../other/a b#c.py'), '../other/a%20b%23c.py');
  });
});
