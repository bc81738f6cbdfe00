import * as fs from 'node:fs';
import { discover } from '../server/src/engine/discovery';
import { scanWorkspace } from '../server/src/engine/index';
import { createPythonParser } from '../server/src/engine/parser';

/**
 * One measurement in a fresh process (so peak RSS is the tool's own):
 *   node --import tsx bench/measure.ts <lens|ruff|parse> <dir>
 * Prints one JSON line: { tool, files, lines, ms, maxRssMb, findings }.
 */

async function main(): Promise<void> {
  const [tool, dir] = process.argv.slice(2);
  const found = discover([dir], { exclude: [], cwd: dir });
  const sources = found.files.map((f) => fs.readFileSync(f.abs, 'utf8'));
  const lines = sources.reduce((n, s) => n + s.split('\n').length, 0);
  let findings = 0;
  let ms: number;
  if (tool === 'lens') {
    const t0 = performance.now();
    const result = await scanWorkspace({ roots: [dir], cwd: dir });
    ms = performance.now() - t0;
    findings = result.findings.length;
  } else if (tool === 'parse') {
    const parser = await createPythonParser();
    const t0 = performance.now();
    for (const s of sources) parser.parse(s)?.delete();
    ms = performance.now() - t0;
  } else if (tool === 'ruff') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ruff = require('@astral-sh/ruff-wasm-nodejs') as {
      Workspace: new (options: unknown, encoding: number) => { check(source: string): unknown[] };
      PositionEncoding: { Utf16: number };
    };
    const t0 = performance.now();
    // Ruff reads the files too: include the reads in its time as in ours.
    const ws = new ruff.Workspace({ lint: { select: ['S', 'FAST'] } }, ruff.PositionEncoding.Utf16);
    for (const f of found.files) findings += ws.check(fs.readFileSync(f.abs, 'utf8')).length;
    ms = performance.now() - t0;
  } else throw new Error(`unknown tool ${tool}`);
  const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  process.stdout.write(
    `${JSON.stringify({ tool, files: found.files.length, lines, ms: Math.round(ms), maxRssMb, findings })}\n`,
  );
}

void main();
