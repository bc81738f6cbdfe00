import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { analyzeWorkspace, scanWorkspace, type Finding } from '../engine';
import {
  CodeCatalog,
  formatConfigDiagnostic,
  ProjectConfigResolver,
  type ConfigDiagnostic,
} from '../engine/config';
import { relPath } from '../engine/discovery';
import { rulesByCode } from '../engine/scan';
import { SEVERITY_ORDER, type Severity } from '../engine/findings';
import type { Route } from '../engine/types';
import { renderJson, type JsonDiagnostic } from './jsonFormat';
import { VERSION } from './ruleInfo';
import { renderRoutes, type RoutesFormat } from './routesFormat';
import { renderSarif } from './sarifFormat';
import { renderText, summarize } from './textFormat';

/**
 * `fastapi-lens` command line. Exit codes: 0 success, 1 findings at or above --fail-on (scan),
 * 2 usage or configuration errors (unknown option or command, missing PATH, bad value,
 * unreadable --config, invalid TOML in a config file). Other configuration problems (unknown
 * key, wrong type, unknown rule code) are printed to stderr and do not change the exit code.
 * With invalid TOML in a pyproject.toml the command still runs with that file's settings at
 * their defaults and prints its report, then exits 2; an unusable `--config FILE` stops before
 * analysing anything.
 */

export class UsageError extends Error {}

const HELP = `fastapi-lens ${VERSION}: security linter for FastAPI applications

Usage:
  fastapi-lens scan [PATH...] [--format text|json|sarif] [--output FILE]
                    [--fail-on error|warning|info|never] [--select CODES] [--ignore CODES]
                    [--exclude GLOB]... [--auth-dependency NAME]... [--config FILE]
  fastapi-lens routes [PATH...] [--format table|json|csv|markdown] [--exclude GLOB]...
                      [--auth-dependency NAME]... [--output FILE] [--config FILE]
  fastapi-lens lsp --stdio
  fastapi-lens --help | --version

Commands:
  scan     Run every rule and report findings (text, JSON or SARIF 2.1.0). Exits 1 when a
           finding reaches --fail-on (default: warning).
  routes   List every route with its full path and exposure (public, authenticated,
           scoped, middleware, unknown) and the dependency chain that proves it.
  lsp      Start the language server on stdin/stdout (diagnostics, quick fixes, hovers).

Options:
  --select CODES   only these rule codes or prefixes (comma-separated; replaces \`select\`)
  --ignore CODES   skip these rule codes or prefixes (replaces \`ignore\`)
  --exclude GLOB   gitignore-style pattern of files to skip (adds to \`exclude\`)
  --config FILE    use this file's [tool.fastapi-lens] instead of the nearest pyproject.toml
  --color, --no-color  force or disable colours (default: on a terminal)

Configuration: [tool.fastapi-lens] in the nearest pyproject.toml (auth-dependencies,
public-routes, select, ignore, severity, exclude, per-file-ignores).
Suppress one finding with \`# fastapi-lens: ignore[CODE] reason\` on its line.

PATH defaults to the current folder. Exit codes: 0 ok, 1 findings at --fail-on, 2 bad
argument, path or configuration.
`;

export interface ParsedArgs {
  command: string;
  paths: string[];
  options: Map<string, string[]>;
}

const VALUE_OPTIONS = new Set([
  '--format',
  '--exclude',
  '--auth-dependency',
  '--output',
  '--config',
  '--fail-on',
  '--select',
  '--ignore',
]);
const FLAG_OPTIONS = new Set(['--help', '-h', '--version', '--no-color', '--color', '--stdio']);

/** The options each command accepts (flags common to all are always accepted). */
const COMMAND_OPTIONS: Record<string, Set<string>> = {
  routes: new Set(['--format', '--exclude', '--auth-dependency', '--output', '--config']),
  scan: new Set([
    '--format',
    '--exclude',
    '--auth-dependency',
    '--output',
    '--config',
    '--fail-on',
    '--select',
    '--ignore',
  ]),
};

export function parseArgs(argv: string[]): ParsedArgs {
  const [command, ...rest] = argv;
  const paths: string[] = [];
  const options = new Map<string, string[]>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === '--') {
      paths.push(...rest.slice(i + 1));
      break;
    }
    if (arg.startsWith('-')) {
      const eq = arg.indexOf('=');
      const name = eq > 0 ? arg.slice(0, eq) : arg;
      if (FLAG_OPTIONS.has(name)) {
        options.set(name, ['true']);
        continue;
      }
      if (!VALUE_OPTIONS.has(name)) throw new UsageError(`unknown option ${name}`);
      const value = eq > 0 ? arg.slice(eq + 1) : rest[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      options.set(name, [...(options.get(name) ?? []), value]);
    } else paths.push(arg);
  }
  return { command: command ?? '', paths, options };
}

function one(args: ParsedArgs, name: string): string | undefined {
  const v = args.options.get(name);
  return v ? v[v.length - 1] : undefined;
}

function checkPaths(paths: string[], cwd: string): string[] {
  const roots = paths.length ? paths : ['.'];
  for (const p of roots) {
    if (!fs.existsSync(path.resolve(cwd, p))) throw new UsageError(`no such file or folder: ${p}`);
  }
  return roots;
}

function checkOptions(args: ParsedArgs): void {
  const allowed = COMMAND_OPTIONS[args.command];
  if (!allowed) return;
  for (const name of args.options.keys())
    if (VALUE_OPTIONS.has(name) && !allowed.has(name))
      throw new UsageError(`${name} is not an option of \`${args.command}\``);
}

/** `--select A,B --select C` -> [A, B, C], checked against the registered rules. */
function codesOption(args: ParsedArgs, name: string, catalog: CodeCatalog): string[] | undefined {
  const values = args.options.get(name);
  if (!values) return undefined;
  const codes = values.flatMap((v) =>
    v
      .split(',')
      .map((c) => c.trim().toUpperCase())
      .filter(Boolean),
  );
  for (const c of codes)
    if (!catalog.isSelector(c)) throw new UsageError(`${name}: ${catalog.unknown(c)}`);
  if (name === '--select' && codes.length === 0)
    throw new UsageError('--select needs at least one rule code or prefix');
  return codes;
}

function useColour(args: ParsedArgs, io: CliIO, output: string | undefined): boolean {
  if (output || args.options.has('--no-color')) return false;
  if (args.options.has('--color')) return true;
  return io.isTTY && !process.env.NO_COLOR;
}

/**
 * The configuration for a command: an unusable `--config FILE` is a usage error (exit 2 before
 * any analysis); other problems are printed once the command has run (see reportConfig).
 */
function resolverFor(
  args: ParsedArgs,
  io: CliIO,
  roots: string[],
  catalog: CodeCatalog,
): ProjectConfigResolver {
  const configFile = one(args, '--config');
  const resolver = new ProjectConfigResolver({
    cwd: io.cwd,
    roots,
    configFile,
    catalog,
    overrides: {
      select: codesOption(args, '--select', catalog),
      ignore: codesOption(args, '--ignore', catalog),
      exclude: args.options.get('--exclude') ?? [],
      authDependencies: args.options.get('--auth-dependency') ?? [],
    },
  });
  if (configFile !== undefined && resolver.fatal) {
    const d = resolver.diagnostics.find((x) => x.fatal)!;
    throw new UsageError(`--config: ${formatConfigDiagnostic(d, io.cwd)}`);
  }
  return resolver;
}

/** Print config problems to stderr; true when one of them is an error worth exit code 2. */
function reportConfig(diagnostics: ConfigDiagnostic[], io: CliIO): boolean {
  for (const d of diagnostics) io.stderr(`fastapi-lens: ${formatConfigDiagnostic(d, io.cwd)}\n`);
  return diagnostics.some((d) => d.fatal);
}

function writeOutput(io: CliIO, output: string | undefined, text: string): void {
  if (!output) {
    io.stdout(text);
    return;
  }
  const file = path.resolve(io.cwd, output);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  } catch (err) {
    throw new UsageError(
      `cannot write --output ${output}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

async function routesCommand(args: ParsedArgs, io: CliIO): Promise<number> {
  const format = (one(args, '--format') ?? 'table') as RoutesFormat;
  if (!['table', 'json', 'csv', 'markdown'].includes(format))
    throw new UsageError(`--format must be table, json, csv or markdown (got ${format})`);
  const roots = checkPaths(args.paths, io.cwd);
  const resolver = resolverFor(args, io, roots, new CodeCatalog());
  const ws = resolver.workspaceOptions();
  const analysis = await analyzeWorkspace({
    roots,
    cwd: io.cwd,
    exclude: ws.exclude,
    authDependencies: ws.authDependencies,
  });
  const configError = reportConfig(resolver.diagnostics, io);
  const report = { ...analysis.report, root: relPath(io.cwd, path.resolve(io.cwd, roots[0])) };
  const output = one(args, '--output');
  const colour = format === 'table' && useColour(args, io, output);
  writeOutput(io, output, renderRoutes(report, format, colour));
  return configError ? 2 : 0;
}

const SCAN_FORMATS = ['text', 'json', 'sarif'];
const FAIL_ON = ['error', 'warning', 'info', 'never'];

async function scanCommand(args: ParsedArgs, io: CliIO): Promise<number> {
  const format = one(args, '--format') ?? 'text';
  if (!SCAN_FORMATS.includes(format))
    throw new UsageError(`--format must be text, json or sarif (got ${format})`);
  const failOn = one(args, '--fail-on') ?? 'warning';
  if (!FAIL_ON.includes(failOn))
    throw new UsageError(`--fail-on must be error, warning, info or never (got ${failOn})`);
  const roots = checkPaths(args.paths, io.cwd);
  const resolver = resolverFor(args, io, roots, new CodeCatalog());
  const ws = resolver.workspaceOptions();
  const { analysis, findings } = await scanWorkspace({
    roots,
    cwd: io.cwd,
    exclude: ws.exclude,
    authDependencies: ws.authDependencies,
    config: resolver,
  });
  const configError = reportConfig(resolver.diagnostics, io);

  const lineCache = new Map<string, string[] | null>();
  const lines = (file: string): string[] | null => {
    if (!lineCache.has(file)) {
      try {
        lineCache.set(file, fs.readFileSync(path.resolve(io.cwd, file), 'utf8').split(/\r?\n/));
      } catch {
        lineCache.set(file, null);
      }
    }
    return lineCache.get(file) ?? null;
  };
  const routes = analysis.report.routes;
  const routeOf = (f: Finding): Route | null =>
    f.route
      ? (routes.find(
          (r) =>
            r.file === f.route!.file &&
            r.line === f.route!.line &&
            r.path === f.route!.path &&
            r.methods.join(',') === f.route!.methods.join(','),
        ) ?? null)
      : null;

  const summary = summarize(findings, analysis.files.length, routes.length);
  const diagnostics: JsonDiagnostic[] = [
    ...analysis.report.diagnostics.map((d): JsonDiagnostic => ({
      source: 'engine',
      file: d.file,
      ...(d.line ? { line: d.line } : {}),
      level: 'warning',
      message: d.message,
    })),
    ...resolver.diagnostics.map((d): JsonDiagnostic => ({
      source: 'config',
      file: relPath(io.cwd, d.file),
      ...(d.line ? { line: d.line, column: d.column } : {}),
      level: d.level,
      message: d.key === null ? d.message : `[tool.fastapi-lens] ${d.key}: ${d.message}`,
    })),
  ];

  const output = one(args, '--output');
  let text: string;
  if (format === 'json') text = renderJson(findings, diagnostics, summary);
  else if (format === 'sarif')
    text = renderSarif(findings, diagnostics, {
      cwd: io.cwd,
      rules: [...rulesByCode().values()].map((r) => r.meta),
    });
  else
    text = renderText(
      {
        findings,
        summary,
        notes: analysis.report.diagnostics.map((d) => `${d.file}: ${d.message}`),
      },
      { lines, route: routeOf, colour: useColour(args, io, output) },
    );
  writeOutput(io, output, text);
  if (output) io.stderr(`fastapi-lens: ${summaryText(summary.findings)} written to ${output}\n`);

  if (configError) return 2;
  if (failOn === 'never') return 0;
  const threshold = SEVERITY_ORDER[failOn as Severity];
  return findings.some((f) => SEVERITY_ORDER[f.severity] >= threshold) ? 1 : 0;
}

function summaryText(n: number): string {
  return n === 1 ? '1 finding' : `${n} findings`;
}

export interface CliIO {
  cwd: string;
  isTTY: boolean;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

export async function runCli(argv: string[], io: CliIO): Promise<number> {
  try {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      io.stdout(HELP);
      return argv.length === 0 ? 2 : 0;
    }
    if (argv[0] === '--version') {
      io.stdout(`${VERSION}\n`);
      return 0;
    }
    const args = parseArgs(argv);
    if (args.options.has('--help') || args.options.has('-h')) {
      io.stdout(HELP);
      return 0;
    }
    checkOptions(args);
    switch (args.command) {
      case 'routes':
        return await routesCommand(args, io);
      case 'scan':
        return await scanCommand(args, io);
      case 'lsp': {
        // The language server (dist/server.js next to this bundle) runs until its client exits.
        const server = path.join(__dirname, 'server.js');
        if (!fs.existsSync(server)) throw new UsageError('the language server is not built');
        await import(pathToFileURL(server).href);
        return await new Promise<number>(() => undefined);
      }
      default:
        throw new UsageError(`unknown command ${args.command}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`fastapi-lens: ${err.message}\nRun \`fastapi-lens --help\` for usage.\n`);
      return 2;
    }
    io.stderr(
      `fastapi-lens: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return 3;
  }
}
