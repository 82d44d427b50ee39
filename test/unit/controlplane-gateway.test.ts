/** What the control plane deploys for a Gateway and the status it writes (docs/istio/waypoint.md §1.1, §1.3). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLASSES, classOf } from '../../src/controlplane/gateway/classes.js';
import { gatewayObjects } from '../../src/controlplane/gateway/objects.js';
import {
  gatewayStatus,
  statusChanged,
  WAYPOINT_LISTENER_MESSAGE,
} from '../../src/controlplane/gateway/status.js';
import type { Gateway } from '../../src/controlplane/model/types.js';

const waypoint: Gateway = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: { name: 'waypoint', namespace: 'default', uid: 'gw-uid', generation: 1 },
  spec: {
    gatewayClassName: 'istio-waypoint',
    listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
  },
};
const wpClass = CLASSES['istio-waypoint']!;

void test('a waypoint Gateway gives an owned ServiceAccount, Deployment and Service', () => {
  const o = gatewayObjects(waypoint, wpClass);
  for (const obj of [o.serviceAccount, o.deployment, o.service]) {
    assert.equal(obj.metadata.name, 'waypoint');
    assert.equal(obj.metadata.namespace, 'default');
    assert.deepEqual(obj.metadata.ownerReferences, [
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        name: 'waypoint',
        uid: 'gw-uid',
        controller: true,
      },
    ]);
    assert.equal(obj.metadata.labels?.['gateway.networking.k8s.io/gateway-name'], 'waypoint');
    assert.equal(obj.metadata.annotations?.['ambit.dev/gateway-spec-hash'], o.hash);
  }
  const spec = o.deployment.spec as {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        serviceAccountName: string;
        containers: { image: string; args: string[]; readinessProbe: unknown; env?: unknown }[];
      };
    };
  };
  assert.deepEqual(spec.selector.matchLabels, {
    'gateway.networking.k8s.io/gateway-name': 'waypoint',
  });
  const labels = spec.template.metadata.labels;
  assert.equal(labels['istio.io/dataplane-mode'], 'none');
  assert.equal(labels['gateway.istio.io/managed'], 'istio.io-mesh-controller');
  assert.equal(spec.template.spec.serviceAccountName, 'waypoint');
  const c = spec.template.spec.containers[0]!;
  assert.equal(c.image, 'ambit/waypoint');
  assert.deepEqual(c.args, [
    '--kind',
    'waypoint',
    '--name',
    'waypoint',
    '--namespace',
    'default',
    '--xds',
    'istiod.istio-system.svc:15012',
    '--ca',
    'istiod.istio-system.svc:15012',
  ]);
  assert.deepEqual(c.readinessProbe, { httpGet: { path: '/healthz/ready', port: 15021 } });
  // The proxy runtime of ztunnel: a small young generation, two malloc arenas.
  assert.deepEqual(c.env, [
    { name: 'NODE_OPTIONS', value: '--max-semi-space-size=2' },
    { name: 'MALLOC_ARENA_MAX', value: '2' },
  ]);
  const svc = o.service.spec as { type: string; ports: { name: string; port: number }[] };
  assert.equal(svc.type, 'ClusterIP');
  assert.deepEqual(
    svc.ports.map((p) => `${p.name}:${p.port}`),
    ['status-port:15021', 'mesh:15008'],
  );
  // Same input, same hash; a changed Gateway, a new hash.
  assert.equal(gatewayObjects(waypoint, wpClass).hash, o.hash);
  const relabelled = {
    ...waypoint,
    spec: { ...waypoint.spec, infrastructure: { labels: { team: 'a' } } },
  };
  assert.notEqual(gatewayObjects(relabelled, wpClass).hash, o.hash);
});

void test('an ingress Gateway (class istio) is deployed as <name>-istio with its listener ports', () => {
  const gw: Gateway = {
    ...waypoint,
    metadata: {
      name: 'bookinfo-gateway',
      namespace: 'default',
      uid: 'u2',
      annotations: { 'networking.istio.io/service-type': 'ClusterIP' },
    },
    spec: {
      gatewayClassName: 'istio',
      listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }],
    },
  };
  const info = classOf('istio')!;
  const o = gatewayObjects(gw, info);
  assert.equal(o.deployment.metadata.name, 'bookinfo-gateway-istio');
  const svc = o.service.spec as { type: string; ports: { name: string; port: number }[] };
  assert.equal(svc.type, 'ClusterIP', 'the service-type annotation wins');
  assert.deepEqual(
    svc.ports.map((p) => `${p.name}:${p.port}`),
    ['status-port:15021', 'http:80'],
  );
  const noAnno = gatewayObjects({ ...gw, metadata: { ...gw.metadata, annotations: {} } }, info);
  assert.equal((noAnno.service.spec as { type: string }).type, 'LoadBalancer');
  assert.equal(classOf('other'), undefined);
});

void test('status: Programmed only with a ready pod, then addresses IP and hostname', () => {
  const pending = gatewayStatus(waypoint, wpClass, { clusterIP: '10.96.1.5', readyPods: 0 });
  assert.equal(pending.addresses, undefined);
  const cond = (s: typeof pending, t: string) => s.conditions?.find((c) => c.type === t);
  assert.equal(cond(pending, 'Accepted')?.status, 'True');
  assert.equal(cond(pending, 'Programmed')?.status, 'False');
  assert.equal(cond(pending, 'Programmed')?.reason, 'Pending');

  const ready = gatewayStatus(waypoint, wpClass, { clusterIP: '10.96.1.5', readyPods: 1 });
  assert.deepEqual(ready.addresses, [
    { type: 'IPAddress', value: '10.96.1.5' },
    { type: 'Hostname', value: 'waypoint.default.svc.cluster.local' },
  ]);
  assert.equal(cond(ready, 'Programmed')?.status, 'True');
  assert.equal(
    cond(ready, 'Programmed')?.message,
    'Resource programmed, assigned to service(s) waypoint.default.svc.cluster.local:15008',
  );
  assert.equal(cond(ready, 'Programmed')?.observedGeneration, 1);
  const l = ready.listeners?.[0];
  assert.equal(l?.name, 'mesh');
  assert.deepEqual(
    l?.supportedKinds.map((k) => k.kind),
    ['HTTPRoute', 'GRPCRoute'],
  );
  assert.equal(l?.conditions.find((c) => c.type === 'Accepted')?.status, 'True');

  // Only transition times differ: not a change worth writing.
  const again = gatewayStatus(
    { ...waypoint, status: ready },
    wpClass,
    { clusterIP: '10.96.1.5', readyPods: 1 },
    'cluster.local',
    '2030-01-01T00:00:00Z',
  );
  assert.equal(statusChanged(ready, again), false);
  assert.equal(statusChanged(pending, ready), true);
});

void test('status: a waypoint listener other than 15008/HBONE is not accepted (Istio reason)', () => {
  const bad: Gateway = {
    ...waypoint,
    spec: {
      gatewayClassName: 'istio-waypoint',
      listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }],
    },
  };
  const s = gatewayStatus(bad, wpClass, { clusterIP: '10.96.1.5', readyPods: 1 });
  assert.equal(s.addresses, undefined, 'an invalid waypoint gets no address, so binds nothing');
  const lc = s.listeners?.[0]?.conditions.find((c) => c.type === 'Accepted');
  assert.equal(lc?.status, 'False');
  assert.equal(lc?.reason, 'UnsupportedProtocol');
  assert.equal(lc?.message, WAYPOINT_LISTENER_MESSAGE);
  const gc = s.conditions?.find((c) => c.type === 'Accepted');
  assert.equal(gc?.status, 'False');
  assert.equal(gc?.reason, 'ListenersNotValid');
  assert.equal(s.conditions?.find((c) => c.type === 'Programmed')?.status, 'False');
});

void test("status: an ingress Gateway's addresses are Istio's shape (hostname, or the load balancer's)", () => {
  const gw: Gateway = {
    ...waypoint,
    metadata: { name: 'bookinfo-gateway', namespace: 'default', uid: 'u3', generation: 1 },
    spec: { gatewayClassName: 'istio', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] },
  };
  const info = classOf('istio')!;
  // ClusterIP (the guide's annotation): only the hostname, as `kubectl get gateway` shows it.
  const cip = gatewayStatus(gw, info, { clusterIP: '10.96.1.12', readyPods: 1 });
  assert.deepEqual(cip.addresses, [
    { type: 'Hostname', value: 'bookinfo-gateway-istio.default.svc.cluster.local' },
  ]);
  // A LoadBalancer with ingress addresses: those, in the Service's order, and no ClusterIP.
  const lb = gatewayStatus(gw, info, {
    clusterIP: '10.96.1.12',
    readyPods: 1,
    loadBalancer: [{ ip: '172.18.255.200' }, { hostname: 'lb.example.com' }],
  });
  assert.deepEqual(lb.addresses, [
    { type: 'IPAddress', value: '172.18.255.200' },
    { type: 'Hostname', value: 'lb.example.com' },
  ]);
  assert.equal(lb.conditions?.find((c) => c.type === 'Programmed')?.status, 'True');
  // Not ready yet: no address at all.
  assert.equal(
    gatewayStatus(gw, info, { clusterIP: '10.96.1.12', readyPods: 0 }).addresses,
    undefined,
  );
});
