import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';

/**
 * Neovim (Debian's 0.7.2, headless) as a real LSP client: test/nvim/init.lua attaches to
 * dist/server.js, waits for diagnostics, hovers, applies a quick fix with
 * vim.lsp.util.apply_workspace_edit and waits for the diagnostics to update, then writes what it
 * saw to a JSON file asserted here. Without `nvim` on PATH the test is skipped LOUDLY (CI
 * installs it, so it never skips there).
 */

const ROOT = path.resolve(__dirname, '..');
const SERVER = path.join(ROOT, 'dist', 'server.js');
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function hasNvim(): boolean {
  return spawnSync('nvim', ['--version'], { stdio: 'ignore' }).status === 0;
}

interface NvimResult {
  ok?: boolean;
  error?: string;
  steps: string[];
  diagnostics: { lnum: number; code: string; message: string; source: string; href: string }[];
  hover: string;
  actions: string[];
  applied: string;
  after_text: string;
  after: { lnum: number; code: string; message: string }[];
}

describe('Neovim as an LSP client', () => {
  it('attaches, gets diagnostics and a hover, applies a quick fix', { timeout: 90000 }, (t) => {
    if (!hasNvim()) {
      const banner = '!'.repeat(78);
      console.log(
        `${banner}\nSKIP test/nvim.test.ts: \`nvim\` is not installed (apt-get install neovim)\n${banner}`,
      );
      t.skip('nvim is not installed');
      return;
    }
    if (!fs.existsSync(SERVER))
      execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], {
        stdio: 'inherit',
      });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-nvim-'));
    try {
      const project = path.join(tmp, 'project');
      fs.cpSync(path.join(__dirname, 'fixtures', 'lsp', 'classic'), project, { recursive: true });
      const out = path.join(tmp, 'result.json');
      const xdg = path.join(tmp, 'xdg');
      const run = spawnSync(
        'nvim',
        [
          '--headless',
          '-n',
          '-i',
          'NONE',
          '-u',
          path.join(__dirname, 'nvim', 'init.lua'),
          'users.py',
        ],
        {
          cwd: project,
          encoding: 'utf8',
          timeout: 60000,
          env: {
            ...process.env,
            LENS_NODE: process.execPath,
            LENS_SERVER: SERVER,
            LENS_ROOT: project,
            LENS_OUT: out,
            LENS_FIX: 'add parameter',
            XDG_CONFIG_HOME: path.join(xdg, 'config'),
            XDG_DATA_HOME: path.join(xdg, 'data'),
            XDG_STATE_HOME: path.join(xdg, 'state'),
            XDG_CACHE_HOME: path.join(xdg, 'cache'),
          },
        },
      );
      assert.ok(
        fs.existsSync(out),
        `nvim wrote no result (exit ${run.status}): ${run.stderr}${run.stdout}`,
      );
      const result = JSON.parse(fs.readFileSync(out, 'utf8')) as NvimResult;
      assert.equal(
        result.error,
        undefined,
        `nvim failed after ${result.steps.join(', ')}: ${result.error}`,
      );
      assert.equal(run.status, 0, `nvim exit code ${run.status}`);
      assert.deepEqual(result.steps, [
        'attached',
        'diagnostics',
        'hover',
        'applied',
        'republished',
      ]);

      assert.deepEqual(
        result.diagnostics.map((d) => `${d.lnum}:${d.code}`),
        ['10:AUTH001', '17:AUTH001'],
      );
      assert.ok(result.diagnostics.every((d) => d.source === 'fastapi-lens'));
      assert.match(result.diagnostics[1].href, /AUTH001\.md$/);
      assert.match(result.hover, /POST `\/users\/`/);
      assert.match(result.hover, /public/);
      assert.ok(
        result.actions.some((a) => a.startsWith('Mark ')),
        result.actions.join('\n'),
      );
      assert.ok(
        result.actions.includes('Show documentation for AUTH001'),
        result.actions.join('\n'),
      );
      assert.match(
        result.applied,
        /add parameter `current_user: User = Depends\(get_current_user\)`/,
      );

      assert.match(result.after_text, /^\s+current_user: User = Depends\(get_current_user\),$/m);
      assert.match(result.after_text, /^from auth import get_current_user$/m);
      execFileSync(PYTHON, ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], {
        input: result.after_text,
      });
      assert.deepEqual(
        result.after.map((d) => d.code),
        ['AUTH001'],
        'only the GET route is still public',
      );
      assert.match(result.after[0].message, /GET \/users\/\{user_id\}/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
