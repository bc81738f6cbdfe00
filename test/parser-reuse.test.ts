import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { Edit, type Node, type Parser, type Tree } from 'web-tree-sitter';
import { bigRouteModule } from '../bench/lsp-latency';
import { pointAt } from '../server/src/engine/incremental/fileState';
import { createPythonParser, parseSource, parserRuntimeFix } from '../server/src/engine/parser';
import { fixReuseAfterZeroWidthTokens } from '../server/src/engine/reuseFix';

/**
 * The runtime fix for incremental re-parsing (server/src/engine/reuseFix.ts): it applies to the
 * web-tree-sitter this project installs, a line added at a block's start or between top-level
 * statements no longer makes tree-sitter lex the rest of the file again, and incremental trees
 * stay exactly the trees a fresh parse gives, over thousands of random edits.
 */

const ROOT = path.resolve(__dirname, '..');
let parser: Parser;

before(async () => {
  parser = await createPythonParser();
});

/** Apply an insertion or deletion to `tree` (as the engine does) and re-parse. */
function reparse(tree: Tree, text: string, at: number, removed: number, inserted: string) {
  const next = text.slice(0, at) + inserted + text.slice(at + removed);
  tree.edit(
    new Edit({
      startIndex: at,
      oldEndIndex: at + removed,
      newEndIndex: at + inserted.length,
      startPosition: pointAt(text, at),
      oldEndPosition: pointAt(text, at + removed),
      newEndPosition: pointAt(next, at + inserted.length),
    }),
  );
  const after = parseSource(parser, next, tree);
  tree.delete();
  return { next, tree: after };
}

/** Tokens the parser lexed during one incremental re-parse (from its log). */
function lexedTokens(text: string, at: number, inserted: string): number {
  const tree = parseSource(parser, text);
  let lexed = 0;
  parser.setLogger((message: string) => {
    if (message.startsWith('lexed_lookahead')) lexed++;
  });
  try {
    reparse(tree, text, at, 0, inserted).tree.delete();
  } finally {
    parser.setLogger(null);
  }
  return lexed;
}

/** Every node as type and span, in document order. */
function shape(root: Node): string[] {
  const out: string[] = [];
  const cursor = root.walk();
  for (let more = true; more;) {
    const n = cursor.currentNode;
    out.push(`${n.type}${n.isMissing ? '!' : ''} ${n.startIndex}-${n.endIndex}`);
    if (cursor.gotoFirstChild()) continue;
    while (more && !cursor.gotoNextSibling()) if (!cursor.gotoParent()) more = false;
  }
  cursor.delete();
  return out;
}

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('parser runtime: incremental re-parsing after block boundaries', () => {
  it('the fix applies to the installed web-tree-sitter', () => {
    const fix = parserRuntimeFix();
    assert.ok(fix, 'the runtime was loaded');
    assert.equal(
      fix.reason,
      null,
      'web-tree-sitter changed: check server/src/engine/reuseFix.ts against the new runtime',
    );
    assert.equal(fix.patched, true);
  });

  it('an unknown runtime is left as it is', () => {
    const file = require.resolve('web-tree-sitter/web-tree-sitter.wasm');
    const runtime = new Uint8Array(fs.readFileSync(file));
    const message = Buffer.from('reusable_node_has_different_external_scanner_state');
    const at = Buffer.from(runtime).indexOf(message);
    assert.ok(at > 0);
    const other = new Uint8Array(runtime);
    other[at] = 'X'.charCodeAt(0);
    const result = fixReuseAfterZeroWidthTokens(other);
    assert.equal(result.patched, false);
    assert.match(result.reason ?? '', /not found/);
    assert.equal(result.bytes, other);
    assert.equal(fixReuseAfterZeroWidthTokens(runtime).patched, true);
  });

  it('a line added at a block start or between top-level statements re-lexes only around it', () => {
    const text = bigRouteModule(2000);
    const def = text.indexOf('def read_item_', text.length >> 2);
    const bodyStart = text.indexOf('\n', def) + 1;
    const between = text.lastIndexOf('\n\n', def) + 1;
    const insideBody = text.indexOf('\n', bodyStart) + 1;
    // The baseline: an edit in the middle of a body, which tree-sitter always handled well
    // (about 700 tokens: the first token of each statement above the edit, for reuse checks).
    const baseline = lexedTokens(text, insideBody, '    y = 2\n');
    assert.ok(baseline < 1500, `inside a body: ${baseline} tokens`);
    for (const [what, at, inserted] of [
      ['a line at the start of a body', bodyStart + 4, '\n    '],
      ['a blank line between top-level statements', between, '\n'],
      ['a comment line between top-level statements', between, '# note\n'],
    ] as const) {
      const lexed = lexedTokens(text, at, inserted);
      // Without the fix: about 14,500 tokens here (the rest of the module, lexed again).
      assert.ok(lexed <= baseline + 50, `${what}: ${lexed} tokens (inside a body: ${baseline})`);
    }
  });

  it('incremental trees equal fresh parses after random edits', () => {
    const files = [
      path.join(ROOT, 'examples', 'shop-api', 'app', 'api', 'routes', 'items.py'),
      path.join(ROOT, 'examples', 'shop-api', 'app', 'api', 'routes', 'users.py'),
      path.join(ROOT, 'examples', 'shop-api', 'app', 'core', 'security.py'),
    ];
    const snippets = [
      '\n',
      '    \n',
      '# note\n',
      'x = 1\n',
      '    pass\n',
      '        return None\n',
      'def f(a):\n    return a\n',
      'if x:\n',
      '"',
      "'''",
      '(',
      ')',
      ':',
      'q',
      '\\\n',
      '\t',
    ];
    let edits = 0;
    for (const [i, file] of files.entries()) {
      const next = random(1000 + i);
      let text = fs.readFileSync(file, 'utf8');
      let tree = parseSource(parser, text);
      for (let k = 0; k < 250; k++) {
        // At a line start half of the time (block boundaries), anywhere otherwise.
        const lineStarts = [0];
        for (let p = text.indexOf('\n'); p >= 0; p = text.indexOf('\n', p + 1))
          lineStarts.push(p + 1);
        const at =
          next() < 0.5
            ? lineStarts[Math.floor(next() * lineStarts.length)]
            : Math.floor(next() * (text.length + 1));
        let removed = 0;
        let inserted = '';
        if (next() < 0.3) {
          // Delete up to the end of the line (or a few characters).
          const eol = text.indexOf('\n', at);
          removed = Math.min(
            text.length - at,
            next() < 0.5 && eol >= 0 ? eol - at + 1 : Math.floor(next() * 4),
          );
        } else inserted = snippets[Math.floor(next() * snippets.length)];
        const r = reparse(tree, text, at, removed, inserted);
        text = r.next;
        tree = r.tree;
        const fresh = parseSource(parser, text);
        try {
          assert.deepEqual(
            shape(tree.rootNode),
            shape(fresh.rootNode),
            `${path.basename(file)} edit ${k}: ${JSON.stringify({ at, removed, inserted })}`,
          );
        } finally {
          fresh.delete();
        }
        edits++;
      }
      tree.delete();
    }
    assert.equal(edits, 750);
  });
});
