import * as fs from 'node:fs';
import * as path from 'node:path';
import { Language, Parser, type Tree } from 'web-tree-sitter';

/**
 * Loads web-tree-sitter and the Python grammar once per process. The WASM files sit beside the
 * bundle in dist/; when running from sources (tests, tsx) they are found in node_modules.
 */
let loading: Promise<Language> | null = null;

function locateWasm(fileName: string, packageName: string): string {
  const besideBundle = path.join(__dirname, fileName);
  if (fs.existsSync(besideBundle)) return besideBundle;
  // Both packages export their .wasm file; resolve it through the package's exports map.
  return require.resolve(`${packageName}/${fileName}`);
}

export function loadPython(): Promise<Language> {
  if (!loading) {
    loading = (async () => {
      await Parser.init({
        locateFile: (name: string) => locateWasm(name, 'web-tree-sitter'),
      });
      return Language.load(locateWasm('tree-sitter-python.wasm', 'tree-sitter-python'));
    })();
  }
  return loading;
}

/** A parser bound to Python. Create one per thread; parsers are not re-entrant. */
export async function createPythonParser(): Promise<Parser> {
  const language = await loadPython();
  const parser = new Parser();
  parser.setLanguage(language);
  return parser;
}

export function parseSource(parser: Parser, source: string, oldTree?: Tree | null): Tree {
  const tree = parser.parse(source, oldTree ?? null);
  if (!tree) throw new Error('tree-sitter returned no tree');
  return tree;
}
