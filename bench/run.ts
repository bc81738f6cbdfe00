import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateProject } from './generate';

/**
 * `npm run bench`: speed and memory of a full scan (routes + every rule) on generated projects
 * of 10k / 100k / 1M lines and on any folders given as arguments, each next to Ruff's WASM
 * build (rules S + FAST) on the same files in the same run, the tree-sitter parse-only floor,
 * and Bandit when it is installed. Numbers are reported as ratios; nothing is asserted.
 *   npm run bench -- [--sizes 10000,100000] [--lsp-sizes 10000] [--baseline] [FOLDER...]
 * Then the LSP latency benchmark (bench/lsp-latency.ts: keystroke to diagnostics, start-up) on
 * generated projects of --lsp-sizes lines plus a 2,000-line route module; --baseline also runs
 * it with the incremental engine off.
 */

interface Measure {
  tool: string;
  files: number;
  lines: number;
  ms: number;
  maxRssMb: number;
  findings: number;
}

const ROOT = path.join(__dirname, '..');

function measure(tool: string, dir: string): Measure {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', path.join(__dirname, 'measure.ts'), tool, dir],
    {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return JSON.parse(out.trim().split('\n').pop() as string) as Measure;
}

function bandit(dir: string): number | null {
  const which = spawnSync('bandit', ['--version'], { encoding: 'utf8' });
  if (which.status !== 0) return null;
  const t0 = performance.now();
  spawnSync(
    'bandit',
    ['-q', '-r', dir, '-f', 'json', '-o', path.join(os.tmpdir(), 'bandit-bench.json')],
    {
      encoding: 'utf8',
    },
  );
  return performance.now() - t0;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function main(): void {
  const args = process.argv.slice(2);
  let sizes = [10_000, 100_000, 1_000_000];
  const lspArgs: string[] = [];
  const folders: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--sizes') sizes = args[++i].split(',').map(Number);
    else if (args[i] === '--lsp-sizes') lspArgs.push('--sizes', args[++i]);
    else if (args[i] === '--baseline') lspArgs.push('--baseline');
    else folders.push(path.resolve(args[i]));
  }
  const corpora: { name: string; dir: string }[] = [];
  for (const size of sizes) {
    // Outside the repository: bench/.corpus/ is git-ignored, so discovery would skip it.
    const dir = path.join(os.tmpdir(), 'fastapi-lens-bench', `gen-${size}`);
    const { files, lines } = generateProject(dir, size);
    corpora.push({ name: `generated ${fmt(lines)} lines / ${files} files`, dir });
  }
  for (const f of folders) corpora.push({ name: path.basename(f), dir: f });

  console.log(
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`,
  );
  console.log('');
  const header =
    '| corpus | files | lines | lens ms | lines/s | peak RSS MB | parse-only ms | ruff-wasm ms | lens/ruff | bandit ms | lens/bandit | lens/parse |';
  console.log(header);
  console.log('|' + ' --- |'.repeat(12));
  for (const c of corpora) {
    const lens = measure('lens', c.dir);
    const parse = measure('parse', c.dir);
    const ruff = measure('ruff', c.dir);
    const b = bandit(c.dir);
    const row = [
      c.name,
      fmt(lens.files),
      fmt(lens.lines),
      fmt(lens.ms),
      fmt(Math.round((lens.lines / lens.ms) * 1000)),
      String(lens.maxRssMb),
      fmt(parse.ms),
      fmt(ruff.ms),
      (lens.ms / ruff.ms).toFixed(2),
      b === null ? 'not installed' : fmt(Math.round(b)),
      b === null ? '' : (lens.ms / b).toFixed(3),
      (lens.ms / parse.ms).toFixed(2),
    ];
    console.log(`| ${row.join(' | ')} |`);
  }
  if (fs.existsSync(path.join(ROOT, 'dist', 'server.js'))) {
    const lsp = path.join(__dirname, 'lsp-latency.ts');
    if (fs.existsSync(lsp)) {
      console.log('');
      execFileSync(process.execPath, ['--import', 'tsx', lsp, ...lspArgs], {
        cwd: ROOT,
        stdio: 'inherit',
      });
    }
  }
}

main();
