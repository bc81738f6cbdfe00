import * as fs from 'node:fs';
import * as path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import type { EngineDiagnostic } from './types';

/**
 * Workspace discovery: every `.py` file under the roots, honouring `.gitignore` files and
 * skipping environments and build output. Never throws: problems become diagnostics.
 */

export interface DiscoveryOptions {
  /** Extra gitignore-style patterns, relative to each root. */
  exclude: string[];
  /** Report `rel` paths relative to this folder. */
  cwd: string;
}

export interface DiscoveredFile {
  abs: string;
  /** POSIX path relative to cwd. */
  rel: string;
  /** The root it was found under. */
  root: string;
  /** Test code (see isTestFile): decided here, once, from the path below the root. */
  test: boolean;
  /** Documentation examples (see isDocsFile), decided the same way. */
  docs: boolean;
}

export interface DiscoveryResult {
  files: DiscoveredFile[];
  /** Folders that hold `__init__.py`. */
  packages: Set<string>;
  /** Folders that look like a project / source root (pyproject.toml, setup.py, `src`). */
  sourceRoots: Set<string>;
  diagnostics: EngineDiagnostic[];
}

const SKIP_DIRS = new Set([
  '.git',
  '.hg',
  '.svn',
  'node_modules',
  '__pycache__',
  '.venv',
  'venv',
  '.env',
  'site-packages',
  'dist-packages',
  '.tox',
  '.nox',
  'build',
  'dist',
  '.mypy_cache',
  '.pytest_cache',
  '.ruff_cache',
  '.eggs',
  '.cache',
  '.idea',
  '.vscode',
]);

const PROJECT_MARKERS = ['pyproject.toml', 'setup.py', 'setup.cfg'];

export function toPosix(p: string): string {
  return path.sep === '/' ? p : p.split(path.sep).join('/');
}

const SEP_CODE = path.sep.charCodeAt(0);
const DOT_CODE = '.'.charCodeAt(0);
const SEP_DOT = `${path.sep}.`;
const SEP_SEP = path.sep + path.sep;

/**
 * `path.relative(base, abs)` in POSIX form, by slicing when `abs` is below `base` as written
 * (the walk's paths are joined from the root's): discovery asks this for every entry and every
 * `.gitignore` above it, and `path.relative` resolves both paths each time.
 */
export function relativeTo(base: string, abs: string): string {
  if (
    base.length > 0 &&
    abs.length > base.length + 1 &&
    abs.charCodeAt(base.length) === SEP_CODE &&
    base.charCodeAt(base.length - 1) !== SEP_CODE &&
    abs.startsWith(base)
  ) {
    const tail = abs.slice(base.length + 1);
    // Only a normalized tail: no `.` or `..` segment (nor a hidden name: rare), no empty one.
    if (
      tail.charCodeAt(0) !== DOT_CODE &&
      tail.charCodeAt(0) !== SEP_CODE &&
      tail.charCodeAt(tail.length - 1) !== SEP_CODE &&
      !tail.includes(SEP_DOT) &&
      !tail.includes(SEP_SEP)
    )
      return toPosix(tail);
  }
  return toPosix(path.relative(base, abs));
}

export function relPath(cwd: string, abs: string): string {
  const rel = relativeTo(cwd, abs);
  return rel === '' ? '.' : rel;
}

export function discover(roots: string[], options: DiscoveryOptions): DiscoveryResult {
  const result: DiscoveryResult = {
    files: [],
    packages: new Set(),
    sourceRoots: new Set(),
    diagnostics: [],
  };
  const seenDirs = new Set<string>();
  const seenFiles = new Set<string>();

  for (const rootArg of roots) {
    const root = path.resolve(options.cwd, rootArg);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(root);
    } catch (err) {
      result.diagnostics.push({
        file: relPath(options.cwd, root),
        message: `cannot read: ${errText(err)}`,
      });
      continue;
    }
    if (stat.isFile()) {
      if (root.endsWith('.py') && !seenFiles.has(root)) {
        seenFiles.add(root);
        result.files.push({
          abs: root,
          rel: relPath(options.cwd, root),
          root: path.dirname(root),
          ...fileRole(path.basename(root)),
        });
        const dir = path.dirname(root);
        if (fs.existsSync(path.join(dir, '__init__.py'))) result.packages.add(dir);
      }
      continue;
    }
    result.sourceRoots.add(root);
    const userIgnore = ignore().add(options.exclude);
    walk(root, root, [], userIgnore);
  }

  function walk(
    root: string,
    dir: string,
    ignores: { base: string; ig: Ignore }[],
    userIgnore: Ignore,
  ): void {
    let real: string;
    try {
      real = fs.realpathSync(dir);
    } catch (err) {
      result.diagnostics.push({
        file: relPath(options.cwd, dir),
        message: `cannot resolve folder: ${errText(err)}`,
      });
      return;
    }
    // Symlink loops and folders reached twice are read once.
    if (seenDirs.has(real)) return;
    seenDirs.add(real);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      result.diagnostics.push({
        file: relPath(options.cwd, dir),
        message: `folder skipped: ${errText(err)}`,
      });
      return;
    }
    const names = new Set(entries.map((e) => e.name));
    if (names.has('pyvenv.cfg')) return; // a virtual environment
    let scoped = ignores;
    if (names.has('.gitignore')) {
      try {
        const ig = ignore().add(fs.readFileSync(path.join(dir, '.gitignore'), 'utf8'));
        scoped = [...ignores, { base: dir, ig }];
      } catch (err) {
        result.diagnostics.push({
          file: relPath(options.cwd, path.join(dir, '.gitignore')),
          message: `ignored unreadable .gitignore: ${errText(err)}`,
        });
      }
    }
    if (names.has('__init__.py')) result.packages.add(dir);
    if (PROJECT_MARKERS.some((m) => names.has(m)) || path.basename(dir) === 'src')
      result.sourceRoots.add(dir);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const abs = path.join(dir, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      const isPy = entry.name.endsWith('.py');
      let problem: string | null = null;
      if (entry.name.includes('\uFFFD') && !fs.existsSync(abs)) {
        // A name that is not valid UTF-8 was decoded with replacement characters: that path
        // does not exist, so the file or folder cannot be opened by its name.
        problem = 'skipped: its name is not valid UTF-8';
      } else if (entry.isSymbolicLink()) {
        try {
          const st = fs.statSync(abs);
          isDir = st.isDirectory();
          isFile = st.isFile();
          const target = isDir ? fs.realpathSync(abs) : '';
          if (isDir && (target === real || real.startsWith(target + path.sep)))
            problem = `skipped: symbolic link loop (it leads back to ${relPath(options.cwd, target)})`;
        } catch (err) {
          const loop = errText(err) === 'symbolic link loop';
          if (!loop && !isPy) continue; // a dangling link to something that is not Python
          problem = loop ? 'skipped: symbolic link loop' : 'skipped: broken symbolic link';
        }
      }
      if (isDir && (SKIP_DIRS.has(entry.name) || entry.name.endsWith('.egg-info'))) continue;
      if (isIgnored(abs, isDir, scoped, root, userIgnore)) continue;
      if (problem) {
        if (isDir || isPy || entry.isSymbolicLink())
          result.diagnostics.push({ file: relPath(options.cwd, abs), message: problem });
        continue;
      }
      if (isDir) walk(root, abs, scoped, userIgnore);
      else if (isFile && isPy) {
        if (seenFiles.has(abs)) continue;
        seenFiles.add(abs);
        result.files.push({
          abs,
          rel: relPath(options.cwd, abs),
          root,
          ...fileRole(relativeTo(root, abs)),
        });
      } else if (isPy)
        // A FIFO, socket or device named `.py` (or a link to one): never opened, reading could block.
        result.diagnostics.push({
          file: relPath(options.cwd, abs),
          message: 'skipped: not a regular file',
        });
    }
  }

  return result;
}

function isIgnored(
  abs: string,
  isDir: boolean,
  ignores: { base: string; ig: Ignore }[],
  root: string,
  userIgnore: Ignore,
): boolean {
  const suffix = isDir ? '/' : '';
  const fromRoot = relativeTo(root, abs);
  if (fromRoot && !fromRoot.startsWith('..') && userIgnore.ignores(fromRoot + suffix)) return true;
  for (const { base, ig } of ignores) {
    const rel = relativeTo(base, abs);
    if (!rel || rel.startsWith('..')) continue;
    if (ig.ignores(rel + suffix)) return true;
  }
  return false;
}

export function errText(err: unknown): string {
  if (
    err &&
    typeof err === 'object' &&
    'code' in err &&
    typeof (err as { code: unknown }).code === 'string'
  ) {
    const e = err as { code: string; message?: string };
    if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied';
    if (e.code === 'ENOENT') return 'no such file or folder';
    if (e.code === 'ELOOP') return 'symbolic link loop';
    if (e.code === 'ENAMETOOLONG') return 'path too long';
    if (e.code === 'ENOTDIR') return 'not a folder';
    if (e.code === 'EISDIR') return 'is a folder';
    return e.code;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Canonical dotted module name: up through package folders (`__init__.py`), then on up
 * through plain folders (namespace packages) until a source root.
 */
export function moduleNameFor(
  abs: string,
  packages: Set<string>,
  sourceRoots: Set<string>,
): { module: string; isPackage: boolean } {
  const base = path.basename(abs, '.py');
  const isPackage = base === '__init__';
  const parts: string[] = isPackage ? [] : [base];
  let dir = path.dirname(abs);
  let guard = 0;
  while (guard++ < 4096) {
    if (sourceRoots.has(dir)) break;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    if (!packages.has(dir) && ![...sourceRoots].some((r) => dir.startsWith(r + path.sep))) break;
    parts.unshift(path.basename(dir));
    dir = parent;
  }
  if (isPackage && parts.length === 0) parts.push(path.basename(path.dirname(abs)));
  return { module: parts.join('.'), isPackage };
}

/**
 * Test code, from a file's path below the root it was found under (POSIX separators): a
 * `test`, `tests` or `testing` folder on the way, or a test module's name (`test_*.py`,
 * `*_test.py`, `conftest.py`). Folders above the root belong to wherever the checkout lives
 * (`/home/me/tests/project`), so they never count. Rules skip such files where tests are
 * scaffolding (overrides, placeholder secrets, apps built for tests), and taint summaries are
 * not computed for them (tests are never served).
 */
export function isTestFile(pathBelowRoot: string): boolean {
  return (
    /(^|\/)(tests?|testing)\//.test(pathBelowRoot) ||
    /(^|\/)(test_[^/]*|[^/]*_test|conftest)\.py$/.test(pathBelowRoot)
  );
}

/** Documentation examples: a `doc` or `docs` folder below the root (SECRET001 skips them). */
export function isDocsFile(pathBelowRoot: string): boolean {
  return /(^|\/)docs?\//.test(pathBelowRoot);
}

/** What a file is, from its path below the root it was found under. */
export interface FileRole {
  test: boolean;
  docs: boolean;
}

export const CODE_FILE: FileRole = { test: false, docs: false };

export function fileRole(pathBelowRoot: string): FileRole {
  return { test: isTestFile(pathBelowRoot), docs: isDocsFile(pathBelowRoot) };
}

/**
 * `fileRole` for a file known by its absolute path: below the deepest of `roots` that holds it
 * (files opened outside every root: by their name alone).
 */
export function fileRoleUnder(abs: string, roots: string[]): FileRole {
  let best: string | null = null;
  for (const r of roots) {
    const rel = path.relative(r, abs);
    if (rel.startsWith('..') || path.isAbsolute(rel)) continue;
    if (best === null || r.length > best.length) best = r;
  }
  const below = best === null ? '' : relativeTo(best, abs);
  // A root that is the file itself: its name alone.
  return fileRole(below === '' ? path.basename(abs) : below);
}
