import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { analyzeWorkspace, type DependencyNode, type Route } from '../server/src/engine/index';
import { oracleTargets } from './oracle/targets';

/**
 * Real FastAPI is the ground truth: for every fixture app that Debian's FastAPI can import,
 * FastAPI's own `app.routes` (paths, methods, endpoint names and each route's dependant tree)
 * must equal our static inventory.
 */

const PYTHON = process.env.FASTAPI_LENS_ORACLE_PYTHON ?? '/usr/bin/python3';
const ROOT = path.join(__dirname, '..');
const DUMP = path.join(__dirname, 'oracle', 'dump_routes.py');

function fastapiAvailable(): string | null {
  try {
    execFileSync(PYTHON, ['-c', 'import fastapi, httpx'], { stdio: 'pipe' });
    return null;
  } catch {
    return `${PYTHON} cannot import fastapi and httpx (apt-get install python3-fastapi python3-httpx)`;
  }
}

interface OracleRoute {
  methods: string[];
  path: string;
  kind: string;
  function: string | null;
  dependencies: { callable: string; children: OracleRoute['dependencies'] }[];
}

function canon(
  nodes: { callable: string; children: DependencyNode[] | OracleRoute['dependencies'] }[],
): string[] {
  return nodes.map((n) => `${n.callable}(${canon(n.children).join(',')})`).sort();
}

function key(r: {
  methods: string[];
  path: string;
  kind: string;
  function: string | null;
}): string {
  return `${r.kind} ${[...r.methods].sort().join(',')} ${r.path} ${r.function ?? ''}`;
}

function ours(route: Route): { key: string; deps: string[] } {
  // FastAPI 0.92 applies only parameter dependencies to websocket routes.
  const nodes =
    route.kind === 'websocket'
      ? route.dependencies.filter((d) => d.level === 'parameter')
      : route.dependencies;
  return { key: key(route), deps: canon(nodes) };
}

const skip = fastapiAvailable();
if (skip) console.warn(`\n!!! SKIPPING the FastAPI oracle tests: ${skip}\n`);

const targets = oracleTargets();

describe(
  'FastAPI oracle: our inventory equals what FastAPI builds',
  { skip: skip ?? false },
  () => {
    it('has oracle targets', () =>
      assert.ok(targets.length >= 5, `only ${targets.length} oracle targets`));
    for (const { dir, app } of targets) {
      it(`${path.relative(ROOT, dir)} (${app})`, async () => {
        const out = execFileSync(PYTHON, [DUMP, dir, app], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const truth = (JSON.parse(out) as { routes: OracleRoute[] }).routes
          .map((r) => ({ key: key(r), deps: canon(r.dependencies) }))
          .sort((a, b) => a.key.localeCompare(b.key));
        const { report } = await analyzeWorkspace({ roots: [dir], cwd: dir });
        // The target is an app we found, or a router that no app includes (a plugin package).
        const inApp = report.routes.filter((r) => r.app === app);
        const mine = (inApp.length ? inApp : report.routes.filter((r) => r.app === null))
          .map(ours)
          .sort((a, b) => a.key.localeCompare(b.key));
        assert.deepEqual(mine, truth);
      });
    }
  },
);
