import { CodeCatalog, ProjectConfigResolver, type ConfigDiagnostic } from '../engine/config';
import type { Severity } from '../engine/findings';
import type { ConfigResolver, EffectiveConfig } from '../engine/scan';
import { DEFAULT_SETTINGS, type LensSettings } from '../protocol';

/**
 * Settings: `fastapiLens.*` read per workspace folder through `workspace/configuration` (never
 * cached in globals: each folder keeps the last answer it got), merged over the folder's
 * `[tool.fastapi-lens]` configuration from pyproject.toml. Editor settings win where they are
 * set: a non-empty `rules.select` replaces the project's, `rules.ignore` and severities add to
 * and override it, `authDependencies`, `publicRoutes` and `exclude` add to it.
 */

function strings(v: unknown, fallback: string[]): string[] {
  return Array.isArray(v)
    ? v.filter((x): x is string => typeof x === 'string' && x !== '')
    : fallback;
}

function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

const SEVERITIES = new Set(['error', 'warning', 'info']);

/** Defensive normalisation of whatever the client sent (null, partial, wrong types). */
export function normalizeSettings(raw: unknown): LensSettings {
  const r = obj(raw);
  const d = DEFAULT_SETTINGS;
  const rules = obj(r.rules);
  const severity: Record<string, 'error' | 'warning' | 'info'> = {};
  for (const [code, level] of Object.entries(obj(r.severity)))
    if (typeof level === 'string' && SEVERITIES.has(level))
      severity[code.toUpperCase()] = level as Severity;
  const scope = obj(r.diagnostics).scope;
  const trace = obj(r.trace).server;
  const codeLens = obj(r.codeLens).enable;
  return {
    enable: typeof r.enable === 'boolean' ? r.enable : d.enable,
    authDependencies: strings(r.authDependencies, d.authDependencies),
    publicRoutes: strings(r.publicRoutes, d.publicRoutes),
    rules: {
      select: strings(rules.select, d.rules.select).map((c) => c.toUpperCase()),
      ignore: strings(rules.ignore, d.rules.ignore).map((c) => c.toUpperCase()),
    },
    severity,
    codeLens: { enable: typeof codeLens === 'boolean' ? codeLens : d.codeLens.enable },
    diagnostics: {
      scope: scope === 'openFiles' || scope === 'workspace' ? scope : d.diagnostics.scope,
    },
    exclude: strings(r.exclude, d.exclude),
    trace: {
      server: trace === 'off' || trace === 'messages' || trace === 'verbose' ? trace : 'off',
    },
  };
}

export interface FolderConfig {
  resolver: ConfigResolver;
  /** Discovery excludes and auth dependencies (pyproject plus settings). */
  exclude: string[];
  authDependencies: string[];
  /** Problems in pyproject.toml files, for diagnostics on them. */
  diagnostics: ConfigDiagnostic[];
}

/** The project's config with the editor settings merged over it. */
export function folderConfig(folder: string, settings: LensSettings): FolderConfig {
  const catalog = new CodeCatalog();
  const project = new ProjectConfigResolver({
    cwd: folder,
    roots: [folder],
    catalog,
    overrides: {
      exclude: settings.exclude.length ? settings.exclude : undefined,
      authDependencies: settings.authDependencies.length ? settings.authDependencies : undefined,
    },
  });
  let ws: { exclude: string[]; authDependencies: string[] };
  try {
    ws = project.workspaceOptions();
  } catch {
    ws = { exclude: settings.exclude, authDependencies: settings.authDependencies };
  }
  // Settings severities: exact codes win over prefixes, longer prefixes over shorter ones.
  const severity: Record<string, Severity> = {};
  const keys = Object.keys(settings.severity).sort((a, b) => a.length - b.length);
  for (const code of catalog.codes)
    for (const k of keys)
      if (k === 'ALL' || code.startsWith(k)) severity[code] = settings.severity[k];
  const merged = new Map<EffectiveConfig, EffectiveConfig>();
  const resolver: ConfigResolver = {
    forFile(abs: string): EffectiveConfig {
      const base = project.forFile(abs);
      let m = merged.get(base);
      if (!m) {
        m = {
          ...base,
          select: settings.rules.select.length ? settings.rules.select : base.select,
          ignore: [...base.ignore, ...settings.rules.ignore],
          severity: { ...base.severity, ...severity },
          publicRoutes: [...base.publicRoutes, ...settings.publicRoutes],
          authDependencies: [...new Set([...base.authDependencies, ...settings.authDependencies])],
        };
        merged.set(base, m);
      }
      return m;
    },
  };
  return {
    resolver,
    exclude: ws.exclude,
    authDependencies: ws.authDependencies,
    diagnostics: project.diagnostics,
  };
}
