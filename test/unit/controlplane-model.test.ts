/** The workload/service model from hand-written manifests, and the seed-004 rendering. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Workload } from '../../src/api/workload.js';
import {
  buildModel,
  renderConfigDump,
  renderWorkloadJson,
} from '../../src/controlplane/model/index.js';
import { decodeAddress, encodeAddress } from '../../src/xds/codec.js';
import { clusterYaml, snapshotOf } from '../helpers/xds-manifests.js';

function byName(ws: Workload[], name: string): Workload {
  const w = ws.find((x) => x.name === name);
  assert.ok(w, `workload ${name} exists`);
  return w;
}

void test('workloads: uid, identity, protocol, canonical labels, owners, status', () => {
  const m = buildModel(snapshotOf(clusterYaml));
  assert.deepEqual(m.workloads.map((w) => w.name).sort(), [
    'httpbin-5984865fdc-qh894',
    'nightly-28012345-xyz12',
    'old-app',
    'sleep-7b8d6b5c9f-abcde',
    'ztunnel-x1',
  ]);
  const h = byName(m.workloads, 'httpbin-5984865fdc-qh894');
  assert.equal(h.uid, 'Kubernetes//Pod/default/httpbin-5984865fdc-qh894');
  assert.deepEqual(h.addresses, ['10.244.1.7']);
  assert.equal(h.tunnelProtocol, 'HBONE');
  assert.equal(h.serviceAccount, 'httpbin');
  assert.equal(h.trustDomain, 'cluster.local');
  assert.equal(h.node, 'worker');
  assert.equal(h.workloadName, 'httpbin');
  assert.equal(h.workloadType, 'deployment');
  assert.equal(h.canonicalName, 'httpbin');
  assert.equal(h.canonicalRevision, 'v1');
  assert.equal(h.status, 'Healthy');

  const s = byName(m.workloads, 'sleep-7b8d6b5c9f-abcde');
  assert.equal(s.status, 'Unhealthy', 'Ready=False');
  assert.equal(s.canonicalRevision, 'latest');
  assert.equal(s.tunnelProtocol, 'HBONE');

  const z = byName(m.workloads, 'ztunnel-x1');
  assert.equal(z.tunnelProtocol, 'NONE', 'ztunnel is never captured');
  assert.equal(z.workloadType, 'pod');
  assert.equal(z.workloadName, 'ztunnel');

  const o = byName(m.workloads, 'old-app');
  assert.equal(o.tunnelProtocol, 'NONE', 'namespace not labelled ambient');
  assert.equal(o.canonicalName, 'oldie');
  assert.equal(o.canonicalRevision, '3');
  assert.equal(o.serviceAccount, 'default');
  assert.equal(o.workloadName, 'old-app');

  const c = byName(m.workloads, 'nightly-28012345-xyz12');
  assert.equal(c.tunnelProtocol, 'NONE', 'pod label dataplane-mode=none opts out');
  assert.equal(c.workloadType, 'cronjob');
  assert.equal(c.workloadName, 'nightly');
  assert.equal(c.canonicalName, 'nightly-report');
  assert.equal(c.canonicalRevision, 'r7');
});

void test('services: VIPs, ports, named target ports, selectorless endpoints', () => {
  const m = buildModel(snapshotOf(clusterYaml));
  const svc = m.services.find((s) => s.name === 'httpbin');
  assert.deepEqual(svc, {
    name: 'httpbin',
    namespace: 'default',
    hostname: 'httpbin.default.svc.cluster.local',
    addresses: [{ network: '', address: '10.96.0.105' }],
    ports: [
      { servicePort: 8000, targetPort: 0, appProtocol: 'HTTP11' },
      { servicePort: 9000, targetPort: 9090, appProtocol: 'TCP' },
    ],
    subjectAltNames: [],
  });
  const h = byName(m.workloads, 'httpbin-5984865fdc-qh894');
  assert.deepEqual(h.services, {
    'default/httpbin.default.svc.cluster.local': {
      ports: [
        { servicePort: 8000, targetPort: 80 },
        { servicePort: 9000, targetPort: 9090 },
      ],
    },
  });
  const s = byName(m.workloads, 'sleep-7b8d6b5c9f-abcde');
  assert.deepEqual(s.services, {
    'default/external-db.default.svc.cluster.local': {
      ports: [{ servicePort: 5432, targetPort: 15432 }],
    },
  });
});

const waypointYaml = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: default, labels: {istio.io/waypoint-for: all}}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
status: {addresses: [{type: IPAddress, value: 10.96.0.50}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: svc-only, namespace: default}
spec: {gatewayClassName: istio-waypoint}
status: {addresses: [{type: IPAddress, value: 10.96.0.51}, {type: Hostname, value: svc-only.default.svc.cluster.local}]}
---
apiVersion: v1
kind: Service
metadata: {name: svc-only, namespace: default}
spec: {clusterIP: 10.96.0.51, ports: [{port: 15008}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: other-class, namespace: default}
spec: {gatewayClassName: istio}
`;

void test('waypoints: namespace label, pod override, waypoint-for', () => {
  const nsLabelled = clusterYaml.replace(
    'labels: {istio.io/dataplane-mode: ambient}',
    'labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}',
  );
  const m = buildModel(snapshotOf(nsLabelled, waypointYaml));
  const h = byName(m.workloads, 'httpbin-5984865fdc-qh894');
  assert.deepEqual(h.waypoint, {
    address: { network: '', address: '10.96.0.50' },
    hboneMtlsPort: 15008,
  });
  const svc = m.services.find((s) => s.name === 'httpbin');
  assert.deepEqual(svc?.waypoint?.address?.address, '10.96.0.50');
  assert.deepEqual(renderWorkloadJson(h).waypointAddresses, ['10.96.0.50']);

  // Pod opts out with use-waypoint=none; a service-only waypoint serves services, not workloads.
  const podNone = nsLabelled
    .replace(
      'labels: {app: httpbin, version: v1,',
      'labels: {istio.io/use-waypoint: none, app: httpbin, version: v1,',
    )
    .replace('istio.io/use-waypoint: waypoint}', 'istio.io/use-waypoint: svc-only}');
  const m2 = buildModel(snapshotOf(podNone, waypointYaml));
  assert.equal(byName(m2.workloads, 'httpbin-5984865fdc-qh894').waypoint, undefined);
  assert.equal(
    byName(m2.workloads, 'sleep-7b8d6b5c9f-abcde').waypoint,
    undefined,
    'waypoint-for defaults to service',
  );
  assert.equal(
    m2.services.find((s) => s.name === 'httpbin')?.waypoint?.address?.address,
    '10.96.0.51',
  );
  // No label → no waypoint at all.
  const m3 = buildModel(snapshotOf(clusterYaml, waypointYaml));
  assert.equal(byName(m3.workloads, 'httpbin-5984865fdc-qh894').waypoint, undefined);
});

void test('HBONE only once the node agent captured the pod (istiod reads its annotation)', () => {
  const snap = snapshotOf(clusterYaml);
  const pod = snap.pods.find((p) => p.metadata.name === 'httpbin-5984865fdc-qh894')!;
  const waiting = { ...pod, metadata: { ...pod.metadata, annotations: {} } };
  const m = buildModel({ ...snap, pods: snap.pods.map((p) => (p === pod ? waiting : p)) });
  const h = byName(m.workloads, 'httpbin-5984865fdc-qh894');
  assert.equal(h.tunnelProtocol, 'NONE', 'enrolled by its namespace, not yet captured');
  assert.equal(byName(m.workloads, 'sleep-7b8d6b5c9f-abcde').tunnelProtocol, 'HBONE');
});

void test('renderWorkloadJson gives the seed-004 shape', () => {
  const m = buildModel(snapshotOf(clusterYaml));
  const j = renderWorkloadJson(byName(m.workloads, 'httpbin-5984865fdc-qh894'));
  assert.deepEqual(j, {
    workloadIp: '10.244.1.7',
    waypointAddresses: [],
    gatewayAddress: null,
    protocol: 'HBONE',
    name: 'httpbin-5984865fdc-qh894',
    namespace: 'default',
    serviceAccount: 'httpbin',
    workloadName: 'httpbin',
    workloadType: 'deployment',
    canonicalName: 'httpbin',
    canonicalRevision: 'v1',
    node: 'worker',
    nativeHbone: false,
    authorizationPolicies: [],
    status: 'Healthy',
  });
  assert.deepEqual(Object.keys(j), [
    'workloadIp',
    'waypointAddresses',
    'gatewayAddress',
    'protocol',
    'name',
    'namespace',
    'serviceAccount',
    'workloadName',
    'workloadType',
    'canonicalName',
    'canonicalRevision',
    'node',
    'nativeHbone',
    'authorizationPolicies',
    'status',
  ]);
  const dump = renderConfigDump(m, 'worker2');
  assert.equal(dump.workloads['10.244.2.8']?.protocol, 'HBONE');
  assert.deepEqual(dump.identities, ['spiffe://cluster.local/ns/default/sa/sleep']);
});

void test('every model resource survives the protobuf codec unchanged', () => {
  const m = buildModel(snapshotOf(clusterYaml, waypointYaml));
  for (const workload of m.workloads)
    assert.deepEqual(decodeAddress(encodeAddress({ workload })), { workload });
  for (const service of m.services)
    assert.deepEqual(decodeAddress(encodeAddress({ service })), { service });
});

void test('a pod with a malformed IP is left out instead of breaking the push', () => {
  const bad = `---
apiVersion: v1
kind: Pod
metadata: {name: weird, namespace: default, uid: uid-weird}
spec: {nodeName: worker, containers: [{name: w, image: nginx}]}
status: {phase: Running, podIP: "10.244.1.999", conditions: [{type: Ready, status: "True"}]}
`;
  const m = buildModel(snapshotOf(clusterYaml, bad));
  assert.equal(
    m.workloads.find((w) => w.name === 'weird'),
    undefined,
  );
  for (const workload of m.workloads) assert.doesNotThrow(() => encodeAddress({ workload }));
});
