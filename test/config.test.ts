import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { scanWorkspace, type Finding } from '../server/src/engine/index';
import {
  CodeCatalog,
  formatConfigDiagnostic,
  parseConfigText,
  ProjectConfigResolver,
  rebasePattern,
  type ConfigOverrides,
} from '../server/src/engine/config';

/**
 * `[tool.fastapi-lens]`: parsing and its messages, which file applies (nearest pyproject.toml,
 * cwd fallback, --config), and each key's effect on a real scan of test/fixtures/config/*.
 */

const FIXTURES = path.join(__dirname, 'fixtures', 'config');
const catalog = new CodeCatalog();

function parse(text: string, file = '/p/pyproject.toml', explicit = false) {
  return parseConfigText(text, file, { explicit, catalog });
}

function messages(text: string): string[] {
  return parse(text).diagnostics.map((d) => formatConfigDiagnostic(d, '/p'));
}

async function scan(
  name: string,
  options: { roots?: string[]; overrides?: ConfigOverrides; configFile?: string } = {},
) {
  const cwd = path.join(FIXTURES, name);
  const roots = options.roots ?? ['.'];
  const resolver = new ProjectConfigResolver({
    cwd,
    roots,
    overrides: options.overrides,
    configFile: options.configFile,
  });
  const ws = resolver.workspaceOptions();
  const result = await scanWorkspace({ roots, cwd, ...ws, config: resolver });
  return { ...result, resolver, ws, cwd };
}

/** The fixtures are about AUTH rules; findings of other rules are left out of comparisons. */
function auth(findings: Finding[]): Finding[] {
  return findings.filter((f) => f.code.startsWith('AUTH'));
}

function brief(findings: Finding[]): string[] {
  return auth(findings).map((f) => `${f.file}:${f.line} ${f.code} ${f.severity}`);
}

describe('config: parsing [tool.fastapi-lens]', () => {
  it('reads every key, upper-casing rule codes', () => {
    const { config, diagnostics } = parse(`
[tool.fastapi-lens]
auth-dependencies = ["get_current_user", "app.deps:require_key"]
public-routes = ["/health*", "/login/*"]
select = ["auth", "AUTH001"]
ignore = ["AUTH002"]
exclude = ["migrations/"]
severity = { AUTH001 = "warning", auth = "info" }

[tool.fastapi-lens.per-file-ignores]
"tests/**" = ["AUTH"]
`);
    assert.deepEqual(diagnostics, []);
    assert.ok(config);
    assert.deepEqual(config.authDependencies, ['get_current_user', 'app.deps:require_key']);
    assert.deepEqual(config.publicRoutes, ['/health*', '/login/*']);
    assert.deepEqual(config.select, ['AUTH', 'AUTH001']);
    assert.deepEqual(config.ignore, ['AUTH002']);
    assert.deepEqual(config.exclude, ['migrations/']);
    assert.deepEqual(config.severity, { AUTH001: 'warning', AUTH: 'info' });
    assert.deepEqual(config.perFileIgnores, [{ pattern: 'tests/**', codes: ['AUTH'] }]);
    assert.equal(config.dir, '/p');
  });

  it('a pyproject.toml without the table is no config, silently', () => {
    assert.deepEqual(parse('[project]\nname = "x"\n'), { config: null, diagnostics: [] });
  });

  it('a wrong type names the key and the expected type, and falls back for that key only', () => {
    const { config, diagnostics } = parse(
      '[tool.fastapi-lens]\nselect = "AUTH001"\nignore = ["AUTH002"]\n',
    );
    assert.deepEqual(
      diagnostics.map((d) => formatConfigDiagnostic(d, '/p')),
      [
        'pyproject.toml: [tool.fastapi-lens] select: expected a list of rule codes, got a string; using the default',
      ],
    );
    assert.equal(diagnostics[0].fatal, false);
    assert.equal(config?.select, undefined);
    assert.deepEqual(config?.ignore, ['AUTH002']);
  });

  it('names the offending element of a list and every wrongly typed key', () => {
    assert.deepEqual(
      messages(
        '[tool.fastapi-lens]\nauth-dependencies = ["a", 3]\nseverity = "error"\nper-file-ignores = ["x"]\npublic-routes = "/health"\n',
      ),
      [
        'pyproject.toml: [tool.fastapi-lens] auth-dependencies: expected a list of dependency names, got a list containing a number; using the default',
        'pyproject.toml: [tool.fastapi-lens] severity: expected a table of rule code = "error" | "warning" | "info", got a string; using the default',
        'pyproject.toml: [tool.fastapi-lens] per-file-ignores: expected a table of glob = list of rule codes, got a list; using the default',
        'pyproject.toml: [tool.fastapi-lens] public-routes: expected a list of route path globs, got a string; using the default',
      ],
    );
  });

  it('warns about unknown keys with the closest valid key', () => {
    assert.deepEqual(
      messages('[tool.fastapi-lens]\nselct = ["AUTH"]\nauth_dependencies = []\nfrobnicate = 1\n'),
      [
        'pyproject.toml: [tool.fastapi-lens] selct: unknown key; did you mean `select`? (ignored)',
        'pyproject.toml: [tool.fastapi-lens] auth_dependencies: unknown key; did you mean `auth-dependencies`? (ignored)',
        'pyproject.toml: [tool.fastapi-lens] frobnicate: unknown key (ignored); valid keys: auth-dependencies, public-routes, select, ignore, severity, exclude, per-file-ignores',
      ],
    );
  });

  it('names unknown rule codes (kept: they match nothing) and bad severities (dropped)', () => {
    const { config, diagnostics } = parse(
      '[tool.fastapi-lens]\nselect = ["AUTH", "AUTH999"]\n[tool.fastapi-lens.severity]\nAUTH001 = "high"\nNOPE123 = "info"\nAUTH002 = "info"\n',
    );
    assert.deepEqual(
      diagnostics.map((d) => formatConfigDiagnostic(d, '/p')),
      [
        'pyproject.toml: [tool.fastapi-lens] select: unknown rule code or prefix AUTH999 (did you mean AUTH009?)',
        'pyproject.toml: [tool.fastapi-lens] severity.AUTH001: expected "error", "warning" or "info", got "high"; using the rule\'s default',
        'pyproject.toml: [tool.fastapi-lens] severity.NOPE123: unknown rule code or prefix NOPE123; ignored',
      ],
    );
    assert.deepEqual(config?.select, ['AUTH', 'AUTH999']);
    assert.deepEqual(config?.severity, { AUTH002: 'info' });
  });

  it('accepts prefixes and ALL as selectors', () => {
    assert.ok(catalog.isSelector('AUTH'));
    assert.ok(catalog.isSelector('AUTH00'));
    assert.ok(catalog.isSelector('ALL'));
    assert.ok(!catalog.isSelector('AUTHX'));
    assert.deepEqual(messages('[tool.fastapi-lens]\nignore = ["ALL"]\nselect = ["AUTH00"]\n'), []);
  });

  it('reports invalid TOML with its position as fatal, and uses no setting of the file', () => {
    const { config, diagnostics } = parse('[tool.fastapi-lens]\nselect = ["AUTH001"\nx = 1\n');
    assert.equal(config, null);
    assert.equal(diagnostics.length, 1);
    assert.equal(diagnostics[0].fatal, true);
    assert.equal(diagnostics[0].line, 3);
    assert.match(
      formatConfigDiagnostic(diagnostics[0], '/p'),
      /^pyproject\.toml:3:1: invalid TOML: .+; using the default settings$/,
    );
  });

  it('rejects a [tool.fastapi-lens] that is not a table', () => {
    assert.deepEqual(messages('[tool]\n"fastapi-lens" = 3\n'), [
      'pyproject.toml: [tool.fastapi-lens] must be a table, got a number; using the defaults',
    ]);
  });

  it('--config: a pyproject.toml needs the table, another file may use the top level', () => {
    const py = parse('[project]\nname = "x"\n', '/p/pyproject.toml', true);
    assert.equal(py.config, null);
    assert.deepEqual(
      py.diagnostics.map((d) => d.message),
      ['no [tool.fastapi-lens] table; using the default settings'],
    );
    const own = parse('select = ["AUTH001"]\n', '/p/lens.toml', true);
    assert.deepEqual(own.diagnostics, []);
    assert.deepEqual(own.config?.select, ['AUTH001']);
  });
});

describe('config: exclude patterns rebased onto the analysed root', () => {
  it('keeps patterns of a config in the root itself', () => {
    assert.equal(rebasePattern('legacy/', '/p', '/p'), 'legacy/');
    assert.equal(rebasePattern('!keep.py', '/p', '/p'), '!keep.py');
  });
  it('strips the root from anchored patterns of a config above the root', () => {
    assert.equal(rebasePattern('app/legacy/', '/p', '/p/app'), '/legacy/');
    assert.equal(rebasePattern('/app/gen/*.py', '/p', '/p/app'), '/gen/*.py');
    assert.equal(rebasePattern('*/legacy', '/p', '/p/app'), '/legacy');
    assert.equal(rebasePattern('**/gen', '/p', '/p/app'), '**/gen');
    assert.equal(rebasePattern('*_generated.py', '/p', '/p/app'), '*_generated.py');
    assert.equal(rebasePattern('tests/', '/p', '/p/app'), 'tests/', 'unanchored: any depth');
    assert.equal(rebasePattern('/tests/', '/p', '/p/app'), null, 'cannot match under app/');
    assert.equal(rebasePattern('/app/', '/p', '/p/app'), null, 'never excludes the root itself');
  });
  it('prefixes patterns of a nested config with its folder', () => {
    assert.equal(rebasePattern('generated/', '/p/sub/proj', '/p'), 'sub/proj/**/generated/');
    assert.equal(rebasePattern('/gen.py', '/p/sub', '/p'), 'sub/gen.py');
    assert.equal(rebasePattern('a/b.py', '/p/sub', '/p'), 'sub/a/b.py');
  });
  it('ignores comments, blank patterns and unrelated folders', () => {
    assert.equal(rebasePattern('# note', '/p', '/p'), null);
    assert.equal(rebasePattern('  ', '/p', '/p'), null);
    assert.equal(rebasePattern('x/', '/q', '/p'), null);
  });
});

describe('config: which file applies', () => {
  it('nearest pyproject.toml with the table wins as a whole; one without it is skipped', () => {
    const cwd = path.join(FIXTURES, 'nested');
    const r = new ProjectConfigResolver({ cwd, roots: ['.'] });
    const top = path.join(cwd, 'pyproject.toml');
    const billing = path.join(cwd, 'services', 'billing', 'pyproject.toml');
    assert.equal(r.configFor(path.join(cwd, 'app', 'main.py'))?.file, top);
    assert.equal(r.configFor(path.join(cwd, 'tools', 'admin.py'))?.file, top);
    assert.equal(r.configFor(path.join(cwd, 'services', 'billing', 'api.py'))?.file, billing);
    const app = r.forFile(path.join(cwd, 'app', 'main.py'));
    assert.deepEqual(app.select, ['AUTH']);
    assert.deepEqual(app.ignore, ['AUTH002']);
    const inner = r.forFile(path.join(cwd, 'services', 'billing', 'api.py'));
    assert.equal(inner.select, null, 'not merged with the parent file');
    assert.deepEqual(inner.ignore, []);
    assert.equal(inner.severity.AUTH001, 'warning');
    // Cached per folder: the same object for two files of one folder.
    assert.equal(r.forFile(path.join(cwd, 'app', 'x.py')), app);
    assert.deepEqual(r.diagnostics, []);
  });

  it('stops at the analysed root, then falls back to the cwd pyproject.toml', () => {
    const cwd = path.join(FIXTURES, 'nested');
    // Analysing services/billing only: its own file applies.
    const r1 = new ProjectConfigResolver({ cwd, roots: ['services/billing'] });
    assert.equal(
      r1.configFor(path.join(cwd, 'services', 'billing', 'api.py'))?.file,
      path.join(cwd, 'services', 'billing', 'pyproject.toml'),
    );
    // Analysing app/ (no pyproject.toml inside): the cwd's file applies.
    const r2 = new ProjectConfigResolver({ cwd, roots: ['app'] });
    assert.equal(
      r2.configFor(path.join(cwd, 'app', 'main.py'))?.file,
      path.join(cwd, 'pyproject.toml'),
    );
    // From a cwd without any config, nothing above the root is read.
    const r3 = new ProjectConfigResolver({ cwd: path.join(cwd, 'app'), roots: ['.'] });
    assert.equal(r3.configFor(path.join(cwd, 'app', 'main.py')), null);
  });

  it('--config replaces the search for every file', () => {
    const cwd = path.join(FIXTURES, 'nested');
    const r = new ProjectConfigResolver({ cwd, roots: ['.'], configFile: '../explicit/lens.toml' });
    const cfg = r.forFile(path.join(cwd, 'services', 'billing', 'api.py'));
    assert.deepEqual(cfg.select, ['AUTH001']);
    assert.equal(cfg.severity.AUTH001, 'warning');
    assert.equal(cfg.severity.AUTH007, 'warning', 'a prefix expands to every code it matches');
    assert.equal(r.fatal, false);
    const missing = new ProjectConfigResolver({ cwd, roots: ['.'], configFile: 'nope.toml' });
    assert.equal(missing.fatal, true);
    assert.match(formatConfigDiagnostic(missing.diagnostics[0], cwd), /^nope\.toml: cannot read: /);
  });
});

describe('config: effect on a scan', () => {
  it('nearest config wins in a nested project (select, ignore, severity)', async () => {
    const { findings, resolver } = await scan('nested');
    assert.deepEqual(brief(findings), [
      'app/main.py:6 AUTH001 info',
      'services/billing/api.py:6 AUTH001 warning',
      'tools/admin.py:6 AUTH001 info',
    ]);
    assert.deepEqual(resolver.diagnostics, []);
  });

  it('bad values give clear messages, keep their defaults, and the valid keys still apply', async () => {
    const { findings, resolver, cwd } = await scan('bad-values');
    assert.deepEqual(
      resolver.diagnostics.map((d) => formatConfigDiagnostic(d, cwd)),
      [
        'pyproject.toml: [tool.fastapi-lens] select: expected a list of rule codes, got a string; using the default',
        'pyproject.toml: [tool.fastapi-lens] ignore: unknown rule code or prefix AUTH999 (did you mean AUTH009?)',
        'pyproject.toml: [tool.fastapi-lens] selct: unknown key; did you mean `select`? (ignored)',
        'pyproject.toml: [tool.fastapi-lens] exclude: expected a list of gitignore-style globs, got a string; using the default',
        'pyproject.toml: [tool.fastapi-lens] severity.AUTH001: expected "error", "warning" or "info", got "high"; using the rule\'s default',
      ],
    );
    assert.equal(resolver.fatal, false);
    // select fell back to "all rules", AUTH001 keeps its severity, public-routes still applies
    // (GET /healthz is not reported).
    assert.deepEqual(brief(findings), ['main.py:11 AUTH001 error']);
  });

  it('invalid TOML: defaults for that file, and a fatal diagnostic', async () => {
    const { findings, resolver } = await scan('invalid-toml');
    assert.equal(resolver.fatal, true);
    assert.deepEqual(brief(findings), ['app/main.py:6 AUTH001 error']);
  });

  it('exclude reaches discovery: root config, nested config, and a root below the config', async () => {
    const all = await scan('exclude');
    assert.deepEqual(
      all.analysis.files.map((f) => f.rel),
      ['app/main.py', 'sub/proj/service.py'],
    );
    assert.deepEqual(all.ws.exclude, [
      'app/legacy/',
      '*_generated.py',
      '/scratch.py',
      'sub/proj/**/generated/',
    ]);
    const app = await scan('exclude', { roots: ['app'] });
    assert.deepEqual(
      app.analysis.files.map((f) => f.rel),
      ['app/main.py'],
    );
    const cli = await scan('exclude', { overrides: { exclude: ['sub/'] } });
    assert.deepEqual(
      cli.analysis.files.map((f) => f.rel),
      ['app/main.py'],
      '--exclude adds to the config',
    );
  });

  it('public-routes: * stays within a path segment, ** crosses segments', async () => {
    const { findings } = await scan('public-routes');
    assert.deepEqual(
      auth(findings).map((f) => `${f.route?.methods.join(',')} ${f.route?.path}`),
      ['GET /healthz/deep', 'POST /login/sso/callback', 'DELETE /accounts/{account_id}'],
    );
  });

  it('auth-dependencies reach the dependency analysis', async () => {
    const { findings, analysis } = await scan('auth-deps');
    assert.deepEqual(brief(findings), []);
    const route = analysis.report.routes.find((r) => r.path === '/reports');
    assert.equal(route?.exposure, 'authenticated');
    assert.equal(route?.auth[0]?.basis, 'config');
    const cli = await scan('auth-deps', { overrides: { authDependencies: ['other_dep'] } });
    assert.deepEqual(cli.ws.authDependencies.sort(), ['other_dep', 'verify_caller']);
  });

  it('per-file-ignores: gitignore-style patterns relative to the config, codes or prefixes', async () => {
    const { findings } = await scan('per-file');
    assert.deepEqual(brief(findings), ['app/main.py:6 AUTH001 error']);
  });

  it('severity: an exact code wins over a prefix, whatever the default', async () => {
    const { findings } = await scan('severity');
    assert.deepEqual(brief(findings), ['main.py:12 AUTH001 warning', 'main.py:22 AUTH007 info']);
  });

  it('select / ignore with prefixes; --select and --ignore replace the config', async () => {
    const codes = async (overrides: ConfigOverrides) =>
      auth((await scan('severity', { overrides })).findings).map((f) => f.code);
    assert.deepEqual(await codes({ select: ['AUTH'], ignore: ['AUTH001'] }), ['AUTH007']);
    assert.deepEqual(await codes({ select: ['AUTH00'] }), ['AUTH001', 'AUTH007']);
    assert.deepEqual(await codes({ select: ['AUTH007'] }), ['AUTH007']);
    assert.deepEqual(await codes({ ignore: ['AUTH'] }), []);
    assert.deepEqual(await codes({ select: ['ALL'], ignore: ['AUTH007'] }), ['AUTH001']);
    // nested/ has select = ["AUTH"], ignore = ["AUTH002"]; --ignore replaces the list.
    const nested = await scan('nested', { overrides: { ignore: ['AUTH001'] } });
    assert.deepEqual(
      auth(nested.findings).filter((f) => f.file === 'app/main.py'),
      [],
    );
  });

  it('--config FILE applies to every file of a nested project', async () => {
    const { findings } = await scan('nested', { configFile: '../explicit/lens.toml' });
    assert.deepEqual(brief(findings), [
      'app/main.py:6 AUTH001 warning',
      'services/billing/api.py:6 AUTH001 warning',
      'tools/admin.py:6 AUTH001 warning',
    ]);
  });
});
