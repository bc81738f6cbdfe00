// Bundles the CLI, the language server, the engine worker and the VS Code client into dist/
// (CommonJS, node18) and copies the tree-sitter WASM files next to them.
// Usage: node scripts/build.mjs [--minify]
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const require = createRequire(path.join(root, 'package.json'));
const minify = process.argv.includes('--minify');

/** dist name -> source; entries whose source does not exist yet are skipped. */
const entries = [
  { out: 'cli', src: 'server/src/cli/main.ts' },
  { out: 'server', src: 'server/src/lsp/server.ts' },
  { out: 'worker', src: 'server/src/engine/worker.ts' },
  { out: 'client', src: 'client/src/extension.ts' },
  // Integration tests run inside VS Code's extension host (test/vscode.test.ts); not packaged.
  { out: 'test/suite', src: 'test/vscode/suite.ts' },
];

const wasm = [
  require.resolve('web-tree-sitter/web-tree-sitter.wasm'),
  path.join(
    path.dirname(require.resolve('tree-sitter-python/package.json')),
    'tree-sitter-python.wasm',
  ),
];

const started = performance.now();
const present = [];
for (const entry of entries) {
  if (existsSync(path.join(root, entry.src))) present.push(entry);
  else console.log(`build: skipping dist/${entry.out}.js (${entry.src} does not exist yet)`);
}

mkdirSync(dist, { recursive: true });
if (present.length > 0) {
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: present.map((e) => ({ in: e.src, out: e.out })),
    outdir: dist,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    sourcemap: true,
    minify,
    external: ['vscode'],
    // The ESM build of web-tree-sitter relies on import.meta.url, which is empty in a CJS bundle.
    alias: { 'web-tree-sitter': require.resolve('web-tree-sitter') },
    logLevel: 'warning',
  });
}
for (const file of wasm) copyFileSync(file, path.join(dist, path.basename(file)));
// The library again, unbundled: after a WebAssembly trap the engine loads a new copy of it to
// parse in a fresh instance (server/src/engine/parser.ts).
copyFileSync(require.resolve('web-tree-sitter'), path.join(dist, 'web-tree-sitter.cjs'));

const kb = (file) => `${Math.round(statSync(path.join(dist, file)).size / 1024)} KB`;
const outputs = [
  ...present.map((e) => `${e.out}.js`),
  ...wasm.map((f) => path.basename(f)),
  'web-tree-sitter.cjs',
];
const ms = Math.round(performance.now() - started);
console.log(`build: ${outputs.map((f) => `dist/${f} (${kb(f)})`).join(', ')} in ${ms} ms`);
