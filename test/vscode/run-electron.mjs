// Runs the same integration suite (dist/test/suite.js) in desktop VS Code through
// @vscode/test-electron, which downloads VS Code from update.code.visualstudio.com first.
// Where that host cannot be reached (like this project's build machines, which only reach npm
// and Debian), it says so and exits 1 without running anything: use `npm test`, which runs the
// suite in code-server (test/vscode.test.ts), instead. On Linux without a display, run it under
// `xvfb-run -a npm run test:vscode-electron`.
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const host = 'https://update.code.visualstudio.com';
const version = process.env.VSCODE_TEST_VERSION ?? 'stable';

try {
  const res = await fetch(`${host}/api/releases/stable`, { signal: AbortSignal.timeout(8000) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
} catch (err) {
  console.error(
    [
      '',
      'test:vscode-electron: cannot download VS Code here.',
      `  ${host} is not reachable (${err instanceof Error ? err.message : String(err)}).`,
      '  @vscode/test-electron needs to download a VS Code build before it can run the suite.',
      '  Nothing was tested. The same suite runs offline in code-server with `npm test`',
      '  (test/vscode.test.ts); run this script on a machine with internet access.',
      '',
    ].join('\n'),
  );
  process.exit(1);
}

const { runTests } = await import('@vscode/test-electron');
const runDir = path.join(root, 'test-output', 'vscode-electron');
rmSync(runDir, { recursive: true, force: true });
const workspace = path.join(runDir, 'workspace');
const results = path.join(runDir, 'results');
cpSync(path.join(root, 'test', 'vscode', 'workspace'), workspace, { recursive: true });
mkdirSync(results, { recursive: true });

try {
  await runTests({
    version,
    extensionDevelopmentPath: root,
    extensionTestsPath: path.join(root, 'dist', 'test', 'suite.js'),
    extensionTestsEnv: { FASTAPI_LENS_TEST_RESULTS: results },
    launchArgs: [
      workspace,
      '--disable-extensions',
      '--disable-workspace-trust',
      `--user-data-dir=${path.join(runDir, 'user-data')}`,
    ],
  });
} catch (err) {
  console.error(
    `test:vscode-electron: the suite failed: ${err instanceof Error ? err.message : err}`,
  );
  try {
    console.error(readFileSync(path.join(results, 'suite.log'), 'utf8'));
  } catch {
    // no log
  }
  process.exit(1);
}
console.log(readFileSync(path.join(results, 'suite.log'), 'utf8'));
