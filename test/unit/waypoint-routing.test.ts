/**
 * Route choice and filters against the Gateway API mesh conformance tables
 * (docs/istio/gamma-conformance.md §4): precedence, matches, redirects, rewrites.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HttpRoute, RouteBackend } from '../../src/api/waypoint-config.js';
import { modifyHeaders, redirectTarget, rewritePath } from '../../src/waypoint/routing/filters.js';
import {
  normalizePath,
  type RouteRequest,
  splitTarget,
} from '../../src/waypoint/routing/request.js';
import { pickBackend, selectRoute } from '../../src/waypoint/routing/select.js';
import { compileConfig } from '../../src/waypoint/config/compiled.js';
import { buildRouteTables, tableKey } from '../../src/waypoint/routing/table.js';
import { chooseEndpoint } from '../../src/waypoint/proxy/endpoints.js';
import {
  config,
  endpoint,
  grpcRoute,
  httpRoute,
  service,
  svcKey,
  to,
} from '../helpers/waypoint-fixtures.js';

function request(
  target: string,
  headers: Record<string, string> = {},
  method = 'GET',
): RouteRequest {
  const { path, query } = splitTarget(target);
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = v;
  return { method, path, query, headers: h, grpc: false };
}

/** Backend service name chosen for a request, '404' for no match, 'default' for no route. */
function route(routes: HttpRoute[], target: string, headers?: Record<string, string>, port = 80) {
  const { tables, warnings } = buildRouteTables(config({ httpRoutes: routes }));
  assert.deepEqual(warnings, []);
  const c = selectRoute(tables.get(tableKey(svcKey('echo'), port)), request(target, headers));
  if (c.kind === 'no-match') return '404';
  if (c.kind === 'default') return 'default';
  const b = c.entry.rule.backends[0] as Extract<RouteBackend, { kind: 'service' }> | undefined;
  return b ? b.service.split('/')[1]!.split('.')[0]! : 'redirect';
}

void describe('MeshHTTPRouteMatching', () => {
  const routes = [
    httpRoute('mesh-matching', [
      {
        matches: [
          { path: { type: 'PathPrefix', value: '/' } },
          { headers: [{ type: 'Exact', name: 'version', value: 'one' }] },
        ],
        backends: [to('echo-v1')],
      },
      {
        matches: [
          { path: { type: 'PathPrefix', value: '/v2' } },
          { headers: [{ type: 'Exact', name: 'version', value: 'two' }] },
        ],
        backends: [to('echo-v2')],
      },
    ]),
  ];
  const cases: [string, Record<string, string>, string][] = [
    ['/', {}, 'echo-v1'],
    ['/example', {}, 'echo-v1'],
    ['/', { Version: 'one' }, 'echo-v1'],
    ['/v2', {}, 'echo-v2'],
    ['/v2/example', {}, 'echo-v2'],
    ['/', { Version: 'two' }, 'echo-v2'],
    ['/v2/', {}, 'echo-v2'],
    ['/v2example', {}, 'echo-v1'],
    ['/foo/v2/example', {}, 'echo-v1'],
  ];
  for (const [target, headers, want] of cases)
    void test(`${target} ${JSON.stringify(headers)} → ${want}`, () =>
      assert.equal(route(routes, target, headers), want));
});

void describe('MeshHTTPRouteQueryParamMatching', () => {
  const q = (name: string, value: string) => ({ type: 'Exact' as const, name, value });
  const routes = [
    httpRoute('mesh-query-param-matching', [
      { matches: [{ queryParams: [q('animal', 'whale')] }], backends: [to('echo-v1')] },
      { matches: [{ queryParams: [q('animal', 'dolphin')] }], backends: [to('echo-v2')] },
      {
        matches: [
          { path: { type: 'PathPrefix', value: '/path1' }, queryParams: [q('animal', 'whale')] },
        ],
        backends: [to('echo-v1')],
      },
      {
        matches: [{ headers: [q('version', 'one')], queryParams: [q('animal', 'whale')] }],
        backends: [to('echo-v2')],
      },
      {
        matches: [
          { path: { type: 'PathPrefix', value: '/path3' }, queryParams: [q('animal', 'shark')] },
          {
            path: { type: 'PathPrefix', value: '/path4' },
            headers: [q('version', 'three')],
            queryParams: [q('animal', 'kraken')],
          },
        ],
        backends: [to('echo-v1')],
      },
      { matches: [{ path: { type: 'PathPrefix', value: '/path5' } }], backends: [to('echo-v1')] },
      { matches: [{ queryParams: [q('animal', 'hydra')] }], backends: [to('echo-v2')] },
    ]),
  ];
  const cases: [string, Record<string, string>, string][] = [
    ['/?animal=whale', {}, 'echo-v1'],
    ['/?animal=dolphin', {}, 'echo-v2'],
    ['/?animal=whale&otherparam=irrelevant', {}, 'echo-v1'],
    ['/?animal=dolphin&color=yellow', {}, 'echo-v2'],
    ['/?color=blue', {}, '404'],
    ['/?animal=dog', {}, '404'],
    ['/?animal=whaledolphin', {}, '404'],
    ['/', {}, '404'],
    ['/path1?animal=whale', {}, 'echo-v1'],
    ['/?animal=whale', { version: 'one' }, 'echo-v2'],
    ['/path3?animal=shark', {}, 'echo-v1'],
    ['/path4?animal=kraken', { version: 'three' }, 'echo-v1'],
    ['/?animal=shark', {}, '404'],
    ['/path4?animal=kraken', {}, '404'],
    ['/path5?animal=hydra', {}, 'echo-v1'],
  ];
  for (const [target, headers, want] of cases)
    void test(`${target} ${JSON.stringify(headers)} → ${want}`, () =>
      assert.equal(route(routes, target, headers), want));
});

void describe('precedence', () => {
  test('no route attached: the service routes to itself', () => {
    assert.equal(route([], '/'), 'default');
  });
  test('a route on port 8080 does not attach to port 80', () => {
    const r = httpRoute('p', [{ backends: [to('echo-v1')] }], {
      parents: [{ kind: 'Service', service: svcKey('echo'), port: 8080 }],
    });
    assert.equal(route([r], '/', {}, 80), 'default');
    assert.equal(route([r], '/', {}, 8080), 'echo-v1');
  });
  test('a route without parent port attaches to every port', () => {
    const r = httpRoute('p', [{ backends: [to('echo-v2')] }], {
      parents: [{ kind: 'Service', service: svcKey('echo') }],
    });
    assert.equal(route([r], '/', {}, 8080), 'echo-v2');
  });
  test('a route on echo-v2 does not change echo (MeshFrontend)', () => {
    const r = httpRoute('p', [{ backends: [to('echo-v1')] }], {
      parents: [{ kind: 'Service', service: svcKey('echo-v2') }],
    });
    assert.equal(route([r], '/'), 'default');
  });
  test('exact beats a longer prefix', () => {
    const a = httpRoute('a', [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/exact/longer' } }],
        backends: [to('echo-v1')],
      },
    ]);
    const b = httpRoute('b', [
      { matches: [{ path: { type: 'Exact', value: '/exact/longer' } }], backends: [to('echo-v2')] },
    ]);
    assert.equal(route([a, b], '/exact/longer'), 'echo-v2');
  });
  test('method match beats no method', () => {
    const a = httpRoute('a', [
      { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backends: [to('echo-v1')] },
    ]);
    const b = httpRoute('b', [{ matches: [{ method: 'GET' }], backends: [to('echo-v2')] }]);
    assert.equal(route([a, b], '/x'), 'echo-v2');
  });
  test('the older route wins a tie', () => {
    const older = httpRoute('zzz', [{ backends: [to('echo-v2')] }]);
    const newer = httpRoute('aaa', [{ backends: [to('echo-v1')] }]);
    assert.equal(route([newer, older], '/'), 'echo-v2');
  });
  test('then namespace/name order', () => {
    const a = httpRoute('bbb', [{ backends: [to('echo-v2')] }], { creationTimestampMs: 5 });
    const b = httpRoute('aaa', [{ backends: [to('echo-v1')] }], { creationTimestampMs: 5 });
    assert.equal(route([a, b], '/'), 'echo-v1');
  });
  test('then rule order within a route', () => {
    const a = httpRoute('a', [{ backends: [to('echo-v2')] }, { backends: [to('echo-v1')] }]);
    assert.equal(route([a], '/'), 'echo-v2');
  });
  test('regex path matches the whole path', () => {
    const a = httpRoute('a', [
      {
        matches: [{ path: { type: 'RegularExpression', value: '/v[0-9]+' } }],
        backends: [to('echo-v2')],
      },
    ]);
    assert.equal(route([a], '/v12'), 'echo-v2');
    assert.equal(route([a], '/v12/x'), '404');
  });
  test('an invalid regex disables that match only and is reported', () => {
    const a = httpRoute('a', [
      { matches: [{ path: { type: 'RegularExpression', value: '(' } }], backends: [to('echo-v2')] },
      { matches: [{ path: { type: 'PathPrefix', value: '/ok' } }], backends: [to('echo-v1')] },
    ]);
    const { tables, warnings } = buildRouteTables(config({ httpRoutes: [a] }));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /WAYPOINT_ROUTE_REGEX/);
    const c = selectRoute(tables.get(tableKey(svcKey('echo'), 80)), request('/ok'));
    assert.equal(c.kind, 'matched');
  });
});

void describe('GRPCRoute', () => {
  const grpc = (path: string): RouteRequest => ({
    method: 'POST',
    path,
    query: '',
    headers: {},
    grpc: true,
  });
  test('service/method exact beats service only', () => {
    const r = grpcRoute('g', [
      {
        matches: [{ method: { type: 'Exact', service: 'proto.EchoTestService' } }],
        backends: [to('echo-v1', 7070)],
      },
      {
        matches: [{ method: { type: 'Exact', service: 'proto.EchoTestService', method: 'Echo' } }],
        backends: [to('echo-v2', 7070)],
      },
    ]);
    const { tables } = buildRouteTables(config({ grpcRoutes: [r] }));
    const c = selectRoute(
      tables.get(tableKey(svcKey('echo'), 7070)),
      grpc('/proto.EchoTestService/Echo'),
    );
    assert.ok(c.kind === 'matched');
    assert.equal(c.entry.rule.ruleIndex, 1);
    const d = selectRoute(tables.get(tableKey(svcKey('echo'), 7070)), grpc('/other.Svc/Echo'));
    assert.equal(d.kind, 'no-match');
  });
});

void describe('weights', () => {
  test('picks by weight and never a zero weight', () => {
    const backends = [to('echo-v1', 8080, 70), to('echo-v2', 8080, 30), to('echo-v3', 8080, 0)];
    const seq = [0, 0.69, 0.7, 0.99];
    const got = seq.map((x) => (pickBackend(backends, () => x) as { service: string }).service);
    assert.deepEqual(got, [
      svcKey('echo-v1'),
      svcKey('echo-v1'),
      svcKey('echo-v2'),
      svcKey('echo-v2'),
    ]);
  });
  test('all weights zero: no backend (500)', () => {
    assert.equal(pickBackend([to('echo-v1', 8080, 0)]), undefined);
  });
});

void describe('filters', () => {
  const rr = { scheme: 'http', host: 'echo', port: 80, query: '' };
  const cases: [
    string,
    Parameters<typeof redirectTarget>[0],
    string,
    string | undefined,
    number,
    string,
  ][] = [
    [
      'hostname',
      { hostname: 'example.org' },
      '/hostname-redirect',
      '/hostname-redirect',
      302,
      'http://example.org/hostname-redirect',
    ],
    [
      'host and status',
      { hostname: 'example.org', statusCode: 301 },
      '/host-and-status',
      '/host-and-status',
      301,
      'http://example.org/host-and-status',
    ],
    [
      'prefix',
      { path: { type: 'ReplacePrefixMatch', value: '/replacement-prefix' } },
      '/original-prefix/lemon',
      '/original-prefix',
      302,
      'http://echo/replacement-prefix/lemon',
    ],
    [
      'full path',
      { path: { type: 'ReplaceFullPath', value: '/full-path-replacement' } },
      '/full/path/original',
      '/full',
      302,
      'http://echo/full-path-replacement',
    ],
    [
      'path and host',
      {
        hostname: 'example.org',
        path: { type: 'ReplacePrefixMatch', value: '/replacement-prefix' },
      },
      '/path-and-host',
      '/path-and-host',
      302,
      'http://example.org/replacement-prefix',
    ],
    ['port', { port: 8083 }, '/port', '/port', 302, 'http://echo:8083/port'],
    [
      'port and host',
      { port: 8083, hostname: 'example.org' },
      '/port-and-host',
      '/port-and-host',
      302,
      'http://example.org:8083/port-and-host',
    ],
    ['scheme', { scheme: 'https' }, '/scheme', '/scheme', 302, 'https://echo/scheme'],
    [
      'scheme, host, status',
      { scheme: 'https', hostname: 'example.org', statusCode: 301 },
      '/s',
      '/s',
      301,
      'https://example.org/s',
    ],
    ['303', { statusCode: 303 }, '/redirect', '/redirect', 303, 'http://echo/redirect'],
  ];
  for (const [name, f, path, prefix, status, location] of cases)
    void test(`redirect ${name}`, () => {
      assert.deepEqual(redirectTarget(f, { ...rr, path, matchedPrefix: prefix }), {
        status,
        location,
      });
    });
  void test('redirect keeps the listener port when not 80', () => {
    assert.equal(
      redirectTarget({}, { ...rr, port: 8080, path: '/a' }).location,
      'http://echo:8080/a',
    );
  });
  const rewrites: [string, string, string, string][] = [
    ['/prefix/one/two', '/prefix/one', '/one', '/one/two'],
    ['/strip-prefix/three', '/strip-prefix', '/', '/three'],
    ['/strip-prefix', '/strip-prefix', '/', '/'],
    [
      '/prefix/rewrite-path-and-modify-headers/one',
      '/prefix/rewrite-path-and-modify-headers',
      '/prefix',
      '/prefix/one',
    ],
    ['/a/', '/a', '/b', '/b/'],
  ];
  for (const [path, prefix, value, want] of rewrites)
    void test(`rewrite ${path} (prefix ${prefix} → ${value})`, () => {
      assert.equal(rewritePath(path, { type: 'ReplacePrefixMatch', value }, prefix), want);
    });
  void test('full path rewrite', () => {
    assert.equal(
      rewritePath('/full/one/two', { type: 'ReplaceFullPath', value: '/one' }, '/full/one'),
      '/one',
    );
  });
  void test('header modifier: set, add after the client value, remove, case-insensitive', () => {
    const h: Record<string, string | string[]> = {
      'x-header-add': 'original-val-add',
      'x-header-set': 'x',
      'x-header-remove': 'y',
    };
    modifyHeaders(h, {
      set: [{ name: 'X-Header-Set', value: 'header-set' }],
      add: [{ name: 'X-Header-Add', value: 'header-add' }],
      remove: ['X-Header-Remove'],
    });
    assert.deepEqual(h, {
      'x-header-add': ['original-val-add', 'header-add'],
      'x-header-set': 'header-set',
    });
  });
  void test('path normalization removes dot segments', () => {
    assert.equal(normalizePath('/a/./b/../c'), '/a/c');
    assert.equal(normalizePath('/a/..'), '/');
    assert.equal(normalizePath('//a'), '//a');
  });
});

void describe('ingress gateway listeners', () => {
  const ingress = config({
    waypoint: {
      name: 'gw',
      namespace: 'default',
      trustDomain: 'cluster.local',
      identity: 'spiffe://cluster.local/ns/default/sa/gw-istio',
      trafficType: 'none',
      role: 'ingress',
      listeners: [
        { name: 'http', port: 80, protocol: 'HTTP' },
        { name: 'alt', port: 8080, protocol: 'HTTP' },
      ],
    },
  });
  const gwRoute = (parents: HttpRoute['parents']) =>
    httpRoute(
      'r',
      [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/productpage' } }],
          backends: [to('echo')],
        },
      ],
      {
        parents,
      },
    );

  void test('a Gateway parent attaches to every listener, sectionName / port to one', () => {
    const self = 'default/gw-istio.default.svc.cluster.local';
    const all = compileConfig({ ...ingress, httpRoutes: [gwRoute([{ kind: 'Gateway' }])] });
    assert.deepEqual([...all.tables.keys()].sort(), [tableKey(self, 80), tableKey(self, 8080)]);
    assert.deepEqual([...all.listeners.keys()], [80, 8080]);
    assert.equal(all.listeners.get(80)?.service.hostname, 'gw-istio.default.svc.cluster.local');
    const one = compileConfig({
      ...ingress,
      httpRoutes: [gwRoute([{ kind: 'Gateway', sectionName: 'alt' }])],
    });
    assert.deepEqual([...one.tables.keys()], [tableKey(self, 8080)]);
    const c = selectRoute(one.tables.get(tableKey(self, 8080)), request('/productpage'));
    assert.equal(c.kind, 'matched');
  });

  void test('a Service-parented route does not attach to an ingress gateway', () => {
    const c = compileConfig({
      ...ingress,
      httpRoutes: [httpRoute('mesh', [{ backends: [to('echo')] }])],
    });
    assert.equal(c.tables.size, 0);
    assert.match(c.warnings.join('\n'), /HTTPRoute .*mesh: no listener to attach to/);
  });
});

void describe('ingress to a service through its waypoint', () => {
  void test('a waypoint pod is dialled with the service VIP:port as authority', () => {
    const wp = endpoint('waypoint-abc', '10.244.1.20', [[15008, 15008]], {
      identity: 'spiffe://cluster.local/ns/default/sa/waypoint',
    });
    const svc = service('echo', '10.96.5.1', [endpoint('echo-v1-x', '10.244.2.7', [[80, 8080]])], {
      waypoint: [wp],
    });
    const c = chooseEndpoint(svc, 80, new Set());
    assert.deepEqual(c?.target, {
      address: '10.96.5.1',
      targetPort: 80,
      tunnel: 'HBONE',
      identity: 'spiffe://cluster.local/ns/default/sa/waypoint',
      via: '10.244.1.20',
    });
    const direct = chooseEndpoint({ ...svc, waypoint: undefined }, 80, new Set());
    assert.equal(direct?.target.address, '10.244.2.7');
    assert.equal(direct?.target.via, undefined);
  });
});
