import * as fs from 'node:fs';
import * as path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { parse as parseToml, TomlError } from 'smol-toml';
import { discover, errText, relativeTo, relPath, toPosix } from './discovery';
import type { Severity } from './findings';
import { DEFAULT_CONFIG, rulesByCode, type ConfigResolver, type EffectiveConfig } from './scan';

/**
 * Configuration: the `[tool.fastapi-lens]` table of `pyproject.toml`.
 *
 * Which file applies: for each analysed file, the nearest `pyproject.toml` that has a
 * `[tool.fastapi-lens]` table, walking up from the file's folder to the analysed root (the PATH
 * argument that contains it); when there is none, the one in the current folder (the CLI's cwd).
 * A `pyproject.toml` without the table is skipped, like Ruff does. The nearest file wins as a
 * whole: settings are not merged across files. `--config FILE` replaces the search: that file
 * applies everywhere (its `[tool.fastapi-lens]` table, or, for a file not named
 * `pyproject.toml`, its top level when it has no such table).
 *
 * Keys (kebab-case):
 * - `auth-dependencies`: list of dependency names (`get_current_user`) or `module:func` that
 *   count as authentication.
 * - `public-routes`: list of route path globs that are public on purpose; `*` matches any
 *   characters except `/` (one path segment or part of it), `**` matches anything including
 *   `/`, `?` one character except `/`. `/health*` matches `/health` and `/healthz`, `/login/*`
 *   matches `/login/token` but not `/login/a/b`, `/public/**` everything under `/public/`.
 * - `select`, `ignore`: lists of rule codes or code prefixes (`AUTH`, `AUTH00`, `ALL`). With
 *   `select`, only matching rules run; `ignore` always wins over `select`.
 * - `severity`: table of rule code (or prefix) to `"error"`, `"warning"` or `"info"`. It sets the
 *   reported severity of every finding of that rule, whatever the route's exposure. An exact
 *   code wins over a prefix, a longer prefix over a shorter one.
 * - `exclude`: gitignore-style patterns, relative to the folder of the file that holds them;
 *   matching files and folders are not analysed (on top of `.gitignore`).
 * - `per-file-ignores`: table of gitignore-style pattern (relative to the config's folder) to a
 *   list of codes or prefixes ignored in matching files (`"tests/**" = ["AUTH"]`).
 *
 * Problems never stop the analysis: an unknown key is named with the closest valid key, a
 * value of the wrong type falls back to that key's default while the other keys still apply,
 * unknown rule codes are named (and kept: they match nothing), a bad severity drops that entry.
 * Invalid TOML is reported with its line and column and the file's settings are not used (all
 * defaults); it is `fatal`, which the CLI turns into exit code 2.
 */

export const CONFIG_TABLE = '[tool.fastapi-lens]';

const KEY_TYPES = {
  'auth-dependencies': 'a list of dependency names',
  'public-routes': 'a list of route path globs',
  select: 'a list of rule codes',
  ignore: 'a list of rule codes',
  severity: 'a table of rule code = "error" | "warning" | "info"',
  exclude: 'a list of gitignore-style globs',
  'per-file-ignores': 'a table of glob = list of rule codes',
} as const;

export type ConfigKey = keyof typeof KEY_TYPES;
export const CONFIG_KEYS = Object.keys(KEY_TYPES) as ConfigKey[];

const SEVERITIES: readonly Severity[] = ['error', 'warning', 'info'];

/** Settings read from one config file; an absent key means "use the default". */
export interface ProjectConfig {
  /** Absolute path of the file. */
  file: string;
  /** Folder that relative patterns (`exclude`, `per-file-ignores`) are relative to. */
  dir: string;
  authDependencies?: string[];
  publicRoutes?: string[];
  select?: string[];
  ignore?: string[];
  /** Code or prefix -> severity, as written (upper-cased). */
  severity?: Record<string, Severity>;
  exclude?: string[];
  perFileIgnores?: { pattern: string; codes: string[] }[];
}

export interface ConfigDiagnostic {
  /** Absolute path of the config file. */
  file: string;
  /** The key the message is about (`select`, `severity.AUTH001`), or null for the file. */
  key: string | null;
  message: string;
  level: 'error' | 'warning';
  /** Invalid TOML or an unreadable file: none of the file's settings are used. */
  fatal: boolean;
  line?: number;
  column?: number;
}

/** `pyproject.toml: [tool.fastapi-lens] select: expected ...` (the path relative to cwd). */
export function formatConfigDiagnostic(d: ConfigDiagnostic, cwd: string): string {
  const where = d.line
    ? `${relPath(cwd, d.file)}:${d.line}:${d.column ?? 1}`
    : relPath(cwd, d.file);
  return d.key === null
    ? `${where}: ${d.message}`
    : `${where}: ${CONFIG_TABLE} ${d.key}: ${d.message}`;
}

// ---------------------------------------------------------------------------------------------
// Parsing one file

function typeName(v: unknown): string {
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number' || typeof v === 'bigint') return 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return 'a date';
  return 'a table';
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

export function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** The candidate closest to `word`, if it is close enough to be a plausible typo. */
export function closest(word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDist = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const d = levenshtein(w, c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best !== null && bestDist <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

/** Registered rule codes, and the selectors (codes, prefixes, `ALL`) they accept. */
export class CodeCatalog {
  readonly codes: string[];
  private readonly groups: string[];

  constructor(codes: string[] = [...rulesByCode().keys()]) {
    this.codes = [...codes, 'LENS000'];
    this.groups = [...new Set(this.codes.map((c) => c.replace(/[0-9]+$/, '')))];
  }

  /** A code, a prefix of some code, or `ALL`. */
  isSelector(s: string): boolean {
    return s === 'ALL' || (s.length > 0 && this.codes.some((c) => c.startsWith(s)));
  }

  /** `unknown rule code XSS001 (did you mean XSS002?)`. */
  unknown(s: string): string {
    const hint = closest(s, [...this.codes, ...this.groups]);
    return `unknown rule code or prefix ${s}${hint ? ` (did you mean ${hint}?)` : ''}`;
  }
}

export interface ParseOptions {
  /** The file was named on the command line (`--config`). */
  explicit?: boolean;
  catalog?: CodeCatalog;
}

export interface LoadedConfig {
  /** Null when the file has no `[tool.fastapi-lens]` table (or could not be used at all). */
  config: ProjectConfig | null;
  diagnostics: ConfigDiagnostic[];
}

let defaultCatalog: CodeCatalog | null = null;
function catalogOf(options: ParseOptions): CodeCatalog {
  if (options.catalog) return options.catalog;
  if (!defaultCatalog) defaultCatalog = new CodeCatalog();
  return defaultCatalog;
}

/** Parse the text of a config file; never throws. */
export function parseConfigText(
  text: string,
  file: string,
  options: ParseOptions = {},
): LoadedConfig {
  const diagnostics: ConfigDiagnostic[] = [];
  const catalog = catalogOf(options);
  const diag = (key: string | null, message: string, level: 'error' | 'warning' = 'warning') =>
    diagnostics.push({ file, key, message, level, fatal: false });

  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    diagnostics.push({
      file,
      key: null,
      message: `${first.replace(/^Invalid TOML document: /, 'invalid TOML: ')}; using the default settings`,
      level: 'error',
      fatal: true,
      line: err instanceof TomlError ? err.line : undefined,
      column: err instanceof TomlError ? err.column : undefined,
    });
    return { config: null, diagnostics };
  }

  const tool = doc.tool;
  let table: unknown = isTable(tool) ? tool['fastapi-lens'] : undefined;
  if (table === undefined) {
    if (options.explicit && path.basename(file) !== 'pyproject.toml') table = doc;
    else {
      if (options.explicit) diag(null, `no ${CONFIG_TABLE} table; using the default settings`);
      return { config: null, diagnostics };
    }
  }
  if (!isTable(table)) {
    diag(
      null,
      `${CONFIG_TABLE} must be a table, got ${typeName(table)}; using the defaults`,
      'error',
    );
    return { config: null, diagnostics };
  }

  const config: ProjectConfig = { file, dir: path.dirname(file) };
  const fallback = (key: ConfigKey, v: unknown) =>
    diag(key, `expected ${KEY_TYPES[key]}, got ${typeName(v)}; using the default`, 'error');

  const stringList = (key: ConfigKey, v: unknown): string[] | undefined => {
    if (!Array.isArray(v)) return void fallback(key, v);
    const bad = v.find((x) => typeof x !== 'string');
    if (bad !== undefined) {
      diag(
        key,
        `expected ${KEY_TYPES[key]}, got a list containing ${typeName(bad)}; using the default`,
        'error',
      );
      return undefined;
    }
    return (v as string[]).map((s) => s.trim()).filter((s) => s !== '');
  };

  const codeList = (key: string, v: string[]): string[] => {
    const out: string[] = [];
    for (const raw of v) {
      const code = raw.toUpperCase();
      if (!catalog.isSelector(code)) diag(key, catalog.unknown(code));
      out.push(code);
    }
    return out;
  };

  for (const [key, value] of Object.entries(table)) {
    switch (key) {
      case 'auth-dependencies':
        config.authDependencies = stringList(key, value);
        break;
      case 'public-routes': {
        const globs = stringList(key, value);
        for (const g of globs ?? [])
          if (!g.startsWith('/') && !g.startsWith('*'))
            diag(key, `"${g}" does not start with "/" and cannot match a route path`);
        config.publicRoutes = globs;
        break;
      }
      case 'select':
      case 'ignore': {
        const list = stringList(key, value);
        if (list) config[key] = codeList(key, list);
        break;
      }
      case 'exclude':
        config.exclude = stringList(key, value);
        break;
      case 'severity': {
        if (!isTable(value)) {
          fallback(key, value);
          break;
        }
        const sev: Record<string, Severity> = {};
        for (const [rawCode, level] of Object.entries(value)) {
          const code = rawCode.toUpperCase();
          const sub = `severity.${rawCode}`;
          if (!catalog.isSelector(code)) {
            diag(sub, `${catalog.unknown(code)}; ignored`);
            continue;
          }
          if (typeof level !== 'string' || !SEVERITIES.includes(level as Severity)) {
            const got = typeof level === 'string' ? `"${level}"` : typeName(level);
            diag(
              sub,
              `expected "error", "warning" or "info", got ${got}; using the rule's default`,
              'error',
            );
            continue;
          }
          sev[code] = level as Severity;
        }
        config.severity = sev;
        break;
      }
      case 'per-file-ignores': {
        if (!isTable(value)) {
          fallback(key, value);
          break;
        }
        const entries: { pattern: string; codes: string[] }[] = [];
        for (const [pattern, codes] of Object.entries(value)) {
          const sub = `per-file-ignores."${pattern}"`;
          if (!Array.isArray(codes) || codes.some((c) => typeof c !== 'string')) {
            diag(sub, `expected a list of rule codes, got ${typeName(codes)}; ignored`, 'error');
            continue;
          }
          entries.push({ pattern, codes: codeList(sub, codes as string[]) });
        }
        config.perFileIgnores = entries;
        break;
      }
      default: {
        const hint = closest(key.replace(/_/g, '-'), CONFIG_KEYS);
        diag(
          key,
          hint
            ? `unknown key; did you mean \`${hint}\`? (ignored)`
            : `unknown key (ignored); valid keys: ${CONFIG_KEYS.join(', ')}`,
        );
      }
    }
  }
  return { config, diagnostics };
}

/** Read and parse a config file. A missing file gives `{ config: null }` without a message. */
export function loadConfigFile(file: string, options: ParseOptions = {}): LoadedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!options.explicit && (code === 'ENOENT' || code === 'ENOTDIR'))
      return { config: null, diagnostics: [] };
    return {
      config: null,
      diagnostics: [
        {
          file,
          key: null,
          message: `cannot read: ${errText(err)}`,
          level: 'error',
          fatal: true,
        },
      ],
    };
  }
  return parseConfigText(text, file, options);
}

// ---------------------------------------------------------------------------------------------
// Globs

/** One gitignore-style segment glob (`*`, `?`, `[...]`) as a RegExp. */
function segmentRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (ch === '\\' && i + 1 < glob.length) re += `\\${glob[++i]}`;
    else re += ch.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Rewrite a gitignore-style pattern written relative to folder `from` so that it means the same
 * relative to folder `to` (discovery matches `exclude` relative to each analysed root). Returns
 * null when the pattern cannot match anything under `to`, or would exclude `to` itself (a
 * folder named on the command line is analysed).
 */
export function rebasePattern(pattern: string, from: string, to: string): string | null {
  let p = pattern.trim();
  if (!p || p.startsWith('#')) return null;
  const neg = p.startsWith('!');
  if (neg) p = p.slice(1);
  const bang = neg ? '!' : '';
  if (path.resolve(from) === path.resolve(to)) return bang + p;
  const dirOnly = p.endsWith('/');
  const body = p.replace(/^\/+/, '').replace(/\/+$/, '');
  const anchored = p.replace(/\/+$/, '').includes('/');
  const tail = dirOnly ? '/' : '';
  const down = toPosix(path.relative(to, from)); // from is inside to: `sub/project`
  if (down && !down.startsWith('..') && !path.isAbsolute(down))
    return `${bang}${down}/${anchored ? '' : '**/'}${body}${tail}`;
  const up = toPosix(path.relative(from, to)); // to is inside from: `app`
  if (!up || up.startsWith('..') || path.isAbsolute(up)) return null;
  if (!anchored) return bang + p;
  const prefix = up.split('/');
  const segs = body.split('/');
  for (let i = 0; i < prefix.length; i++) {
    if (i >= segs.length) return null; // matches `to` or one of its parents
    if (segs[i] === '**') return `${bang}${segs.slice(i).join('/')}${tail}`;
    if (!segmentRegExp(segs[i]).test(prefix[i])) return null;
  }
  const rest = segs.slice(prefix.length);
  return rest.length ? `${bang}/${rest.join('/')}${tail}` : null;
}

// ---------------------------------------------------------------------------------------------
// Resolution

/** Settings given on the command line: they win over (select, ignore) or add to the files. */
export interface ConfigOverrides {
  select?: string[];
  ignore?: string[];
  /** Gitignore-style patterns relative to each analysed root (added to the config's). */
  exclude?: string[];
  authDependencies?: string[];
}

export interface ResolverOptions {
  cwd: string;
  /** The analysed PATHs (absolute, or relative to cwd). */
  roots: string[];
  /** `--config FILE`: used for every file instead of the nearest pyproject.toml. */
  configFile?: string;
  overrides?: ConfigOverrides;
  catalog?: CodeCatalog;
}

interface Compiled {
  base: EffectiveConfig;
  perFile: { ig: Ignore; codes: string[] }[];
}

export class ProjectConfigResolver implements ConfigResolver {
  readonly cwd: string;
  readonly diagnostics: ConfigDiagnostic[] = [];
  private readonly rootDirs: string[];
  /** The roots that are folders (file roots contribute their folder to rootDirs only). */
  private readonly folderRoots: string[] = [];
  private readonly overrides: ConfigOverrides;
  private readonly catalog: CodeCatalog;
  private readonly explicit: ProjectConfig | null | undefined;
  private readonly loaded = new Map<string, ProjectConfig | null>();
  private readonly nearestByDir = new Map<string, ProjectConfig | null>();
  private readonly compiled = new Map<ProjectConfig | null, Compiled>();
  private readonly perFileCache = new Map<string, EffectiveConfig>();

  constructor(options: ResolverOptions) {
    this.cwd = path.resolve(options.cwd);
    this.overrides = options.overrides ?? {};
    this.catalog = options.catalog ?? new CodeCatalog();
    const roots = options.roots.length ? options.roots : ['.'];
    this.rootDirs = roots.map((r) => {
      const abs = path.resolve(this.cwd, r);
      try {
        if (!fs.statSync(abs).isDirectory()) return path.dirname(abs);
      } catch {
        return abs;
      }
      this.folderRoots.push(abs);
      return abs;
    });
    if (options.configFile !== undefined) {
      const file = path.resolve(this.cwd, options.configFile);
      const { config, diagnostics } = loadConfigFile(file, {
        explicit: true,
        catalog: this.catalog,
      });
      this.diagnostics.push(...diagnostics);
      this.explicit = config;
      this.loaded.set(file, config);
    }
  }

  /** Invalid TOML or an unreadable file was met (CLI exit code 2). */
  get fatal(): boolean {
    return this.diagnostics.some((d) => d.fatal);
  }

  private load(file: string): ProjectConfig | null {
    if (this.loaded.has(file)) return this.loaded.get(file) ?? null;
    const { config, diagnostics } = loadConfigFile(file, { catalog: this.catalog });
    this.diagnostics.push(...diagnostics);
    // Unusable (invalid TOML) counts as present with default settings: it still shadows
    // files further up, so that fixing it does not change which file applies.
    const result =
      config ?? (diagnostics.some((d) => d.fatal) ? { file, dir: path.dirname(file) } : null);
    this.loaded.set(file, result);
    return result;
  }

  private withinRoots(dir: string): boolean {
    return this.rootDirs.some(
      (r) => dir === r || dir.startsWith(r.endsWith(path.sep) ? r : r + path.sep),
    );
  }

  /** The config file that applies in a folder (null: defaults). */
  configForDir(dir: string): ProjectConfig | null {
    if (this.explicit !== undefined) return this.explicit;
    const chain: string[] = [];
    let d = path.resolve(dir);
    let found: ProjectConfig | null | undefined;
    for (;;) {
      if (this.nearestByDir.has(d)) {
        found = this.nearestByDir.get(d) ?? null;
        break;
      }
      chain.push(d);
      const cfg = this.load(path.join(d, 'pyproject.toml'));
      if (cfg) {
        found = cfg;
        break;
      }
      const parent = path.dirname(d);
      if (parent === d || !this.withinRoots(parent)) break;
      d = parent;
    }
    if (found === undefined) found = this.load(path.join(this.cwd, 'pyproject.toml'));
    for (const c of chain) this.nearestByDir.set(c, found);
    return found;
  }

  configFor(abs: string): ProjectConfig | null {
    return this.configForDir(path.dirname(path.resolve(abs)));
  }

  private compile(cfg: ProjectConfig | null): Compiled {
    let c = this.compiled.get(cfg);
    if (c) return c;
    const o = this.overrides;
    const severity: Record<string, Severity> = {};
    const keys = Object.keys(cfg?.severity ?? {}).sort((a, b) => a.length - b.length);
    for (const code of this.catalog.codes)
      for (const k of keys)
        if (k === 'ALL' || code.startsWith(k)) severity[code] = cfg!.severity![k];
    c = {
      base: {
        ...DEFAULT_CONFIG,
        select: o.select ?? cfg?.select ?? null,
        ignore: o.ignore ?? cfg?.ignore ?? [],
        severity,
        fileIgnores: [],
        publicRoutes: cfg?.publicRoutes ?? [],
        authDependencies: [...(cfg?.authDependencies ?? []), ...(o.authDependencies ?? [])],
      },
      perFile: (cfg?.perFileIgnores ?? []).map((e) => ({
        ig: ignore().add(e.pattern),
        codes: e.codes,
      })),
    };
    this.compiled.set(cfg, c);
    return c;
  }

  forFile(abs: string): EffectiveConfig {
    const file = path.resolve(abs);
    const cfg = this.configFor(file);
    const c = this.compile(cfg);
    if (!cfg || c.perFile.length === 0) return c.base;
    const cached = this.perFileCache.get(file);
    if (cached) return cached;
    const rel = relativeTo(cfg.dir, file);
    const codes: string[] = [];
    if (rel && !rel.startsWith('..') && !path.isAbsolute(rel))
      for (const e of c.perFile) if (e.ig.ignores(rel)) codes.push(...e.codes);
    const result = codes.length ? { ...c.base, fileIgnores: codes } : c.base;
    this.perFileCache.set(file, result);
    return result;
  }

  /**
   * What discovery and the dependency analysis need before any file is parsed: `exclude`
   * patterns (the command line's, then each config's rebased onto the analysed roots) and the
   * union of `auth-dependencies`. Config files below the roots are found with one quick walk.
   */
  workspaceOptions(): { exclude: string[]; authDependencies: string[] } {
    const configs = new Set<ProjectConfig>();
    for (const r of this.rootDirs) {
      const cfg = this.configForDir(r);
      if (cfg) configs.add(cfg);
    }
    const cliExclude = this.overrides.exclude ?? [];
    const rebased = (list: Iterable<ProjectConfig>): string[] => {
      const out: string[] = [];
      for (const cfg of list)
        for (const pattern of cfg.exclude ?? [])
          for (const r of this.folderRoots) {
            const p = rebasePattern(pattern, cfg.dir, r);
            if (p !== null && !out.includes(p)) out.push(p);
          }
      return out;
    };
    if (this.explicit === undefined) {
      // Nested projects: pyproject.toml files inside the analysed folders.
      const found = discover(this.folderRoots, {
        exclude: [...cliExclude, ...rebased(configs)],
        cwd: this.cwd,
      });
      for (const dir of [...found.sourceRoots].sort()) {
        const cfg = this.configForDir(dir);
        if (cfg) configs.add(cfg);
      }
    }
    const authDependencies = new Set<string>(this.overrides.authDependencies ?? []);
    for (const cfg of configs) for (const a of cfg.authDependencies ?? []) authDependencies.add(a);
    return {
      exclude: [...cliExclude, ...rebased(configs)],
      authDependencies: [...authDependencies],
    };
  }
}
