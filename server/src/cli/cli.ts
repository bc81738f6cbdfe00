import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzeWorkspace } from '../engine';
import { relPath } from '../engine/discovery';
import { renderRoutes, type RoutesFormat } from './routesFormat';

/**
 * `fastapi-lens` command line. Exit codes: 0 success, 1 findings at or above --fail-on (scan),
 * 2 usage or configuration errors.
 */

const VERSION = '0.1.0';

export class UsageError extends Error {}

const HELP = `fastapi-lens ${VERSION}: which FastAPI routes can be called without authentication

Usage:
  fastapi-lens routes [PATH...] [--format table|json|csv|markdown] [--exclude GLOB]...
                      [--auth-dependency NAME]... [--output FILE]
  fastapi-lens --help | --version

Commands:
  routes   List every route with its full path and exposure (public, authenticated,
           scoped, middleware, unknown) and the dependency chain that proves it.

PATH defaults to the current folder. Exit codes: 0 ok, 2 bad argument or path.
`;

export interface ParsedArgs {
  command: string;
  paths: string[];
  options: Map<string, string[]>;
}

const VALUE_OPTIONS = new Set(['--format', '--exclude', '--auth-dependency', '--output']);
const FLAG_OPTIONS = new Set(['--help', '-h', '--version', '--no-color', '--color']);

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

async function routesCommand(args: ParsedArgs, io: CliIO): Promise<number> {
  const format = (one(args, '--format') ?? 'table') as RoutesFormat;
  if (!['table', 'json', 'csv', 'markdown'].includes(format))
    throw new UsageError(`--format must be table, json, csv or markdown (got ${format})`);
  const roots = checkPaths(args.paths, io.cwd);
  const analysis = await analyzeWorkspace({
    roots,
    cwd: io.cwd,
    exclude: args.options.get('--exclude') ?? [],
    authDependencies: args.options.get('--auth-dependency') ?? [],
  });
  const report = { ...analysis.report, root: relPath(io.cwd, path.resolve(io.cwd, roots[0])) };
  const output = one(args, '--output');
  const colour =
    !output &&
    format === 'table' &&
    !args.options.has('--no-color') &&
    (io.isTTY || args.options.has('--color'));
  const text = renderRoutes(report, format, colour);
  if (output) fs.writeFileSync(path.resolve(io.cwd, output), text);
  else io.stdout(text);
  return 0;
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
    switch (args.command) {
      case 'routes':
        return await routesCommand(args, io);
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
