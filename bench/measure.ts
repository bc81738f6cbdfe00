import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { discover } from '../server/src/engine/discovery';
import { extractFacts, FileNodes } from '../server/src/engine/facts';
import { scanWorkspace } from '../server/src/engine/index';
import { createPythonParser, parseSource } from '../server/src/engine/parser';
import { runFileRules } from '../server/src/engine/scan';
import { computeTaintFacts } from '../server/src/engine/taint/index';
import { loadRuff } from './ruff';

/**
 * One measurement in a fresh process (so peak RSS is the tool's own):
 *   node --import tsx bench/measure.ts <lens|ruff|parse|phases> <dir>
 * Prints one JSON line: { tool, files, lines, ms, maxRssMb, findings }.
 * - lens: the built CLI (`dist/cli.js scan`, worker threads as shipped; `npm run bench` builds
 *   first) in a child process: wall time including start-up, and that process's peak RSS.
 *   Without a build, `scanWorkspace` in this process.
 * - parse: tree-sitter parsing only, one thread, sources read beforehand (the floor).
 * - phases: the per-file pass in this thread, timed per phase: `phases` holds the ms of
 *   parse, facts, rules and taint (the union node search is counted in facts).
 */

async function main(): Promise<void> {
  const [tool, dir] = process.argv.slice(2);
  const found = discover([dir], { exclude: [], cwd: dir });
  let lines = 0;
  for (const f of found.files) lines += countLines(fs.readFileSync(f.abs, 'utf8'));
  let findings = 0;
  let ms: number;
  let phases: Record<string, number> | undefined;
  let maxRssMb: number | null = null;
  if (tool === 'lens') {
    const cli = path.join(__dirname, '..', 'dist', 'cli.js');
    if (fs.existsSync(cli)) {
      const run = runCli(cli, dir);
      ms = run.ms;
      findings = run.findings;
      maxRssMb = run.maxRssMb;
    } else {
      const t0 = performance.now();
      const result = await scanWorkspace({ roots: [dir], cwd: dir });
      ms = performance.now() - t0;
      findings = result.findings.length;
    }
  } else if (tool === 'parse') {
    const sources = found.files.map((f) => fs.readFileSync(f.abs, 'utf8'));
    const parser = await createPythonParser();
    const t0 = performance.now();
    for (const s of sources) parser.parse(s)?.delete();
    ms = performance.now() - t0;
  } else if (tool === 'phases') {
    const parser = await createPythonParser();
    const t = { parse: 0, facts: 0, rules: 0, taint: 0 };
    const t0 = performance.now();
    for (const f of found.files) {
      const source = fs.readFileSync(f.abs, 'utf8');
      let at = performance.now();
      const tree = parseSource(parser, source);
      const lap = (key: keyof typeof t): void => {
        const now = performance.now();
        t[key] += now - at;
        at = now;
      };
      lap('parse');
      try {
        const nodes = new FileNodes(tree.rootNode, source);
        const facts = extractFacts(f.abs, tree, source, nodes, { test: f.test, docs: f.docs });
        lap('facts');
        facts.local = runFileRules(f.abs, source, tree, facts, nodes);
        findings += facts.local.length;
        lap('rules');
        facts.taint = computeTaintFacts(tree, facts, nodes);
        lap('taint');
      } finally {
        tree.delete();
      }
    }
    ms = performance.now() - t0;
    phases = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(v)]));
  } else if (tool === 'ruff') {
    const ruffWorkspace = loadRuff();
    const t0 = performance.now();
    // Ruff reads the files too: include the reads in its time as in ours.
    const ws = ruffWorkspace();
    for (const f of found.files) findings += ws.check(fs.readFileSync(f.abs, 'utf8')).length;
    ms = performance.now() - t0;
  } else throw new Error(`unknown tool ${tool}`);
  maxRssMb ??= Math.round(process.resourceUsage().maxRSS / 1024);
  process.stdout.write(
    `${JSON.stringify({ tool, files: found.files.length, lines, ms: Math.round(ms), maxRssMb, findings, ...(phases ? { phases } : {}) })}\n`,
  );
}

/** `fastapi-lens scan DIR` as users run it; its peak RSS is reported by a preloaded hook. */
function runCli(cli: string, dir: string): { ms: number; findings: number; maxRssMb: number } {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lens-bench-'));
  try {
    const hook = path.join(tmp, 'rss.js');
    const rssFile = path.join(tmp, 'rss.txt');
    const out = path.join(tmp, 'scan.json');
    fs.writeFileSync(
      hook,
      `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));\n`,
    );
    const t0 = performance.now();
    const child = spawnSync(
      process.execPath,
      [
        '--require',
        hook,
        cli,
        'scan',
        dir,
        '--format',
        'json',
        '--fail-on',
        'never',
        '--output',
        out,
      ],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    const ms = performance.now() - t0;
    if (child.status !== 0) throw new Error(`fastapi-lens scan failed: ${child.stderr}`);
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as { findings: unknown[] };
    const maxRssMb = Math.round(Number(fs.readFileSync(rssFile, 'utf8')) / 1024);
    return { ms, findings: report.findings.length, maxRssMb };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Lines as `split('\n')` counts them, without keeping the pieces. */
function countLines(text: string): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

void main();
