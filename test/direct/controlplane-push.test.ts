/**
 * The whole control plane against an in-process API server: a ztunnel of worker2 (pod-bound
 * token, TokenReview) receives the sleep and httpbin workloads and the httpbin service; labelling
 * a namespace, deleting a pod and applying a policy each arrive as exactly that incremental
 * change; policy status is written; untrusted or unauthenticated subscribers are refused.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../../src/api/workload.js';
import type { AuthorizationPolicy } from '../../src/controlplane/model/index.js';
import { startControlPlane, type ControlPlane } from '../../src/controlplane/server.js';
import { resources } from '../../src/k8s/resources.js';
import { createLogger } from '../../src/log.js';
import { createXdsClient, type DeltaXdsClient } from '../../src/xds/client.js';
import type { XdsDelta } from '../../src/xds/types.js';
import {
  CAPTURED,
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
let ztToken: string;
let sleepToken: string;
const deltas: XdsDelta[] = [];
const quiet = createLogger('test', () => undefined);

function subscriber(tokenFile: string | undefined, nodeName = 'worker2'): DeltaXdsClient {
  return createXdsClient({
    address: `127.0.0.1:${cp.grpcPort}`,
    rootCa: cp.ca.rootPem,
    tokenFile,
    node: {
      id: `ztunnel~10.244.2.3~ztunnel-w2.istio-system~istio-system.svc.cluster.local`,
      nodeName,
      podName: 'ztunnel-w2',
      podNamespace: 'istio-system',
      podIp: '10.244.2.3',
    },
    logger: quiet,
  });
}

before(async () => {
  cluster = await startTestCluster();
  const mesh = await seedMesh(cluster.kube);
  await ensureNamespace(cluster.kube, 'legacy');
  await createPod(cluster.kube, {
    name: 'old-1',
    namespace: 'legacy',
    node: 'worker',
    sa: 'old',
    ip: '10.244.1.30',
    labels: { app: 'old' },
  });
  ztToken = await podToken(cluster.kube, mesh.ztunnelWorker2, cluster.dir);
  sleepToken = await podToken(cluster.kube, mesh.sleep, cluster.dir);
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
  client = subscriber(ztToken);
  client.on('delta', (d) => deltas.push(d));
  client.start();
  await until('the first full state', () => client.ready().then(() => true), 10_000);
});

after(async () => {
  await client?.stop();
  await cp?.close();
  await cluster?.close();
});

void test('worker2 ztunnel receives sleep, httpbin and the httpbin service', () => {
  const sleep = client.addresses.get('Kubernetes//Pod/default/sleep-5b8d6-x1')?.workload;
  const httpbin = client.addresses.get('Kubernetes//Pod/default/httpbin-7d4b9-y2')?.workload;
  const svc = client.addresses.get('default/httpbin.default.svc.cluster.local')?.service;
  assert.equal(sleep?.tunnelProtocol, 'HBONE');
  assert.equal(sleep?.node, 'worker2');
  assert.deepEqual(httpbin?.addresses, ['10.244.1.7']);
  assert.equal(httpbin?.canonicalRevision, 'v1');
  assert.deepEqual(httpbin?.services, {
    'default/httpbin.default.svc.cluster.local': { ports: [{ servicePort: 8000, targetPort: 80 }] },
  });
  assert.deepEqual(svc?.addresses, [{ network: '', address: '10.96.0.105' }]);
  assert.equal(
    client.addresses.get('Kubernetes//Pod/legacy/old-1')?.workload?.tunnelProtocol,
    'NONE',
  );
  assert.equal(
    client.addresses.get('Kubernetes//Pod/istio-system/ztunnel-w2')?.workload?.tunnelProtocol,
    'NONE',
  );
});

void test('labelling a namespace pushes exactly its workloads', async () => {
  deltas.length = 0;
  await ensureNamespace(cluster.kube, 'legacy', { 'istio.io/dataplane-mode': 'ambient' });
  // The node agent captures the pod and says so; only then is it HBONE (istiod's rule).
  await cluster.kube.patch(
    resources.pods,
    'old-1',
    { metadata: { annotations: CAPTURED } },
    { namespace: 'legacy' },
  );
  const d = await until('the namespace change', () =>
    deltas.find(
      (x) =>
        x.typeUrl === TYPE_ADDRESS && x.addresses?.added[0]?.workload?.tunnelProtocol === 'HBONE',
    ),
  );
  assert.deepEqual(
    d.addresses?.added.map((a) => a.workload?.uid),
    ['Kubernetes//Pod/legacy/old-1'],
  );
  assert.equal(d.addresses?.added[0]?.workload?.tunnelProtocol, 'HBONE');
  assert.deepEqual(d.addresses?.removed, []);
});

void test('a new pod and a deleted pod arrive as an add and a removal', async () => {
  deltas.length = 0;
  await createPod(cluster.kube, {
    name: 'httpbin-7d4b9-z3',
    namespace: 'default',
    node: 'worker2',
    sa: 'httpbin',
    ip: '10.244.2.9',
    labels: { app: 'httpbin', version: 'v1' },
  });
  const add = await until('the new pod', () =>
    deltas.find((x) => x.addresses?.added.some((a) => a.workload?.name === 'httpbin-7d4b9-z3')),
  );
  assert.deepEqual(
    add.addresses?.added.map((a) => a.workload?.name),
    ['httpbin-7d4b9-z3'],
  );
  deltas.length = 0;
  await cluster.kube.delete(resources.pods, 'httpbin-7d4b9-z3', 'default');
  const rm = await until('the removal', () => deltas.find((x) => x.addresses?.removed.length));
  assert.deepEqual(rm.addresses, {
    added: [],
    removed: ['Kubernetes//Pod/default/httpbin-7d4b9-z3'],
  });
});

void test('applying a policy pushes it and writes its status', async () => {
  deltas.length = 0;
  await cluster.kube.create(resources.authorizationpolicies, {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'allow-sleep', namespace: 'default' },
    spec: {
      selector: { matchLabels: { app: 'httpbin' } },
      action: 'ALLOW',
      rules: [
        { from: [{ source: { principals: ['cluster.local/ns/default/sa/sleep'] } }] },
        { to: [{ operation: { methods: ['GET'] } }] },
      ],
    },
  });
  const p = await until('the policy', () => deltas.find((x) => x.typeUrl === TYPE_AUTHORIZATION));
  assert.deepEqual(
    p.authorizations?.added.map((a) => `${a.namespace}/${a.name}/${a.scope}/${a.rules.length}`),
    ['default/allow-sleep/WORKLOAD_SELECTOR/1'],
  );
  // The selector attaches it to httpbin's workload: that workload is re-pushed, nothing else.
  const a = await until('the workload update', () =>
    deltas.find((x) => x.typeUrl === TYPE_ADDRESS),
  );
  assert.deepEqual(
    a.addresses?.added.map((x) => x.workload?.name),
    ['httpbin-7d4b9-y2'],
  );
  assert.deepEqual(a.addresses?.added[0]?.workload?.authorizationPolicies, ['default/allow-sleep']);
  const pol = await until('the status condition', async () => {
    const o = await cluster.kube.get<AuthorizationPolicy>(
      resources.authorizationpolicies,
      'allow-sleep',
      'default',
    );
    return o.status?.conditions?.find((c) => c.type === 'ZtunnelAccepted') ? o : undefined;
  });
  const cond = pol.status!.conditions!.find((c) => c.type === 'ZtunnelAccepted')!;
  assert.equal(cond.status, 'False');
  assert.equal(cond.reason, 'UnsupportedValue');
  assert.match(cond.message, /methods/);
});

void test('the server records the ztunnel and its ACKed versions', async () => {
  const conns = await until('an ACK', () => {
    const c = cp.ads.connections().find((x) => x.node === 'worker2');
    return c?.types[TYPE_ADDRESS]?.lastAck?.version === cp.store.version(TYPE_ADDRESS)
      ? [c]
      : undefined;
  });
  assert.equal(conns[0]!.caller, 'system:serviceaccount:istio-system:ztunnel');
  assert.equal(conns[0]!.pod, 'istio-system/ztunnel-w2');
  const res = await fetch(`http://127.0.0.1:${cp.debugPort}/debug/config_dump?node=worker2`);
  const dump = (await res.json()) as {
    workloads: Record<string, { name: string; protocol: string }>;
    identities: string[];
  };
  assert.equal(dump.workloads['10.244.2.8']?.protocol, 'HBONE');
  assert.deepEqual(dump.identities, ['spiffe://cluster.local/ns/default/sa/sleep']);
});

void test('subscribers without a token or with a non-ztunnel identity are refused', async () => {
  for (const [token, re] of [
    [undefined, /UNAUTHENTICATED/],
    [sleepToken, /PERMISSION_DENIED.*may not subscribe/],
  ] as const) {
    const c = subscriber(token);
    const err = new Promise<Error | undefined>((resolve) => c.once('disconnected', resolve));
    c.start();
    const e = await err;
    await c.stop();
    assert.match(String(e?.message), re);
    assert.equal(c.addresses.size, 0);
  }
});
