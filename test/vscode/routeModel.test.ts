import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  countPublicWrite,
  filterRoutes,
  groupDescription,
  groupRoutes,
  publicMarkerEdit,
  routeDescription,
  routeLabel,
  routeState,
  routeTooltip,
} from '../../client/src/routeModel';
import type { Route, RouteAuth } from '../../server/src/engine/types';

/** Presentation of routes in the VS Code Route Exposure view (pure part of the client). */

function route(over: Partial<Route>): Route {
  return {
    methods: ['GET'],
    path: '/items/',
    kind: 'http',
    file: 'app/routers/items.py',
    line: 10,
    column: 0,
    function: 'list_items',
    exposure: 'public',
    auth: [],
    hidden: false,
    conditional: null,
    deprecated: false,
    app: 'app.main:app',
    routers: ['app.main:app', 'app.routers.items:router'],
    handlerLine: 11,
    unresolved: [],
    middleware: [],
    publicReason: null,
    dependencies: [],
    ...over,
  };
}

const user: RouteAuth = {
  dependency: 'get_current_user',
  level: 'router',
  file: 'app/deps.py',
  line: 12,
  scopes: [],
  enforcing: true,
  chain: ['get_current_user', 'oauth2_scheme'],
  basis: 'scheme',
  roleCheck: false,
  confidence: 'high',
};

describe('route presentation', () => {
  it('labels routes by method and full path', () => {
    assert.equal(routeLabel(route({ methods: ['POST'], path: '/items/' })), 'POST /items/');
    assert.equal(routeLabel(route({ methods: ['GET', 'HEAD'] })), 'GET /items/');
    assert.equal(routeLabel(route({ methods: ['PUT', 'PATCH'] })), 'PUT|PATCH /items/');
    assert.equal(routeLabel(route({ kind: 'websocket', methods: [], path: '/ws' })), 'WS /ws');
    assert.equal(
      routeLabel(route({ kind: 'mount', methods: [], path: '/static' })),
      'MOUNT /static',
    );
  });

  it('describes the auth dependency, or why there is none', () => {
    assert.equal(
      routeDescription(route({ exposure: 'authenticated', auth: [user] })),
      'get_current_user · router',
    );
    assert.equal(
      routeDescription(
        route({
          exposure: 'scoped',
          auth: [{ ...user, scopes: ['items:write'], level: 'parameter' }],
        }),
      ),
      'get_current_user [items:write] · parameter',
    );
    assert.equal(routeDescription(route({})), 'no auth');
    assert.equal(routeDescription(route({ publicReason: 'health probe' })), 'public: health probe');
    assert.equal(routeDescription(route({ publicReason: '' })), 'marked public');
    assert.equal(
      routeDescription(
        route({
          exposure: 'unknown',
          unresolved: ['require_staff: defined outside the workspace'],
        }),
      ),
      'unresolved: require_staff',
    );
    assert.equal(
      routeDescription(route({ exposure: 'middleware', middleware: ['app.main:require_key'] })),
      'require_key · middleware',
    );
    assert.equal(
      routeDescription(route({ hidden: true, conditional: 'if settings.DEBUG', deprecated: true })),
      'no auth · hidden · if settings.DEBUG · deprecated',
    );
  });

  it('picks an icon state: exposure, or hidden / conditional coloured by openness', () => {
    assert.equal(routeState(route({})), 'public');
    assert.equal(routeState(route({ exposure: 'scoped' })), 'scoped');
    assert.equal(routeState(route({ publicReason: 'health probe' })), 'public-marked');
    assert.equal(routeState(route({ hidden: true })), 'hidden-public');
    assert.equal(
      routeState(route({ hidden: true, exposure: 'authenticated' })),
      'hidden-protected',
    );
    assert.equal(
      routeState(route({ conditional: 'DEBUG', exposure: 'unknown' })),
      'conditional-public',
    );
    assert.equal(
      routeState(route({ conditional: 'DEBUG', exposure: 'middleware' })),
      'conditional-protected',
    );
  });

  it('filters public and write routes, counts public writes', () => {
    const routes = [
      route({ methods: ['GET'] }),
      route({ methods: ['POST'] }),
      route({ methods: ['DELETE'], exposure: 'authenticated' }),
      route({ kind: 'websocket', methods: [] }),
      route({ methods: ['POST'], path: '/login', publicReason: 'login form' }),
    ];
    assert.equal(filterRoutes(routes, { publicOnly: true, writeOnly: false }).length, 4);
    assert.equal(filterRoutes(routes, { publicOnly: false, writeOnly: true }).length, 3);
    assert.equal(filterRoutes(routes, { publicOnly: true, writeOnly: true }).length, 2);
    // Marked public on purpose: listed, but not counted as needing a decision.
    assert.equal(countPublicWrite(routes), 1);
  });

  it('groups by exposure (urgent first), router and file', () => {
    const routes = [
      route({ path: '/b', exposure: 'authenticated' }),
      route({ path: '/a' }),
      route({ path: '/c', file: 'app/main.py', routers: ['app.main:app'], exposure: 'unknown' }),
    ];
    const byExposure = groupRoutes(routes, 'exposure');
    assert.deepEqual(
      byExposure.map((g) => [g.label, g.routes.map((r) => r.path)]),
      [
        ['Public', ['/a']],
        ['Unknown', ['/c']],
        ['Authenticated', ['/b']],
      ],
    );
    const byRouter = groupRoutes(routes, 'router');
    assert.deepEqual(
      byRouter.map((g) => [g.label, g.detail, groupDescription(g)]),
      [
        ['app', 'app.main', '1 route'],
        ['router', 'app.routers.items', '2 routes · 1 public'],
      ],
    );
    const byFile = groupRoutes(routes, 'file');
    assert.deepEqual(
      byFile.map((g) => [g.label, g.detail]),
      [
        ['main.py', 'app'],
        ['items.py', 'app/routers'],
      ],
    );
  });

  it('writes a Markdown tooltip with links to the auth dependency and the handler', () => {
    const md = routeTooltip(
      route({ exposure: 'authenticated', auth: [user], hidden: true }),
      (f, l) => `file:///w/${f}#L${l}`,
    );
    assert.match(md, /^\*\*GET\*\* `\/items\/`/);
    assert.match(md, /\*\*Authenticated\*\*: requires an authenticated user/);
    assert.match(
      md,
      /`get_current_user` \(router level\) via `get_current_user` → `oauth2_scheme`, \[app\/deps\\\.py:12\]\(file:\/\/\/w\/app\/deps\.py#L12\)/,
    );
    assert.match(md, /Hidden from the OpenAPI schema/);
    assert.match(md, /Handler: `list_items` in \[app\/routers\/items\\\.py:11\]/);
  });

  it('places the public marker at the end of the decorator line, or above it', () => {
    assert.deepEqual(publicMarkerEdit('@router.get("/")   ', 'health\ncheck'), {
      above: false,
      startColumn: 16,
      endColumn: 19,
      text: '  # fastapi-lens: public health check',
    });
    assert.deepEqual(publicMarkerEdit('    @app.get("/")  # noqa: E501', 'probe'), {
      above: true,
      startColumn: 0,
      endColumn: 0,
      text: '    # fastapi-lens: public probe\n',
    });
  });
});
