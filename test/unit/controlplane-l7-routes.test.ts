/** HTTPRoute / GRPCRoute / TCPRoute → waypoint routes: matches, filters, backends, timeouts, retries, problems. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  parseGatewayDuration,
  translateGrpcRoute,
  translateHttpRoute,
} from '../../src/controlplane/l7/routes.js';
import { routeParentStatuses } from '../../src/controlplane/l7/route-status.js';
import { translateTcpRoute } from '../../src/controlplane/l7/tcp-routes.js';
import type { GRPCRoute, HTTPRoute, TCPRoute } from '../../src/controlplane/model/routes-types.js';
import type { Gateway } from '../../src/controlplane/model/types.js';
import type { Service } from '../../src/k8s/types.js';
import { objects } from '../helpers/xds-manifests.js';

const svcs = objects(`
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: mesh}
spec: {clusterIP: 10.96.5.1, ports: [{name: http, port: 80}, {name: grpc, port: 7070, appProtocol: grpc}]}
---
apiVersion: v1
kind: Service
metadata: {name: echo-v1, namespace: mesh}
spec: {clusterIP: 10.96.5.2, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: echo-v2, namespace: mesh}
spec: {clusterIP: 10.96.5.3, ports: [{name: http, port: 8080}]}
`) as Service[];
const ctx = {
  domainSuffix: 'cluster.local',
  services: new Map(svcs.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s])),
};
const gws = new Map<string, Gateway>([
  [
    'mesh/waypoint',
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'waypoint', namespace: 'mesh' },
      spec: { gatewayClassName: 'istio-waypoint' },
    },
  ],
]);
const route = (yaml: string) => objects(yaml)[0] as HTTPRoute;

void test('durations (GEP-2257)', () => {
  assert.equal(parseGatewayDuration('1s'), 1000);
  assert.equal(parseGatewayDuration('500ms'), 500);
  assert.equal(parseGatewayDuration('1h30m'), 5_400_000);
  assert.equal(parseGatewayDuration('1m5s100ms'), 65_100);
  assert.equal(parseGatewayDuration('1.5s'), undefined);
  assert.equal(parseGatewayDuration(''), undefined);
  assert.equal(parseGatewayDuration('10'), undefined);
});

void test('a full HTTPRoute: parents, matches, filters, weighted backends, timeouts, retry', () => {
  const t = translateHttpRoute(
    route(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: split, namespace: mesh, generation: 3, creationTimestamp: "2026-12-01T10:00:00Z"}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, port: 80}]
  rules:
  - name: canary
    matches:
    - path: {type: PathPrefix, value: /v2}
      headers: [{name: x-version, value: "2"}, {type: RegularExpression, name: x-re, value: "^a.*"}]
      queryParams: [{name: q, value: "1"}]
      method: get
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-a, value: "1"}], add: [{name: x-b, value: "2"}], remove: [x-c]}
    - type: URLRewrite
      urlRewrite: {hostname: rewritten, path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}
    - type: RequestMirror
      requestMirror: {backendRef: {name: echo-v2, port: 8080}, percent: 50}
    backendRefs:
    - {name: echo-v1, port: 8080, weight: 70}
    - name: echo-v2
      port: 8080
      weight: 30
      filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: x-be, value: v2}]}}]
    timeouts: {request: 2s, backendRequest: 500ms}
    retry: {codes: [503], attempts: 3, backoff: 100ms}
  - matches: [{path: {type: Exact, value: /old}}]
    filters: [{type: RequestRedirect, requestRedirect: {scheme: https, hostname: new.example, port: 8443, statusCode: 301, path: {type: ReplaceFullPath, replaceFullPath: /new}}}]
`),
    ctx,
    gws,
  );
  assert.deepEqual(t.problems, {});
  assert.deepEqual(t.route.parents, [
    { kind: 'Service', service: 'mesh/echo.mesh.svc.cluster.local', port: 80 },
  ]);
  assert.equal(t.route.creationTimestampMs, Date.parse('2026-12-01T10:00:00Z'));
  const [r0, r1] = t.route.rules;
  assert.equal(r0?.name, 'canary');
  assert.deepEqual(r0?.matches, [
    {
      path: { type: 'PathPrefix', value: '/v2' },
      headers: [
        { type: 'Exact', name: 'x-version', value: '2' },
        { type: 'RegularExpression', name: 'x-re', value: '^a.*' },
      ],
      queryParams: [{ type: 'Exact', name: 'q', value: '1' }],
      method: 'GET',
    },
  ]);
  assert.deepEqual(r0?.filters, [
    {
      type: 'RequestHeaderModifier',
      requestHeaderModifier: {
        set: [{ name: 'x-a', value: '1' }],
        add: [{ name: 'x-b', value: '2' }],
        remove: ['x-c'],
      },
    },
    {
      type: 'URLRewrite',
      urlRewrite: { hostname: 'rewritten', path: { type: 'ReplacePrefixMatch', value: '/' } },
    },
    {
      type: 'RequestMirror',
      requestMirror: {
        backend: { service: 'mesh/echo-v2.mesh.svc.cluster.local', port: 8080 },
        percent: 50,
      },
    },
  ]);
  assert.deepEqual(r0?.backends, [
    { kind: 'service', service: 'mesh/echo-v1.mesh.svc.cluster.local', port: 8080, weight: 70 },
    {
      kind: 'service',
      service: 'mesh/echo-v2.mesh.svc.cluster.local',
      port: 8080,
      weight: 30,
      filters: [
        {
          type: 'ResponseHeaderModifier',
          responseHeaderModifier: { set: [{ name: 'x-be', value: 'v2' }] },
        },
      ],
    },
  ]);
  assert.deepEqual(r0?.timeouts, { requestMs: 2000, backendRequestMs: 500 });
  assert.deepEqual(r0?.retry, { codes: [503], attempts: 3, backoffMs: 100 });
  assert.deepEqual(r1?.filters, [
    {
      type: 'RequestRedirect',
      requestRedirect: {
        scheme: 'https',
        hostname: 'new.example',
        path: { type: 'ReplaceFullPath', value: '/new' },
        port: 8443,
        statusCode: 301,
      },
    },
  ]);
  assert.deepEqual(r1?.backends, []);
  assert.deepEqual(t.referenced, [
    'mesh/echo-v1.mesh.svc.cluster.local',
    'mesh/echo-v2.mesh.svc.cluster.local',
  ]);
  const st = routeParentStatuses(t, undefined, '2026-12-01T00:00:00Z');
  assert.deepEqual(
    st[0]?.conditions.map((c) => `${c.type}=${c.status}/${c.reason}/${c.observedGeneration}`),
    ['Accepted=True/Accepted/3', 'ResolvedRefs=True/ResolvedRefs/3'],
  );
  assert.equal(st[0]?.controllerName, 'istio.io/gateway-controller');
});

void test('missing backend, missing port, cross-namespace and bad kind become invalid backends', () => {
  const t = translateHttpRoute(
    route(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: broken, namespace: mesh}
spec:
  parentRefs: [{group: "", kind: Service, name: echo}]
  rules:
  - backendRefs:
    - {name: nope, port: 80, weight: 1}
    - {name: echo-v1, weight: 2}
    - {name: echo-v1, port: 9999}
    - {name: echo-v1, namespace: other, port: 8080}
    - {group: example.com, kind: Thing, name: x}
    - {name: echo-v2, port: 8080, weight: 5}
`),
    ctx,
    gws,
  );
  const b = t.route.rules[0]!.backends;
  assert.deepEqual(
    b.map((x) => x.kind),
    ['invalid', 'invalid', 'invalid', 'invalid', 'invalid', 'service'],
  );
  assert.equal(b[0]?.weight, 1);
  assert.equal(b[1]?.weight, 2);
  assert.match(b[0]?.kind === 'invalid' ? b[0].reason : '', /service mesh\/nope not found/);
  assert.match(b[1]?.kind === 'invalid' ? b[1].reason : '', /port is required/);
  assert.match(b[2]?.kind === 'invalid' ? b[2].reason : '', /has no port 9999/);
  assert.match(b[3]?.kind === 'invalid' ? b[3].reason : '', /not permitted/);
  assert.equal(t.problems.accepted, undefined, 'a bad backend does not reject the route');
  assert.equal(t.problems.refs?.reason, 'BackendNotFound');
  const st = routeParentStatuses(t, undefined);
  assert.deepEqual(
    st[0]?.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`),
    ['Accepted=True/Accepted', 'ResolvedRefs=False/BackendNotFound'],
  );
});

void test('an invalid regex or unsupported filter rejects the route; bad parents are reported', () => {
  const t = translateHttpRoute(
    route(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bad-re, namespace: mesh}
spec:
  parentRefs:
  - {group: "", kind: Service, name: echo}
  - {group: "", kind: Service, name: ghost}
  - {group: "", kind: Service, name: echo, namespace: elsewhere}
  - {name: waypoint}
  rules:
  - matches: [{path: {type: RegularExpression, value: "/a(b"}}]
    backendRefs: [{name: echo-v1, port: 8080}]
`),
    ctx,
    gws,
  );
  assert.equal(t.problems.accepted?.reason, 'UnsupportedValue');
  assert.match(
    t.problems.accepted!.message,
    /spec\.rules\[0\]\.matches\[0\]\.path: invalid regex "\/a\(b"/,
  );
  assert.deepEqual(
    t.parents.map((p) => p.problem?.reason ?? 'ok'),
    ['ok', 'NoMatchingParent', 'NotAllowedByListeners', 'ok'],
  );
  assert.deepEqual(t.route.parents, [
    { kind: 'Service', service: 'mesh/echo.mesh.svc.cluster.local' },
    { kind: 'Gateway' },
  ]);
  const st = routeParentStatuses(t, undefined);
  assert.deepEqual(
    st.map((s) => s.conditions[0]!.reason),
    ['UnsupportedValue', 'NoMatchingParent', 'NotAllowedByListeners', 'UnsupportedValue'],
  );

  const ext = translateHttpRoute(
    route(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ext, namespace: mesh}
spec:
  parentRefs: [{group: "", kind: Service, name: echo}]
  rules: [{filters: [{type: ExtensionRef, extensionRef: {group: x, kind: y, name: z}}], backendRefs: [{name: echo-v1, port: 8080}]}]
`),
    ctx,
    gws,
  );
  assert.match(ext.problems.accepted?.message ?? '', /filter type "ExtensionRef" is not supported/);

  const dur = translateHttpRoute(
    route(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: dur, namespace: mesh}
spec:
  parentRefs: [{group: "", kind: Service, name: echo}]
  rules: [{timeouts: {request: 1.5s}, backendRefs: [{name: echo-v1, port: 8080}]}]
`),
    ctx,
    gws,
  );
  assert.match(
    dur.problems.accepted?.message ?? '',
    /timeouts\.request: "1\.5s" is not a duration/,
  );
});

void test('GRPCRoute: method and header matches, header filters, weights', () => {
  const g = objects(`
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: grpc, namespace: mesh}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, port: 7070}]
  rules:
  - matches:
    - method: {service: proto.EchoTestService, method: Echo}
      headers: [{name: x-env, value: canary}]
    - method: {type: RegularExpression, method: "For.*"}
    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {add: [{name: x-g, value: "1"}]}}]
    backendRefs: [{name: echo-v1, port: 8080, weight: 1}, {name: echo-v2, port: 8080, weight: 1}]
`)[0] as GRPCRoute;
  const t = translateGrpcRoute(g, ctx, gws);
  assert.deepEqual(t.problems, {});
  assert.deepEqual(t.route.rules[0]?.matches, [
    {
      method: { type: 'Exact', service: 'proto.EchoTestService', method: 'Echo' },
      headers: [{ type: 'Exact', name: 'x-env', value: 'canary' }],
    },
    { method: { type: 'RegularExpression', method: 'For.*' } },
  ]);
  assert.equal(t.route.rules[0]?.filters[0]?.type, 'RequestHeaderModifier');
  assert.equal(t.route.rules[0]?.backends.length, 2);

  const bad = translateGrpcRoute(
    {
      ...g,
      spec: {
        ...g.spec,
        rules: [{ matches: [{ method: {} }], filters: [{ type: 'URLRewrite', urlRewrite: {} }] }],
      },
    },
    ctx,
    gws,
  );
  assert.match(bad.problems.accepted?.message ?? '', /one of service or method is required/);
});

void test('TCPRoute: one rule of weighted backends; more rules or none reject it', () => {
  const tcp = (yaml: string) => translateTcpRoute(objects(yaml)[0] as TCPRoute, ctx, gws);
  const t = tcp(`
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: shift, namespace: mesh, creationTimestamp: "2026-01-02T03:04:05Z"}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, port: 80}]
  rules:
  - backendRefs:
    - {name: echo-v1, port: 8080, weight: 80}
    - {name: echo-v2, port: 8080, weight: 20}
    - {name: nope, port: 1}
`);
  assert.equal(t.kind, 'TCPRoute');
  assert.deepEqual(t.route.parents, [
    { kind: 'Service', service: 'mesh/echo.mesh.svc.cluster.local', port: 80 },
  ]);
  assert.equal(t.route.creationTimestampMs, Date.parse('2026-01-02T03:04:05Z'));
  assert.deepEqual(t.route.backends.slice(0, 2), [
    { kind: 'service', service: 'mesh/echo-v1.mesh.svc.cluster.local', port: 8080, weight: 80 },
    { kind: 'service', service: 'mesh/echo-v2.mesh.svc.cluster.local', port: 8080, weight: 20 },
  ]);
  assert.equal(t.route.backends[2]?.kind, 'invalid');
  assert.equal(t.problems.accepted, undefined);
  assert.equal(t.problems.refs?.reason, 'BackendNotFound');
  assert.deepEqual(t.referenced, [
    'mesh/echo-v1.mesh.svc.cluster.local',
    'mesh/echo-v2.mesh.svc.cluster.local',
  ]);

  const two = tcp(`
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: two, namespace: mesh}
spec:
  parentRefs: [{group: "", kind: Service, name: echo}]
  rules: [{backendRefs: [{name: echo-v1, port: 8080}]}, {backendRefs: [{name: echo-v2, port: 8080}]}]
`);
  assert.equal(two.problems.accepted?.reason, 'UnsupportedValue');
  assert.match(two.problems.accepted?.message ?? '', /one rule, this one has 2/);
  const none = tcp(`
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata: {name: none, namespace: mesh}
spec: {parentRefs: [{group: "", kind: Service, name: echo}], rules: [{}]}
`);
  assert.match(none.problems.accepted?.message ?? '', /at least one backend/);
  assert.deepEqual(
    routeParentStatuses(none, undefined)[0]?.conditions.map((c) => `${c.type}=${c.status}`),
    ['Accepted=False', 'ResolvedRefs=True'],
  );
});
