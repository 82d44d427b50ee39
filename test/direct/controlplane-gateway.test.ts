/**
 * The Gateway controller against an in-process API server: applying a waypoint Gateway makes the
 * control plane create its ServiceAccount, Deployment and Service (owned by the Gateway) and write
 * its status; once a waypoint pod is ready the status gets addresses and Programmed=True, and the
 * bound Service and Workloads pushed to a ztunnel carry the waypoint; labels change that within
 * a push; a bad listener is reported with Istio's reason; deleting the Gateway takes the objects.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Gateway } from '../../src/controlplane/model/types.js';
import { startControlPlane, type ControlPlane } from '../../src/controlplane/server.js';
import { resources } from '../../src/k8s/resources.js';
import type { KubeObject, Service } from '../../src/k8s/types.js';
import { createLogger } from '../../src/log.js';
import { createXdsClient, type DeltaXdsClient } from '../../src/xds/client.js';
import {
  createPod,
  ensureNamespace,
  podToken,
  seedMesh,
  startTestCluster,
  until,
  type TestCluster,
} from '../helpers/xds-cluster.js';

let cluster: TestCluster;
let cp: ControlPlane;
let client: DeltaXdsClient;
const quiet = createLogger('test', () => undefined);

before(async () => {
  cluster = await startTestCluster();
  const mesh = await seedMesh(cluster.kube);
  const ztToken = await podToken(cluster.kube, mesh.ztunnelWorker2, cluster.dir);
  cp = await startControlPlane({
    kube: cluster.kube,
    log: createLogger('cp', () => undefined),
    stateDir: join(cluster.dir, 'controlplane'),
    host: '127.0.0.1',
    port: 0,
    debugHost: '127.0.0.1',
    debugPort: 0,
    trustedAccounts: ['istio-system/ztunnel'],
  });
  client = createXdsClient({
    address: `127.0.0.1:${cp.grpcPort}`,
    rootCa: cp.ca.rootPem,
    tokenFile: ztToken,
    node: {
      id: 'ztunnel~10.244.2.3~ztunnel-w2.istio-system~istio-system.svc.cluster.local',
      nodeName: 'worker2',
      podName: 'ztunnel-w2',
      podNamespace: 'istio-system',
      podIp: '10.244.2.3',
    },
    logger: quiet,
  });
  client.start();
  await until('the first full state', () => client.ready().then(() => true), 10_000);
});

after(async () => {
  await client?.stop();
  await cp?.close();
  await cluster?.close();
});

const httpbinSvc = () => client.addresses.get('default/httpbin.default.svc.cluster.local')?.service;
const httpbinPod = () => client.addresses.get('Kubernetes//Pod/default/httpbin-7d4b9-y2')?.workload;

void test('a waypoint Gateway is deployed, programmed, and bound services get it', async () => {
  const kube = cluster.kube;
  const gw = await kube.create<Gateway>(resources.gateways, {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: 'default' },
    spec: {
      gatewayClassName: 'istio-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
    },
  });
  const owned = (o: KubeObject | undefined) =>
    o?.metadata.ownerReferences?.some((r) => r.kind === 'Gateway' && r.uid === gw.metadata.uid);
  const sa = await until('the ServiceAccount', () =>
    kube.tryGet(resources.serviceaccounts, 'waypoint', 'default'),
  );
  const dep = await until('the Deployment', () =>
    kube.tryGet(resources.deployments, 'waypoint', 'default'),
  );
  const svc = await until('the Service', () =>
    kube.tryGet<Service>(resources.services, 'waypoint', 'default'),
  );
  assert.ok(owned(sa) && owned(dep) && owned(svc), 'all three are owned by the Gateway');
  const tmpl = (
    dep.spec as {
      template: { spec: { containers: { image: string }[]; serviceAccountName: string } };
    }
  ).template.spec;
  assert.equal(tmpl.containers[0]?.image, 'ambit/waypoint');
  assert.equal(tmpl.serviceAccountName, 'waypoint');
  const vip = svc.spec?.clusterIP;
  assert.ok(vip);

  // No ready pod yet: Accepted, not Programmed, no address, nothing bound.
  const pending = await until('a pending status', async () => {
    const g = await kube.get<Gateway>(resources.gateways, 'waypoint', 'default');
    return g.status?.conditions?.length ? g : undefined;
  });
  assert.equal(pending.status?.conditions?.find((c) => c.type === 'Accepted')?.status, 'True');
  assert.equal(pending.status?.conditions?.find((c) => c.type === 'Programmed')?.status, 'False');
  assert.equal(pending.status?.addresses, undefined);
  await ensureNamespace(kube, 'default', { 'istio.io/use-waypoint': 'waypoint' });
  assert.equal(httpbinSvc()?.waypoint, undefined, 'a waypoint without a ready pod binds nothing');

  // The pod the lab's Deployment controller and kubelet would make, ready.
  await createPod(kube, {
    name: 'waypoint-6d9f-abcde',
    namespace: 'default',
    node: 'worker',
    sa: 'waypoint',
    ip: '10.244.1.20',
    labels: {
      'gateway.networking.k8s.io/gateway-name': 'waypoint',
      'istio.io/dataplane-mode': 'none',
    },
    image: 'ambit/waypoint',
  });
  const programmed = await until('Programmed=True', async () => {
    const g = await kube.get<Gateway>(resources.gateways, 'waypoint', 'default');
    return g.status?.conditions?.find((c) => c.type === 'Programmed')?.status === 'True'
      ? g
      : undefined;
  });
  assert.deepEqual(programmed.status?.addresses, [
    { type: 'IPAddress', value: vip },
    { type: 'Hostname', value: 'waypoint.default.svc.cluster.local' },
  ]);
  const bound = await until('httpbin bound to the waypoint', () => httpbinSvc()?.waypoint);
  assert.deepEqual(bound, { address: { network: '', address: vip }, hboneMtlsPort: 15008 });
  assert.equal(httpbinPod()?.waypoint, undefined, 'service waypoint: the workload is not bound');
  const wpPod = client.addresses.get('Kubernetes//Pod/default/waypoint-6d9f-abcde')?.workload;
  assert.equal(wpPod?.waypoint, undefined, 'the waypoint itself never gets a waypoint');

  // waypoint-for: all binds the workload too; use-waypoint=none on the service opts it out.
  await kube.patch(
    resources.gateways,
    'waypoint',
    { metadata: { labels: { 'istio.io/waypoint-for': 'all' } } },
    { namespace: 'default', type: 'merge' },
  );
  await until('the workload bound', () => httpbinPod()?.waypoint);
  await kube.patch(
    resources.services,
    'httpbin',
    { metadata: { labels: { 'istio.io/use-waypoint': 'none' } } },
    { namespace: 'default', type: 'merge' },
  );
  await until('the service unbound', () =>
    httpbinSvc() && !httpbinSvc()?.waypoint ? true : false,
  );
  assert.ok(httpbinPod()?.waypoint, 'the pod keeps the namespace binding');
});

void test('a waypoint with an HTTP listener is not accepted, with Istio reason', async () => {
  const kube = cluster.kube;
  await kube.create<Gateway>(resources.gateways, {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'bad', namespace: 'default' },
    spec: {
      gatewayClassName: 'istio-waypoint',
      listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }],
    },
  });
  const g = await until('the status', async () => {
    const o = await kube.get<Gateway>(resources.gateways, 'bad', 'default');
    return o.status?.listeners?.length ? o : undefined;
  });
  const lc = g.status?.listeners?.[0]?.conditions.find((c) => c.type === 'Accepted');
  assert.equal(lc?.status, 'False');
  assert.equal(lc?.reason, 'UnsupportedProtocol');
  assert.equal(lc?.message, 'Expected a single listener on port 15008 with protocol "HBONE"');
  assert.equal(g.status?.conditions?.find((c) => c.type === 'Accepted')?.status, 'False');
});

void test('deleting the Gateway removes its Deployment, Service and ServiceAccount', async () => {
  const kube = cluster.kube;
  await kube.delete(resources.gateways, 'bad', 'default');
  await until('the owned objects gone', async () => {
    const left = await Promise.all([
      kube.tryGet(resources.deployments, 'bad', 'default'),
      kube.tryGet(resources.services, 'bad', 'default'),
      kube.tryGet(resources.serviceaccounts, 'bad', 'default'),
    ]);
    return left.every((x) => x === undefined);
  });
});
