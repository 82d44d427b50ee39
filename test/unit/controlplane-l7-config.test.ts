/**
 * The WaypointConfig each waypoint gets: served services with endpoints, backends, workloads,
 * attached routes, placed L7 policies and their WaypointAccepted reports; and the xDS codec.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attachedRoutes } from '../../src/controlplane/gateway/attachment.js';
import { classOf } from '../../src/controlplane/gateway/classes.js';
import { gatewayStatus } from '../../src/controlplane/gateway/status.js';
import { buildWaypointConfigs } from '../../src/controlplane/l7/config.js';
import { buildModel, defaultModelOptions } from '../../src/controlplane/model/index.js';
import {
  decodeWaypointConfig,
  encodeWaypointConfig,
  WAYPOINT_CONFIG_TYPE,
} from '../../src/xds/waypoint-codec.js';
import { snapshotOf } from '../helpers/xds-manifests.js';

const mesh = `
apiVersion: v1
kind: Namespace
metadata: {name: mesh, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}}
---
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: mesh, labels: {istio.io/waypoint-for: all}}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
status: {addresses: [{type: IPAddress, value: 10.96.9.1}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: other, namespace: mesh}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
status: {addresses: [{type: IPAddress, value: 10.96.9.2}]}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: mesh}
spec: {clusterIP: 10.96.5.1, selector: {app: echo}, ports: [{name: http, port: 80, targetPort: 8080}, {name: grpc, port: 7070}]}
---
apiVersion: v1
kind: Service
metadata: {name: echo-v2, namespace: mesh, labels: {istio.io/use-waypoint: other}}
spec: {clusterIP: 10.96.5.3, selector: {app: echo, version: v2}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-v1-abc, namespace: mesh, labels: {app: echo, version: v1}, annotations: {ambient.istio.io/redirection: enabled}}
spec: {nodeName: worker, serviceAccountName: echo, containers: [{name: c, image: ambit/httpbin}]}
status: {phase: Running, podIP: 10.244.1.10, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-v2-def, namespace: mesh, labels: {app: echo, version: v2}, annotations: {ambient.istio.io/redirection: enabled}}
spec: {nodeName: worker2, serviceAccountName: echo, containers: [{name: c, image: ambit/httpbin}]}
status: {phase: Running, podIP: 10.244.2.10, conditions: [{type: Ready, status: "False"}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: to-v2, namespace: mesh}
spec:
  parentRefs: [{group: "", kind: Service, name: echo}]
  rules: [{backendRefs: [{name: echo-v2, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bad-regex, namespace: mesh}
spec:
  parentRefs: [{group: "", kind: Service, name: echo}]
  rules: [{matches: [{path: {type: RegularExpression, value: "("}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: gw-deny, namespace: mesh}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  action: DENY
  rules: [{to: [{operation: {methods: [DELETE], ports: [80]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: svc-allow, namespace: mesh}
spec:
  targetRefs: [{kind: Service, group: "", name: echo}]
  rules: [{from: [{source: {principals: [cluster.local/ns/mesh/sa/sleep]}}], when: [{key: "request.headers[x-a]", values: ["1"]}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: class-wide, namespace: istio-system}
spec:
  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]
  action: DENY
  rules: [{to: [{operation: {paths: [/admin/*]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: class-wrong-ns, namespace: mesh}
spec:
  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: missing, namespace: mesh}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: nope}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: selector-only, namespace: mesh}
spec: {selector: {matchLabels: {app: echo}}}
`;

function build() {
  const snap = snapshotOf(mesh);
  const model = buildModel(snap);
  return buildWaypointConfigs(snap, model, defaultModelOptions);
}

void test('each waypoint serves the services bound to it, with endpoints and backends', () => {
  const { configs } = build();
  const wp = configs.get('mesh/waypoint');
  assert.ok(wp);
  assert.deepEqual(wp.waypoint, {
    name: 'waypoint',
    namespace: 'mesh',
    trustDomain: 'cluster.local',
    identity: 'spiffe://cluster.local/ns/mesh/sa/waypoint',
    trafficType: 'all',
  });
  assert.deepEqual(
    wp.services.map((s) => `${s.name}:${s.serves}`),
    ['echo:true', 'echo-v2:false'],
    'echo-v2 is bound to the other waypoint, but is a backend of a route here',
  );
  const echo = wp.services[0]!;
  assert.deepEqual(echo.vips, ['10.96.5.1']);
  assert.deepEqual(echo.ports, [
    { port: 80, name: 'http', protocol: 'HTTP' },
    { port: 7070, name: 'grpc', protocol: 'GRPC' },
  ]);
  assert.deepEqual(
    echo.endpoints.map((e) => `${e.address}/${e.healthy}/${e.tunnel}/${e.app}/${e.version}`),
    ['10.244.1.10/true/HBONE/echo/v1', '10.244.2.10/false/HBONE/echo/v2'],
  );
  assert.deepEqual(echo.endpoints[0]?.targetPorts, [
    { servicePort: 80, targetPort: 8080 },
    { servicePort: 7070, targetPort: 7070 },
  ]);
  assert.equal(echo.endpoints[0]?.identity, 'spiffe://cluster.local/ns/mesh/sa/echo');
  // waypoint-for all: the namespace's pods are served for workload traffic too.
  assert.deepEqual(
    wp.workloads.filter((w) => w.serves).map((w) => w.name),
    ['echo-v1-abc', 'echo-v2-def'],
  );
  const other = configs.get('mesh/other')!;
  assert.deepEqual(
    other.services.map((s) => `${s.name}:${s.serves}`),
    ['echo-v2:true'],
  );
  assert.deepEqual(
    other.workloads.filter((w) => w.serves),
    [],
    'a service waypoint serves no workloads',
  );
});

void test('only accepted routes attached to served services are sent', () => {
  const { configs, routes } = build();
  const wp = configs.get('mesh/waypoint')!;
  assert.deepEqual(
    wp.httpRoutes.map((r) => r.name),
    ['to-v2'],
  );
  assert.equal(configs.get('mesh/other')!.httpRoutes.length, 0);
  const bad = routes.find((r) => r.name === 'bad-regex');
  assert.equal(bad?.problems.accepted?.reason, 'UnsupportedValue');
});

void test('L7 policies: Gateway, Service and GatewayClass targets, with WaypointAccepted reports', () => {
  const { configs, policyReports } = build();
  const wp = configs.get('mesh/waypoint')!;
  assert.deepEqual(
    wp.authorizationPolicies.map((p) => `${p.namespace}/${p.name}:${p.action}:${p.target.kind}`),
    [
      'istio-system/class-wide:DENY:GatewayClass',
      'mesh/gw-deny:DENY:Gateway',
      'mesh/svc-allow:ALLOW:Service',
    ],
  );
  const deny = wp.authorizationPolicies.find((p) => p.name === 'gw-deny')!;
  assert.deepEqual(deny.rules, [{ to: [{ methods: ['DELETE'], ports: ['80'] }] }]);
  const allow = wp.authorizationPolicies.find((p) => p.name === 'svc-allow')!;
  assert.deepEqual(allow.target, { kind: 'Service', service: 'mesh/echo.mesh.svc.cluster.local' });
  assert.deepEqual(allow.rules[0]?.when, [{ key: 'request.headers[x-a]', values: ['1'] }]);
  assert.deepEqual(
    configs.get('mesh/other')!.authorizationPolicies.map((p) => p.name),
    ['class-wide'],
  );
  const r = Object.fromEntries(policyReports.map((x) => [x.name, x]));
  assert.equal(r['gw-deny']?.reason, 'Accepted');
  assert.equal(r['gw-deny']?.conditionType, 'WaypointAccepted');
  assert.equal(r['class-wrong-ns']?.reason, 'InvalidValue');
  assert.match(r['class-wrong-ns']!.message, /root namespace istio-system/);
  assert.equal(r.missing?.reason, 'TargetNotFound');
  assert.equal(r['selector-only'], undefined, 'selector policies are ztunnel business');
});

void test('the config survives the xDS codec; the version follows the content', () => {
  const a = build().configs.get('mesh/waypoint')!;
  const b = build().configs.get('mesh/waypoint')!;
  assert.equal(a.version, b.version);
  assert.deepEqual(decodeWaypointConfig(encodeWaypointConfig(a)), a);
  assert.throws(() => decodeWaypointConfig(new Uint8Array([0x0a, 0x01, 0x78])), /schema "x"/);
  assert.throws(
    () => decodeWaypointConfig(encodeWaypointConfig({ ...a, services: undefined } as never)),
    /services is not a list/,
  );
  const bytes = WAYPOINT_CONFIG_TYPE.encode(a);
  assert.equal(WAYPOINT_CONFIG_TYPE.name(a), 'mesh/waypoint');
  assert.deepEqual(WAYPOINT_CONFIG_TYPE.decode(bytes, 'mesh/waypoint'), a);
  assert.throws(
    () => WAYPOINT_CONFIG_TYPE.decode(bytes, 'mesh/other'),
    /resource mesh\/other holds mesh\/waypoint/,
  );
});

void test('an ingress Gateway (class istio) gets its listeners and the routes with it as parent', () => {
  const ingress = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: mesh}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bookinfo, namespace: mesh}
spec:
  parentRefs: [{name: bookinfo-gateway}]
  hostnames: [bookinfo.example]
  rules: [{matches: [{path: {type: Exact, value: /productpage}}], backendRefs: [{name: echo, port: 80}]}]
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: foreign, namespace: other}
spec:
  parentRefs: [{name: bookinfo-gateway, namespace: mesh}]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
`;
  const snap = snapshotOf(mesh, ingress);
  const { configs, routes } = buildWaypointConfigs(snap, buildModel(snap), defaultModelOptions);
  const gw = configs.get('mesh/bookinfo-gateway');
  assert.ok(gw);
  assert.equal(gw.waypoint.role, 'ingress');
  assert.equal(gw.waypoint.trafficType, 'none');
  assert.equal(gw.waypoint.identity, 'spiffe://cluster.local/ns/mesh/sa/bookinfo-gateway-istio');
  assert.deepEqual(gw.waypoint.listeners, [{ name: 'http', port: 80, protocol: 'HTTP' }]);
  assert.deepEqual(
    gw.httpRoutes.map((r) => `${r.name}:${(r.hostnames ?? []).join(',')}`),
    ['bookinfo:bookinfo.example'],
  );
  assert.deepEqual(
    gw.services.map((s) => `${s.name}:${s.serves}`),
    ['echo:false'],
  );
  assert.deepEqual(
    gw.authorizationPolicies.map((p) => p.name),
    [],
    'the GatewayClass istio-waypoint policy is not for ingress gateways',
  );
  const foreign = routes.find((r) => r.name === 'foreign');
  assert.equal(foreign?.parents[0]?.problem?.reason, 'NotAllowedByListeners');
  assert.equal(configs.get('mesh/waypoint')?.waypoint.role, undefined);
});

void test('istio.io/ingress-use-waypoint=true: the ingress gets the service waypoint pods', () => {
  const extra = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: mesh}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: in, namespace: mesh}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: waypoint, namespace: mesh}
spec: {clusterIP: 10.96.5.9, selector: {gateway.networking.k8s.io/gateway-name: waypoint}, ports: [{name: mesh, port: 15008}]}
---
apiVersion: v1
kind: Pod
metadata: {name: waypoint-abc, namespace: mesh, labels: {gateway.networking.k8s.io/gateway-name: waypoint, istio.io/dataplane-mode: none}}
spec: {nodeName: worker, serviceAccountName: waypoint, containers: [{name: c, image: ambit/waypoint}]}
status: {phase: Running, podIP: 10.244.1.20, conditions: [{type: Ready, status: "True"}]}
`;
  const backend = (labelled: boolean) => {
    const snap = snapshotOf(mesh, extra);
    if (labelled) {
      const echo = snap.services.find((s) => s.metadata.name === 'echo')!;
      echo.metadata.labels = { ...echo.metadata.labels, 'istio.io/ingress-use-waypoint': 'true' };
    }
    const { configs } = buildWaypointConfigs(snap, buildModel(snap), defaultModelOptions);
    return configs.get('mesh/gw')?.services.find((s) => s.name === 'echo');
  };
  assert.equal(backend(false)?.waypoint, undefined);
  const via = backend(true)?.waypoint ?? [];
  assert.deepEqual(
    via.map((e) => `${e.address} ${e.identity}`),
    ['10.244.1.20 spiffe://cluster.local/ns/mesh/sa/waypoint'],
  );
});

void test('a TCPRoute on a served service reaches its waypoint with its backends, and only there', () => {
  const tcp = `
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: shift, namespace: mesh}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, port: 7070}]
  rules: [{backendRefs: [{name: echo, port: 7070, weight: 1}, {name: echo-v2, port: 8080, weight: 3}]}]
`;
  const snap = snapshotOf(mesh, tcp);
  const { configs, routes } = buildWaypointConfigs(snap, buildModel(snap), defaultModelOptions);
  const wp = configs.get('mesh/waypoint');
  assert.deepEqual(
    wp?.tcpRoutes?.map((r) => [r.name, r.backends.map((b) => b.weight)]),
    [['shift', [1, 3]]],
  );
  assert.ok(
    wp?.services.some((s) => s.name === 'echo-v2' && !s.serves),
    'the backend service is in the config to be dialled',
  );
  assert.equal(configs.get('mesh/other')?.tcpRoutes, undefined);
  assert.equal(routes.find((r) => r.name === 'shift')?.kind, 'TCPRoute');
  const back = decodeWaypointConfig(encodeWaypointConfig(wp!));
  assert.deepEqual(back.tcpRoutes, wp?.tcpRoutes);
});

void test('an ingress Gateway TCP listener: its TCPRoute attaches there only; status per listener', () => {
  const ingress = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: mesh}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP, hostname: web.example}
  - {name: tcp-31400, port: 31400, protocol: TCP, hostname: ignored.example}
  - {name: tls, port: 8443, protocol: TLS, tls: {mode: Passthrough}}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: tcp-echo, namespace: mesh}
spec:
  parentRefs: [{name: gw, sectionName: tcp-31400}]
  rules: [{backendRefs: [{name: echo-v1, port: 8080, weight: 80}, {name: echo-v2, port: 8080, weight: 20}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: mesh}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: on-tcp, namespace: mesh}
spec:
  parentRefs: [{name: gw, sectionName: tcp-31400}]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: nowhere, namespace: mesh}
spec:
  parentRefs: [{name: gw, sectionName: nope}]
  rules: [{backendRefs: [{name: echo-v1, port: 8080}]}]
`;
  const snap = snapshotOf(mesh, ingress);
  const { configs, routes } = buildWaypointConfigs(snap, buildModel(snap), defaultModelOptions);
  const gw = configs.get('mesh/gw');
  assert.deepEqual(gw?.waypoint.listeners, [
    { name: 'http', port: 80, protocol: 'HTTP', hostname: 'web.example' },
    { name: 'tcp-31400', port: 31400, protocol: 'TCP' },
  ]);
  assert.deepEqual(
    gw?.tcpRoutes?.map((r) => [r.name, r.parents, r.backends.map((b) => b.weight)]),
    [['tcp-echo', [{ kind: 'Gateway', sectionName: 'tcp-31400' }], [80, 20]]],
  );
  assert.deepEqual(
    gw?.httpRoutes.map((r) => r.name),
    ['web'],
  );
  assert.ok(gw?.services.some((s) => s.name === 'echo-v2' && !s.serves));
  const problem = (n: string) => {
    const p = routes.find((r) => r.name === n)?.parents[0]?.problem;
    return p ? `${p.reason}: ${p.message}` : 'attached';
  };
  assert.equal(problem('tcp-echo'), 'attached');
  assert.equal(
    problem('on-tcp'),
    'NotAllowedByListeners: no listener named tcp-31400 of gateway mesh/gw takes HTTPRoutes',
  );
  assert.equal(problem('nowhere'), 'NoMatchingParent: gateway mesh/gw has no listener named nope');
  const g = snap.gateways.find((x) => x.metadata.name === 'gw')!;
  assert.deepEqual(attachedRoutes(g, routes), { http: 1, 'tcp-31400': 1, tls: 0 });
  const st = gatewayStatus(g, classOf('istio')!, {
    clusterIP: '10.96.0.9',
    readyPods: 1,
    attachedRoutes: attachedRoutes(g, routes),
  });
  const l = (n: string) => st.listeners?.find((x) => x.name === n);
  assert.deepEqual(
    l('tcp-31400')?.supportedKinds.map((k) => k.kind),
    ['TCPRoute'],
  );
  assert.equal(l('tcp-31400')?.attachedRoutes, 1);
  assert.equal(l('tcp-31400')?.conditions.find((c) => c.type === 'Accepted')?.status, 'True');
  assert.deepEqual(
    l('http')?.supportedKinds.map((k) => k.kind),
    ['HTTPRoute', 'GRPCRoute'],
  );
  // TLS passthrough needs TLSRoute, which is not read.
  assert.equal(
    l('tls')?.conditions.find((c) => c.type === 'Accepted')?.reason,
    'UnsupportedProtocol',
  );
});

void test('an ingress Gateway: a route attaches to the listeners whose hostname and allowedRoutes admit it', () => {
  const ingress = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: mesh}
spec:
  gatewayClassName: istio
  listeners:
  - {name: wild, port: 80, protocol: HTTP, hostname: "*.example.com"}
  - {name: other, port: 8080, protocol: HTTP, hostname: other.test}
  - name: open
    port: 9090
    protocol: HTTP
    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: shop}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: foo, namespace: mesh}
spec:
  parentRefs: [{name: gw}]
  hostnames: [FOO.example.com]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: nope, namespace: mesh}
spec:
  parentRefs: [{name: gw, sectionName: wild}]
  hostnames: [example.com, nope.org]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: foreign, namespace: shop}
spec:
  parentRefs: [{name: gw, namespace: mesh, sectionName: other}]
  rules: [{backendRefs: [{name: echo, namespace: mesh, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: shop}
spec:
  parentRefs: [{name: gw, namespace: mesh}]
  hostnames: ["*.example.com"]
  rules: [{backendRefs: [{name: echo, namespace: mesh, port: 80}]}]
`;
  const snap = snapshotOf(mesh, ingress);
  const { routes } = buildWaypointConfigs(snap, buildModel(snap), defaultModelOptions);
  const problem = (n: string) => {
    const p = routes.find((r) => r.name === n)?.parents[0]?.problem;
    return p ? `${p.reason}: ${p.message}` : 'attached';
  };
  const listeners = (n: string) => routes.find((r) => r.name === n)?.parents[0]?.listeners;
  // The wildcard listener and the one without hostname (same namespace is not its Selector's).
  assert.equal(problem('foo'), 'attached');
  assert.deepEqual(listeners('foo'), ['wild']);
  assert.equal(
    problem('nope'),
    'NoMatchingListenerHostname: no listener named wild of gateway mesh/gw has a hostname that intersects example.com, nope.org',
  );
  assert.equal(
    problem('foreign'),
    'NotAllowedByListeners: no listener named other of gateway mesh/gw allows HTTPRoutes from namespace shop',
  );
  // From shop, only `open` admits it (Selector team=shop); it has no hostname to intersect.
  assert.equal(problem('shop'), 'attached');
  assert.deepEqual(listeners('shop'), ['open']);
  const g = snap.gateways.find((x) => x.metadata.name === 'gw')!;
  assert.deepEqual(attachedRoutes(g, routes), { wild: 1, other: 0, open: 1 });
});
