import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { analyzeWorkspace, type Route } from '../server/src/engine/index';

/**
 * Route inventory fixtures: each folder under test/fixtures/routes/ is a small FastAPI project
 * with an `expected.json` holding its exact inventory (see test/fixtures/routes/README.md).
 * The bundled example app in examples/ is checked the same way.
 */

interface ExpectedAuth {
  dependency: string;
  level: string;
  enforcing: boolean;
  scopes: string[];
  confidence?: 'high' | 'low';
}

interface ExpectedRoute {
  methods: string[];
  path: string;
  kind: string;
  file: string;
  line: number;
  function: string | null;
  exposure: string;
  auth: ExpectedAuth[];
  hidden: boolean;
  conditional: string | null;
  deprecated: boolean;
}

export function project(route: Route | ExpectedRoute): ExpectedRoute {
  return {
    methods: [...route.methods].sort(),
    path: route.path,
    kind: route.kind,
    file: route.file,
    line: route.line,
    function: route.function,
    exposure: route.exposure,
    auth: route.auth.map((a) => ({
      dependency: a.dependency,
      level: a.level,
      enforcing: a.enforcing,
      scopes: [...a.scopes],
      confidence: a.confidence ?? 'high',
    })),
    hidden: route.hidden,
    conditional: route.conditional,
    deprecated: route.deprecated,
  };
}

function sortKey(r: ExpectedRoute): string {
  return `${r.path}\0${r.methods.join(',')}\0${r.kind}\0${r.file}\0${String(r.line).padStart(6, '0')}`;
}

export function sortedRoutes(routes: (Route | ExpectedRoute)[]): ExpectedRoute[] {
  return routes.map(project).sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
}

const ROOT = path.join(__dirname, '..');
const FIXTURES = path.join(__dirname, 'fixtures', 'routes');
const cases = fs
  .readdirSync(FIXTURES, { withFileTypes: true })
  .filter((e) => e.isDirectory() && fs.existsSync(path.join(FIXTURES, e.name, 'expected.json')))
  .map((e) => path.join(FIXTURES, e.name));
const example = path.join(ROOT, 'examples', 'shop-api');
if (fs.existsSync(path.join(example, 'expected-routes.json'))) cases.push(example);

describe('route inventory matches expected.json exactly', () => {
  it('has fixture projects', () =>
    assert.ok(cases.length >= 10, `only ${cases.length} fixture projects`));
  for (const dir of cases) {
    it(path.relative(ROOT, dir), async () => {
      const expectedFile = fs.existsSync(path.join(dir, 'expected.json'))
        ? path.join(dir, 'expected.json')
        : path.join(dir, 'expected-routes.json');
      const expected = JSON.parse(fs.readFileSync(expectedFile, 'utf8')) as {
        routes: ExpectedRoute[];
      };
      const { report } = await analyzeWorkspace({ roots: [dir], cwd: dir });
      assert.deepEqual(sortedRoutes(report.routes), sortedRoutes(expected.routes));
    });
  }
});
