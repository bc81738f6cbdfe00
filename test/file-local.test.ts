import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { RULES } from '../rules/index';
import { ProjectConfigResolver } from '../server/src/engine/config';
import type { Finding } from '../server/src/engine/findings';
import {
  readSource,
  scanWorkspace,
  type Analysis,
  type ConfigResolver,
  type EngineDiagnostic,
} from '../server/src/engine/index';
import { EngineSession } from '../server/src/engine/session';
import { folderConfig } from '../server/src/lsp/settings';
import { DEFAULT_SETTINGS, type LensSettings } from '../server/src/protocol';

/**
 * The file-local findings an editor shows while the workspace loads (EngineSession
 * fileLocalFindings, from one file's text alone) are exactly the findings the full scan gives
 * that file from file rules not weighed by exposure, outside every function: same code, place,
 * message, severity (configuration, severity overrides), suppression comments, per-file-ignores
 * and fingerprints. Checked file by file on fixture projects with configuration and comments.
 */

const FIXTURES = path.join(__dirname, 'fixtures');
const PROJECTS = [
  'config/file-local',
  'config/per-file',
  'config/severity',
  'config/suppression',
  'config/nested',
  'config/exclude',
  'lsp/classic',
  'lsp/annotated',
  'lsp/noauth',
  'cli/project',
  'rules',
];

/** Rules whose findings may be file-local: file rules whose severity ignores exposure. */
const ELIGIBLE = new Set(
  RULES.filter((r) => r.kind === 'file' && !r.meta.exposureSensitive).map((r) => r.meta.code),
);

const tmpDirs: string[] = [];
after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

interface Setup {
  dir: string;
  config: ConfigResolver;
  exclude: string[];
  authDependencies: string[];
}

function projectSetup(dir: string, settings?: Partial<LensSettings>): Setup {
  if (settings) {
    // As the language server configures a folder: pyproject.toml with editor settings over it.
    const folder = folderConfig(dir, { ...DEFAULT_SETTINGS, ...settings });
    return {
      dir,
      config: folder.resolver,
      exclude: folder.exclude,
      authDependencies: folder.authDependencies,
    };
  }
  const config = new ProjectConfigResolver({ cwd: dir, roots: [dir] });
  return { dir, config, ...config.workspaceOptions() };
}

async function fullScan(s: Setup, overlays?: Map<string, string>) {
  return scanWorkspace({
    roots: [s.dir],
    cwd: s.dir,
    exclude: s.exclude,
    authDependencies: s.authDependencies,
    config: s.config,
    overlays,
  });
}

function newSession(s: Setup): EngineSession {
  return new EngineSession({
    roots: [s.dir],
    cwd: s.dir,
    exclude: s.exclude,
    authDependencies: s.authDependencies,
    config: s.config,
  });
}

/**
 * What the full scan gives one file that its text alone decides: findings of eligible rules
 * whose file-rule finding (in the scan's facts) is outside every function.
 */
function expectedFor(
  analysis: Analysis,
  findings: Finding[],
  rel: string,
): { findings: Finding[]; notes: EngineDiagnostic[] } {
  const file = analysis.files.find((f) => f.rel === rel);
  assert.ok(file, rel);
  const moduleLevel = (f: Finding) =>
    file.facts.local.some(
      (lf) =>
        lf.code === f.code &&
        lf.line === f.line &&
        lf.column === f.column &&
        lf.endLine === f.endLine &&
        lf.endColumn === f.endColumn &&
        lf.message === f.message &&
        lf.fn === null,
    );
  const out = findings.filter((f) => f.file === rel && ELIGIBLE.has(f.code) && moduleLevel(f));
  // Outside every function, no route can own a finding.
  for (const f of out) assert.equal(f.route, null, `${rel}:${f.line} ${f.code} has a route`);
  return { findings: out, notes: analysis.report.diagnostics.filter((d) => d.file === rel) };
}

function textOf(abs: string): string {
  const read = readSource(abs, 5 * 1024 * 1024);
  assert.ok('source' in read, abs);
  return read.source;
}

/** Compare file by file; returns how many file-local findings there were. */
async function compareProject(
  s: Setup,
  session: EngineSession,
  overlays?: Map<string, string>,
): Promise<number> {
  const { analysis, findings } = await fullScan(s, overlays);
  assert.ok(analysis.files.length > 0, `${s.dir} has Python files`);
  let count = 0;
  for (const file of analysis.files) {
    const text = overlays?.get(file.abs) ?? textOf(file.abs);
    const early = await session.fileLocalFindings(file.abs, text);
    assert.ok(early, `${file.rel}: analysed`);
    assert.deepEqual(early, expectedFor(analysis, findings, file.rel), file.rel);
    count += early.findings.length;
  }
  return count;
}

describe('file-local findings (published while the editor loads the workspace)', () => {
  for (const name of PROJECTS)
    it(`equal the full scan's file-local findings, file by file: ${name}`, async () => {
      const s = projectSetup(path.join(FIXTURES, name));
      await compareProject(s, newSession(s));
    });

  it('apply configuration, per-file-ignores and suppression comments as the full scan does', async () => {
    const s = projectSetup(path.join(FIXTURES, 'config', 'file-local'));
    const session = newSession(s);
    const count = await compareProject(s, session);
    assert.ok(count >= 8, `${count} file-local findings in the fixture`);
    // The comparison sees configuration and comments: without them, the same texts give
    // findings the full scan does not (suppressed, ignored, other severities).
    const bare = new EngineSession({ roots: [s.dir], cwd: s.dir });
    const { analysis, findings } = await fullScan(s);
    let differ = 0;
    for (const file of analysis.files) {
      const early = await bare.fileLocalFindings(file.abs, textOf(file.abs));
      const expected = expectedFor(analysis, findings, file.rel);
      if (JSON.stringify(early?.findings) !== JSON.stringify(expected.findings)) differ++;
    }
    assert.ok(differ >= 4, `${differ} files differ without the configuration`);
    // Each kind of filtering is in the fixture.
    const main = path.join(s.dir, 'app', 'main.py');
    const codes = (await session.fileLocalFindings(main, textOf(main)))?.findings.map(
      (f) => `${f.line} ${f.code} ${f.severity}`,
    );
    assert.deepEqual(codes, [
      '8 SECRET001 error',
      '11 SECRET001 error',
      '13 CFG001 warning',
      '17 CORS001 error',
      '23 TIMEOUT001 info',
      '23 TLS001 error',
      '43 CFG002 warning',
    ]);
  });

  it('apply editor settings (rules.ignore, severity) as the full scan does', async () => {
    const s = projectSetup(path.join(FIXTURES, 'config', 'file-local'), {
      rules: { select: [], ignore: ['TIMEOUT'] },
      severity: { TLS001: 'info', CFG: 'error' },
    });
    const count = await compareProject(s, newSession(s));
    assert.ok(count > 0);
    const main = path.join(s.dir, 'app', 'main.py');
    const early = await newSession(s).fileLocalFindings(main, textOf(main));
    assert.ok(early?.findings.every((f) => f.code !== 'TIMEOUT001'));
    assert.ok(early?.findings.some((f) => f.code === 'TLS001' && f.severity === 'info'));
    assert.ok(early?.findings.some((f) => f.code === 'CFG001' && f.severity === 'error'));
  });

  it('follow an unsaved text, and use the facts a loaded session has', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-file-local-'));
    tmpDirs.push(dir);
    fs.cpSync(path.join(FIXTURES, 'config', 'file-local'), dir, { recursive: true });
    const s = projectSetup(dir);
    const main = path.join(dir, 'app', 'main.py');
    // Unsaved: a new secret and a suppression comment gone, lines moved.
    const edited = textOf(main)
      .replace('import requests\n', 'import requests\n\nAPI_SECRET = "n3w-s3cr3t-v4lu3-2024"\n')
      .replace('  # fastapi-lens: ignore[SECRET001] the demo account', '');
    const overlays = new Map([[main, edited]]);
    const session = newSession(s);
    assert.ok((await compareProject(s, session, overlays)) > 0);
    const early = await session.fileLocalFindings(main, edited);
    assert.ok(early?.findings.some((f) => f.message.includes('API_SECRET')));
    assert.ok(early?.findings.some((f) => f.message.includes('ADMIN_PASSWORD')));
    // After a load, the session's own facts of the disk text are used: still the same.
    await session.loadAll();
    assert.ok((await compareProject(s, session)) > 0);
    // ... and they are among the session's complete findings.
    for (const file of session.analysis().files) {
      const early2 = await session.fileLocalFindings(file.abs, textOf(file.abs));
      const all = session.findingsOf(file.rel).map((f) => JSON.stringify(f));
      for (const f of early2?.findings ?? [])
        assert.ok(all.includes(JSON.stringify(f)), `${file.rel}:${f.line} ${f.code}`);
    }
  });

  it('give up (null) on texts the full pass does not analyse as given', async () => {
    const s = projectSetup(path.join(FIXTURES, 'config', 'file-local'));
    const session = new EngineSession({ roots: [s.dir], cwd: s.dir, maxFileBytes: 1000 });
    const main = path.join(s.dir, 'app', 'main.py');
    assert.equal(await session.fileLocalFindings(main, 'x = 1\n'.repeat(200)), null);
    // Nested deeper than the parser accepts (parser.ts MAX_INDENT_LEVELS): refused.
    const deep = Array.from({ length: 300 }, (_, i) => `${' '.repeat(i)}if x:`).join('\n');
    const other = new EngineSession({ roots: [s.dir], cwd: s.dir });
    assert.equal(await other.fileLocalFindings(main, `${deep}\n${' '.repeat(300)}pass\n`), null);
    assert.ok(await other.fileLocalFindings(main, 'x = 1\n'), 'a plain text is analysed');
  });
});
