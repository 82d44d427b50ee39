/**
 * An ingress gateway's hostname matching (src/waypoint/ingress/hosts.ts, select.ts): listener
 * `hostname` and HTTPRoute `hostnames`, exact and `*.` wildcard, Gateway API precedence, no
 * match for an unmatched Host (the handler's 404).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HttpRoute, IngressListener, RouteBackend } from '../../src/api/waypoint-config.js';
import { compileConfig } from '../../src/waypoint/config/compiled.js';
import { hostMatches, hostRank, hostsIntersect, normalizeHost } from '../../src/api/hostnames.js';
import { pickListener } from '../../src/waypoint/ingress/hosts.js';
import { selectIngressRoute } from '../../src/waypoint/ingress/select.js';
import { tableKey } from '../../src/waypoint/routing/table.js';
import { config, httpRoute, to } from '../helpers/waypoint-fixtures.js';

void test('hostMatches: exact names and *. wildcards (one label or more, never the bare suffix)', () => {
  assert.ok(hostMatches('bookinfo.example.com', 'bookinfo.example.com'));
  assert.ok(hostMatches('Bookinfo.Example.com', 'bookinfo.example.com'));
  assert.ok(!hostMatches('bookinfo.example.com', 'other.example.com'));
  assert.ok(hostMatches('*.example.com', 'a.example.com'));
  assert.ok(hostMatches('*.example.com', 'a.b.example.com'));
  assert.ok(!hostMatches('*.example.com', 'example.com'));
  assert.ok(!hostMatches('*.example.com', 'aexample.com'));
  assert.equal(normalizeHost('Bookinfo.Example.COM:8443'), 'bookinfo.example.com');
  assert.equal(normalizeHost('a.example.com.'), 'a.example.com');
  assert.equal(normalizeHost('[::1]:80'), '[::1]');
});

void test('hostsIntersect and hostRank (non-wildcard characters first, then characters)', () => {
  assert.ok(hostsIntersect('*.example.com', 'a.example.com'));
  assert.ok(hostsIntersect('*.example.com', '*.a.example.com'));
  assert.ok(!hostsIntersect('*.example.com', 'example.com'));
  assert.ok(!hostsIntersect('a.example.com', 'b.example.com'));
  assert.deepEqual(hostRank(undefined, 'x'), [0, 0]);
  assert.deepEqual(hostRank(['*.example.com', 'a.example.com'], 'a.example.com'), [13, 13]);
  assert.deepEqual(hostRank(['*.example.com', '*.a.example.com'], 'b.a.example.com'), [0, 15]);
  assert.equal(hostRank(['a.example.com'], 'b.example.com'), undefined);
});

void test('pickListener: exact, then the longest wildcard, then a listener without hostname', () => {
  const ls: IngressListener[] = [
    { name: 'any', port: 80, protocol: 'HTTP' },
    { name: 'wild', port: 80, protocol: 'HTTP', hostname: '*.example.com' },
    { name: 'wild2', port: 80, protocol: 'HTTP', hostname: '*.a.example.com' },
    { name: 'exact', port: 80, protocol: 'HTTP', hostname: 'x.a.example.com' },
  ];
  assert.equal(pickListener(ls, 'x.a.example.com')?.name, 'exact');
  assert.equal(pickListener(ls, 'y.a.example.com')?.name, 'wild2');
  assert.equal(pickListener(ls, 'b.example.com')?.name, 'wild');
  assert.equal(pickListener(ls, 'other.org')?.name, 'any');
  assert.equal(pickListener(ls.slice(1), 'other.org'), undefined);
});

void describe('selectIngressRoute over a compiled ingress config', () => {
  const listeners: IngressListener[] = [
    { name: 'bookinfo', port: 80, protocol: 'HTTP', hostname: 'bookinfo.example.com' },
    { name: 'wild', port: 80, protocol: 'HTTP', hostname: '*.example.com' },
  ];
  const cfg = (routes: HttpRoute[]) =>
    compileConfig(
      config({
        waypoint: {
          name: 'gw',
          namespace: 'default',
          trustDomain: 'cluster.local',
          identity: 'spiffe://cluster.local/ns/default/sa/gw-istio',
          trafficType: 'none',
          role: 'ingress',
          listeners,
        },
        httpRoutes: routes,
      }),
    );
  const r = (name: string, backend: string, hostnames?: string[], path = '/') =>
    httpRoute(
      name,
      [{ matches: [{ path: { type: 'PathPrefix', value: path } }], backends: [to(backend)] }],
      { parents: [{ kind: 'Gateway' }], ...(hostnames ? { hostnames } : {}) },
    );
  const pick = (c: ReturnType<typeof cfg>, host: string, path = '/') => {
    const key = tableKey('default/gw-istio.default.svc.cluster.local', 80);
    const choice = selectIngressRoute(c.tables.get(key), listeners, host, {
      method: 'GET',
      path,
      query: '',
      headers: {},
      grpc: false,
    });
    if (choice.kind !== 'matched') return '404';
    const b = choice.entry.rule.backends[0] as Extract<RouteBackend, { kind: 'service' }>;
    return `${b.service.split('/')[1]!.split('.')[0]!}@${choice.entry.listener ?? ''}`;
  };

  void test('a route without hostnames takes every host of the listeners it attaches to', () => {
    const c = cfg([r('all', 'echo')]);
    assert.equal(pick(c, 'bookinfo.example.com:80'), 'echo@bookinfo');
    assert.equal(pick(c, 'reviews.example.com'), 'echo@wild');
    assert.equal(pick(c, 'example.com'), '404', 'no listener for the bare domain');
    assert.equal(pick(c, 'bookinfo.example.org'), '404');
  });

  void test('the most specific route hostname wins over a longer path; unmatched hosts get 404', () => {
    const c = cfg([
      r('wild', 'echo-v1', ['*.example.com'], '/productpage'),
      r('exact', 'echo-v2', ['bookinfo.example.com']),
      r('deeper', 'echo-v3', ['*.a.example.com']),
    ]);
    assert.equal(pick(c, 'bookinfo.example.com', '/productpage'), 'echo-v2@bookinfo');
    assert.equal(pick(c, 'x.example.com', '/productpage'), 'echo-v1@wild');
    assert.equal(pick(c, 'x.example.com', '/other'), '404');
    assert.equal(pick(c, 'y.a.example.com', '/productpage'), 'echo-v3@wild');
  });

  void test("a route whose hostnames do not intersect a listener's does not attach to it", () => {
    const c = cfg([r('other', 'echo', ['shop.example.org'])]);
    assert.equal(c.tables.size, 0);
    assert.equal(pick(c, 'shop.example.org'), '404');
    const narrow = cfg([r('narrow', 'echo', ['reviews.example.com'])]);
    assert.equal(pick(narrow, 'reviews.example.com'), 'echo@wild');
    assert.equal(pick(narrow, 'ratings.example.com'), '404', 'listener matches, route does not');
    assert.equal(pick(narrow, 'bookinfo.example.com'), '404');
  });
});
