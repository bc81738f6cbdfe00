import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ruleDocsUrl } from '../cli/ruleInfo';

/**
 * Where a rule's documentation is: `docs/rules/CODE.md` shipped in the extension folder when it
 * exists (a file:// URI), else the page in the repository.
 */

let docsDir: string | null | undefined;

/** docs/rules of the installed package: next to dist/ when bundled, the repo from sources. */
function findDocsDir(): string | null {
  if (docsDir !== undefined) return docsDir;
  docsDir = null;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'docs', 'rules');
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(candidate)) {
      docsDir = candidate;
      break;
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return docsDir;
}

/** Links by rule code: every diagnostic carries one, and a file system check per diagnostic
 * cost about 1 ms per 170 diagnostics made (the shipped docs do not change while running). */
const hrefs = new Map<string, string>();

export function ruleDocHref(code: string): string {
  let href = hrefs.get(code);
  if (href === undefined) {
    href = findRuleDocHref(code);
    hrefs.set(code, href);
  }
  return href;
}

function findRuleDocHref(code: string): string {
  const dir = findDocsDir();
  if (dir && /^[A-Z]+[0-9]+$/.test(code)) {
    const file = path.join(dir, `${code}.md`);
    if (fs.existsSync(file)) return pathToFileURL(file).href;
  }
  return ruleDocsUrl(code);
}
