// Runs the test suite: every test/**/*.test.ts (test/fixtures excluded), sorted, through tsx and
// node's built-in runner. Node 20's `node --test` does not expand globs, hence this script.
//
// Usage: node scripts/test.mjs [node test flags...] [filters...]
//   A filter is a test file path, or a substring of the path relative to test/
//   (`node scripts/test.mjs cli` runs every test file whose path contains "cli").
//   Flags starting with "-" go to node, e.g. --test-name-pattern=routes or --test-only.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const testDir = path.join(root, 'test');
const skipDirs = new Set(['test/fixtures']);
// Node flags that take their value as the next argument when written without "=".
const flagsWithValue = new Set([
  '--test-name-pattern',
  '--test-skip-pattern',
  '--test-reporter',
  '--test-reporter-destination',
  '--test-concurrency',
  '--test-timeout',
]);

/** @returns {string[]} POSIX paths relative to the repository root */
function findTests(dir, rel) {
  if (!existsSync(dir)) return [];
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const childRel = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      if (skipDirs.has(childRel) || entry.name === 'node_modules') continue;
      found.push(...findTests(path.join(dir, entry.name), childRel));
    } else if (entry.isFile() && entry.name.endsWith('.test.ts')) {
      found.push(childRel);
    }
  }
  return found;
}

const flags = [];
const filters = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i];
  if (arg.startsWith('-')) {
    flags.push(arg);
    if (flagsWithValue.has(arg) && i + 1 < argv.length) flags.push(argv[++i]);
  } else {
    filters.push(arg);
  }
}

const all = findTests(testDir, 'test').sort();
let files = all;
if (filters.length > 0) {
  const chosen = new Set();
  for (const filter of filters) {
    const asPath = path.resolve(filter);
    if (existsSync(asPath) && statSync(asPath).isFile()) {
      chosen.add(path.relative(root, asPath).split(path.sep).join('/'));
      continue;
    }
    const needle = filter.split(path.sep).join('/');
    const matches = all.filter((f) => f.includes(needle));
    if (matches.length === 0) {
      console.error(`test: no test file matches "${filter}"`);
      process.exit(1);
    }
    for (const m of matches) chosen.add(m);
  }
  files = [...chosen].sort();
}

if (files.length === 0) {
  console.error('test: no test files found (test/**/*.test.ts)');
  process.exit(1);
}

const args = ['--import', 'tsx', '--test', '--test-concurrency=2', ...flags, ...files];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
  if (signal) {
    console.error(`test: node --test was killed by ${signal}`);
    process.exit(1);
  }
  process.exit(code ?? 1);
});
