import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';

/**
 * Real VS Code: runs test/vscode/suite.ts inside code-server's extension host (VS Code 1.100,
 * the same workbench and Node extension host as desktop VS Code), driven by headless Chromium
 * through playwright-core. The extension is loaded from this folder as an extension under
 * development (`payload` URL), the workspace is a fresh copy of test/vscode/workspace.
 *
 * code-server lives in a cache folder (scripts/install-code-server.sh; .ci/run installs it).
 * Missing code-server or Chromium fails under CI and is a loud skip elsewhere.
 * Screenshots: test-output/screenshots/*.png; the README's two go to docs/images/.
 */

const ROOT = path.resolve(__dirname, '..');
const CI = Boolean(process.env.CI);
const CS_DIR = process.env.FASTAPI_LENS_CODE_SERVER_DIR ?? path.join(ROOT, '.cache', 'code-server');
const CS_ENTRY = path.join(CS_DIR, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const CHROMIUM =
  process.env.CHROMIUM_PATH ??
  ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) =>
    fs.existsSync(p),
  );
const RUN_DIR = path.join(ROOT, 'test-output', 'vscode');
const SHOTS_DIR = path.join(ROOT, 'test-output', 'screenshots');
const README_SHOTS: Record<string, string> = {
  'tree-view': 'vscode-route-exposure.png',
  hover: 'vscode-hover.png',
};
const SUITE_TIMEOUT_MS = 150_000;

function loudSkip(reason: string): string {
  const bar = '!'.repeat(78);
  console.log(
    `\n${bar}\n!! SKIP: real VS Code tests (code-server) did not run: ${reason}\n${bar}\n`,
  );
  return reason;
}

/** What is missing to run the suite; installs code-server under CI. */
function prerequisites(): string[] {
  const missing: string[] = [];
  if (!fs.existsSync(CS_ENTRY)) {
    if (CI) {
      const res = spawnSync(path.join(ROOT, 'scripts', 'install-code-server.sh'), [CS_DIR], {
        stdio: 'inherit',
      });
      if (res.status !== 0)
        missing.push('code-server could not be installed (scripts/install-code-server.sh)');
    } else {
      missing.push(
        `code-server is not installed in ${CS_DIR} (run scripts/install-code-server.sh)`,
      );
    }
  }
  if (!CHROMIUM || !fs.existsSync(CHROMIUM)) {
    missing.push(
      `Chromium is missing (${CHROMIUM ?? '/usr/bin/chromium'}; Debian: apt-get install chromium)`,
    );
  }
  for (const f of ['dist/client.js', 'dist/server.js', 'dist/test/suite.js']) {
    if (!fs.existsSync(path.join(ROOT, f))) missing.push(`${f} is missing (npm run build)`);
  }
  return missing;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 500);
    });
    req.on('error', () => resolve(false));
    req.setTimeout(2000, () => req.destroy());
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function tail(file: string, lines = 40): string {
  if (!fs.existsSync(file)) return `(no ${path.basename(file)})`;
  return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

interface SuiteResult {
  vscode: string;
  passed: number;
  failed: number;
  tests: { name: string; ok: boolean; ms: number; error?: string; notes?: string[] }[];
}

function prepareRun(port: number): {
  workspace: string;
  results: string;
  userData: string;
  extensions: string;
  config: string;
} {
  fs.rmSync(RUN_DIR, { recursive: true, force: true });
  const workspace = path.join(RUN_DIR, 'workspace');
  const results = path.join(RUN_DIR, 'results');
  const userData = path.join(RUN_DIR, 'user-data');
  const extensions = path.join(RUN_DIR, 'extensions');
  fs.cpSync(path.join(ROOT, 'test', 'vscode', 'workspace'), workspace, { recursive: true });
  for (const d of [results, extensions, path.join(userData, 'User'), SHOTS_DIR])
    fs.mkdirSync(d, { recursive: true });
  const config = path.join(RUN_DIR, 'config.yaml');
  fs.writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  fs.writeFileSync(
    path.join(userData, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.colorTheme': 'Default Light Modern',
        'workbench.welcomePage.walkthroughs.openOnInstall': false,
        'security.workspace.trust.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'extensions.ignoreRecommendations': true,
        'extensions.autoCheckUpdates': false,
        'editor.minimap.enabled': false,
        'editor.hover.delay': 100,
        'window.zoomLevel': 0,
        'chat.commandCenter.enabled': false,
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
      },
      null,
      2,
    ),
  );
  return { workspace, results, userData, extensions, config };
}

const VSIX_LIMIT = 2 * 1024 * 1024;
const VSIX_REQUIRED = [
  'extension/package.json',
  'extension/dist/client.js',
  'extension/dist/server.js',
  'extension/dist/worker.js',
  'extension/dist/web-tree-sitter.wasm',
  'extension/dist/web-tree-sitter.cjs',
  'extension/dist/tree-sitter-python.wasm',
  'extension/media/icon.png',
  'extension/media/activity.svg',
  'extension/media/states/public.svg',
  'extension/readme.md',
];

function runAsync(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/**
 * Packages the extension exactly as `npm run package` does (from the current dist/) and unpacks
 * it: the suite then runs against the packaged files, so a file missing from the .vsix fails.
 */
async function packageExtension(): Promise<{ vsix: string; dir: string }> {
  const vsix = path.join(RUN_DIR, 'fastapi-security-lens.vsix');
  const vsce = path.join(ROOT, 'node_modules', '.bin', 'vsce');
  const packed = await runAsync(vsce, [
    'package',
    '--no-dependencies',
    '--allow-missing-repository',
    '--readme-path',
    'media/README.md',
    '--out',
    vsix,
  ]);
  assert.equal(packed.code, 0, `vsce package failed:\n${packed.output}`);
  const size = fs.statSync(vsix).size;
  assert.ok(size < VSIX_LIMIT, `the .vsix is ${Math.round(size / 1024)} KB (limit 2 MB)`);
  const dir = path.join(RUN_DIR, 'vsix');
  const py = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const unzipped = await runAsync(py, ['-m', 'zipfile', '-e', vsix, dir]);
  assert.equal(unzipped.code, 0, `could not unpack the .vsix:\n${unzipped.output}`);
  for (const f of VSIX_REQUIRED)
    assert.ok(fs.existsSync(path.join(dir, f)), `the .vsix holds ${f}`);
  for (const f of [
    'extension/node_modules',
    'extension/client',
    'extension/server',
    'extension/test',
  ]) {
    assert.ok(!fs.existsSync(path.join(dir, f)), `the .vsix does not hold ${f}`);
  }
  return { vsix, dir: path.join(dir, 'extension') };
}

/** Drags the sash on the right of the side bar so that the side bar is `width` pixels wide. */
async function resizeSidebar(page: Page, width: number): Promise<void> {
  const box = await page.locator('.part.sidebar').boundingBox();
  if (!box) return;
  const y = box.y + box.height / 2;
  const edge = box.x + box.width;
  await page.mouse.move(edge - 1, y);
  await page.mouse.down();
  await page.mouse.move(box.x + width, y, { steps: 8 });
  await page.mouse.up();
  await page.mouse.move(0, 0);
  await sleep(300);
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.pid === undefined) return Promise.resolve();
  const pid = child.pid;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
      resolve();
    }, 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      process.kill(-pid, 'SIGTERM'); // code-server's own process group (detached below)
    } catch {
      resolve();
    }
  });
}

test(
  'VS Code (code-server): extension integration suite in the real extension host',
  { timeout: 240_000 },
  async (t) => {
    const missing = prerequisites();
    if (missing.length > 0) {
      if (CI) assert.fail(`real VS Code tests cannot run in CI: ${missing.join('; ')}`);
      t.skip(loudSkip(missing.join('; ')));
      return;
    }
    const started = Date.now();
    const port = await freePort();
    const run = prepareRun(port);
    const packaging = packageExtension(); // in parallel with code-server's start-up
    packaging.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
    const csLog = path.join(RUN_DIR, 'code-server.log');
    const logFd = fs.openSync(csLog, 'w');
    const cs = spawn(
      process.execPath,
      [
        CS_ENTRY,
        '--config',
        run.config,
        '--user-data-dir',
        run.userData,
        '--extensions-dir',
        run.extensions,
        '--bind-addr',
        `127.0.0.1:${port}`,
        '--auth',
        'none',
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        run.workspace,
      ],
      {
        cwd: RUN_DIR,
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: { ...process.env, FASTAPI_LENS_TEST_RESULTS: run.results },
      },
    );
    fs.closeSync(logFd);
    const { chromium } = await import('playwright-core');
    let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
    const shots: string[] = [];
    try {
      const base = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 30_000;
      while (!(await httpOk(`${base}/healthz`))) {
        if (cs.exitCode !== null || Date.now() > deadline) {
          assert.fail(`code-server did not start:\n${tail(csLog)}`);
        }
        await sleep(200);
      }
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-dev-shm-usage',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
      const context = await browser.newContext({
        viewport: { width: 1400, height: 860 },
        deviceScaleFactor: 1,
      });
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
      const page = await context.newPage();
      const consoleLog: string[] = [];
      page.on('console', (m) => consoleLog.push(`[${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => consoleLog.push(`[pageerror] ${e.message}`));

      fs.writeFileSync(path.join(run.results, 'driver.json'), JSON.stringify({ port, started }));
      const extension = await packaging;
      const vsixKb = Math.round(fs.statSync(extension.vsix).size / 1024);
      t.diagnostic(
        `packaged ${path.relative(ROOT, extension.vsix)} (${vsixKb} KB); the suite runs on its files`,
      );
      const remote = (p: string): string => `vscode-remote://127.0.0.1:${port}${p}`;
      const payload = [
        ['extensionDevelopmentPath', remote(extension.dir)],
        ['extensionTestsPath', remote(path.join(ROOT, 'dist', 'test', 'suite.js'))],
      ];
      const url = `${base}/?folder=${encodeURIComponent(run.workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
      await page.goto(url);

      const resultFile = path.join(run.results, 'result.json');
      const until = Date.now() + SUITE_TIMEOUT_MS;
      while (!fs.existsSync(resultFile)) {
        for (const f of fs.readdirSync(run.results)) {
          if (!f.endsWith('.request')) continue;
          const name = f.slice(0, -'.request'.length);
          const text = fs.readFileSync(path.join(run.results, f), 'utf8');
          const options = JSON.parse(text || '{}') as { sidebarWidth?: number };
          if (options.sidebarWidth) await resizeSidebar(page, options.sidebarWidth);
          const file = path.join(SHOTS_DIR, `${name}.png`);
          await page.screenshot({ path: file });
          shots.push(file);
          fs.renameSync(path.join(run.results, f), path.join(run.results, `${name}.done`));
        }
        if (Date.now() > until) {
          await page
            .screenshot({ path: path.join(SHOTS_DIR, 'timeout.png') })
            .catch(() => undefined);
          fs.writeFileSync(path.join(RUN_DIR, 'browser-console.log'), consoleLog.join('\n'));
          assert.fail(
            `the suite did not finish within ${SUITE_TIMEOUT_MS / 1000} s (screenshot test-output/screenshots/timeout.png)\n` +
              `suite.log:\n${tail(path.join(run.results, 'suite.log'))}\nbrowser console:\n${consoleLog.slice(-30).join('\n')}`,
          );
        }
        await sleep(150);
      }
      await page.screenshot({ path: path.join(SHOTS_DIR, 'final.png') });
      fs.writeFileSync(path.join(RUN_DIR, 'browser-console.log'), consoleLog.join('\n'));
      const result = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as SuiteResult;

      for (const r of result.tests) {
        await t.test(r.name, () => {
          for (const n of r.notes ?? []) t.diagnostic(`${r.name}: ${n}`);
          if (!r.ok) assert.fail(r.error ?? 'failed');
        });
      }
      const names = new Set(result.tests.map((r) => r.name));
      assert.ok(names.size >= 10, `every suite test ran (${names.size})`);
      for (const [name, target] of Object.entries(README_SHOTS)) {
        const file = path.join(SHOTS_DIR, `${name}.png`);
        assert.ok(fs.existsSync(file), `screenshot ${name} was taken`);
        fs.mkdirSync(path.join(ROOT, 'docs', 'images'), { recursive: true });
        fs.copyFileSync(file, path.join(ROOT, 'docs', 'images', target));
      }
      t.diagnostic(
        `VS Code ${result.vscode}: ${result.passed} passed, ${result.failed} failed in ${Math.round((Date.now() - started) / 1000)} s; screenshots: ${shots.map((s) => path.relative(ROOT, s)).join(', ')}`,
      );
      assert.equal(
        result.failed,
        0,
        `${result.failed} VS Code integration tests failed (see above and test-output/vscode/)`,
      );
    } finally {
      await browser?.close().catch(() => undefined);
      await stop(cs);
    }
  },
);
