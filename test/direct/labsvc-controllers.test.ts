// The controller-manager against the real lab API server, in-process on loopback. The test plays
// the kubelet's part where needed (reporting pod IPs and readiness through the status subresource).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { KubeClient } from '../../src/k8s/client.js';
import { resources, type Resource } from '../../src/k8s/resources.js';
import type { Endpoints, KubeObject } from '../../src/k8s/types.js';
import { startApiServer, type ApiServer } from '../../src/lab/apiserver/server.js';
import {
  startControllerManager,
  type ControllerManager,
} from '../../src/lab/controllers/manager.js';
import type { DaemonSet, Deployment, LabPod } from '../../src/lab/controllers/types.js';
import { createLogger } from '../../src/log.js';
import { eventually } from '../helpers/net.js';

const quiet = createLogger('test', () => undefined);

/** The checkout holding the manifests (from test/direct or dist/test/direct). */
function manifestsDir(): string {
  let d = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const m = path.join(d, 'src/lab/manifests');
    try {
      readFileSync(path.join(m, 'base.yaml'));
      return m;
    } catch {
      d = path.dirname(d);
    }
  }
  throw new Error('no src/lab/manifests above the test');
}

let dir: string;
let server: ApiServer;
let client: KubeClient;
let cm: ControllerManager;

const resourceOf: Record<string, Resource> = {
  Namespace: resources.namespaces,
  ServiceAccount: resources.serviceaccounts,
  Service: resources.services,
  Deployment: resources.deployments,
  DaemonSet: resources.daemonsets,
  ClusterRole: resources.clusterroles,
  ClusterRoleBinding: resources.clusterrolebindings,
};

async function apply(obj: KubeObject): Promise<void> {
  const res = resourceOf[obj.kind]!;
  const cur = await client.tryGet(res, obj.metadata.name, obj.metadata.namespace);
  if (!cur) await client.create(res, obj);
  else if (obj.kind !== 'Namespace')
    await client.update(res, {
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: cur.metadata.resourceVersion },
    });
}

async function pods(ns: string, prefix: string): Promise<LabPod[]> {
  const list = await client.list<LabPod>(resources.pods, { namespace: ns });
  return list.items.filter(
    (p) => p.metadata.name.startsWith(prefix) && !p.metadata.deletionTimestamp,
  );
}

/** What the kubelet reports once a pod runs. */
async function markRunning(p: LabPod, ip: string, ready: boolean): Promise<void> {
  const cur = await client.get<LabPod>(resources.pods, p.metadata.name, p.metadata.namespace);
  await client.updateStatus(resources.pods, {
    ...cur,
    status: {
      phase: 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    },
  });
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'labsvc-cm-'));
  server = await startApiServer({
    stateDir: dir,
    listen: [{ host: '127.0.0.1', port: 0 }],
    log: quiet,
  });
  client = new KubeClient({ server: server.urls[0]! });
  const nodes: [string, string, string][] = [
    ['control-plane', '172.18.0.2', '10.244.0.0/24'],
    ['worker', '172.18.0.4', '10.244.1.0/24'],
    ['worker2', '172.18.0.3', '10.244.2.0/24'],
  ];
  for (const [name, ip, cidr] of nodes) {
    await client.create(resources.nodes, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        labels: {
          'kubernetes.io/hostname': name,
          ...(name === 'control-plane' ? { 'node-role.kubernetes.io/control-plane': '' } : {}),
        },
      },
      spec: { podCIDR: cidr, podCIDRs: [cidr] },
      status: {
        addresses: [{ type: 'InternalIP', address: ip }],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    });
  }
  for (const f of ['base.yaml', 'scenario.yaml']) {
    const text = readFileSync(path.join(manifestsDir(), f), 'utf8');
    for (const doc of parseAllDocuments(text)) await apply(doc.toJS() as KubeObject);
  }
  cm = await startControllerManager({ client, log: quiet });
});

after(async () => {
  await cm?.stop();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

void test('the seeds scenario: httpbin on worker, sleep on worker2, coredns on the control plane', async () => {
  const httpbin = await eventually(
    'httpbin pod',
    async () => (await pods('default', 'httpbin-'))[0],
  );
  const sleep = await eventually('sleep pod', async () => (await pods('default', 'sleep-'))[0]);
  const dns = await eventually(
    'coredns pod',
    async () => (await pods('kube-system', 'coredns-'))[0],
  );
  assert.match(httpbin.metadata.name, /^httpbin-[0-9a-f]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  assert.equal(httpbin.spec?.nodeName, 'worker');
  assert.equal(sleep.spec?.nodeName, 'worker2');
  assert.equal(dns.spec?.nodeName, 'control-plane');
  assert.equal(httpbin.metadata.labels?.app, 'httpbin');
  assert.equal(httpbin.metadata.labels?.version, 'v1');
  assert.match(httpbin.metadata.labels?.['pod-template-hash'] ?? '', /^[0-9a-f]{10}$/);
  assert.equal(httpbin.metadata.annotations?.['lab.ambit.dev/ip'], '10.244.1.7');
  assert.equal(httpbin.metadata.ownerReferences?.[0]?.kind, 'Deployment');
  assert.equal(httpbin.spec?.serviceAccountName, 'httpbin');
  await cm.idle();
  assert.equal((await pods('default', 'httpbin-')).length, 1, 'exactly one replica');

  // Endpoints follow readiness.
  await markRunning(httpbin, '10.244.1.7', false);
  const notReady = await eventually('not-ready endpoint', async () => {
    const e = await client.tryGet<Endpoints>(resources.endpoints, 'httpbin', 'default');
    return e?.subsets?.[0]?.notReadyAddresses?.length ? e : undefined;
  });
  assert.equal(notReady.subsets?.[0]?.addresses, undefined);
  await markRunning(httpbin, '10.244.1.7', true);
  const ready = await eventually('ready endpoint', async () => {
    const e = await client.tryGet<Endpoints>(resources.endpoints, 'httpbin', 'default');
    return e?.subsets?.[0]?.addresses?.length ? e : undefined;
  });
  assert.deepEqual(ready.subsets, [
    {
      addresses: [
        {
          ip: '10.244.1.7',
          nodeName: 'worker',
          targetRef: {
            kind: 'Pod',
            name: httpbin.metadata.name,
            namespace: 'default',
            uid: httpbin.metadata.uid,
          },
        },
      ],
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    },
  ]);
  const d = await eventually('deployment status', async () => {
    const x = await client.get<Deployment>(resources.deployments, 'httpbin', 'default');
    return x.status?.readyReplicas === 1 ? x : undefined;
  });
  assert.equal(d.status?.replicas, 1);
  assert.equal(d.status?.availableReplicas, 1);

  await markRunning(dns, '10.244.0.2', true);
  const kubeDns = await eventually('kube-dns endpoints', async () => {
    const e = await client.tryGet<Endpoints>(resources.endpoints, 'kube-dns', 'kube-system');
    return e?.subsets?.[0]?.addresses?.length ? e : undefined;
  });
  assert.deepEqual(kubeDns.subsets?.[0]?.ports, [
    { name: 'dns', port: 53, protocol: 'UDP' },
    { name: 'dns-tcp', port: 53, protocol: 'TCP' },
  ]);
});

void test('scale up spreads over workers, scale down and template change replace pods', async () => {
  const web: Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'nginx', image: 'nginx', command: ['nginx'] }] },
      },
    },
  };
  await client.create(resources.deployments, web);
  const three = await eventually('3 web pods', async () => {
    const p = await pods('default', 'web-');
    return p.length === 3 ? p : undefined;
  });
  const nodes = three.map((p) => p.spec?.nodeName).sort();
  assert.ok(!nodes.includes('control-plane'), `never on the control plane: ${nodes.join(',')}`);
  assert.ok(nodes.includes('worker') && nodes.includes('worker2'), `spread: ${nodes.join(',')}`);
  await cm.idle();
  assert.equal((await pods('default', 'web-')).length, 3, 'no duplicate creations');

  const cur = await client.get<Deployment>(resources.deployments, 'web', 'default');
  await client.update(resources.deployments, { ...cur, spec: { ...cur.spec!, replicas: 1 } });
  await eventually('scaled down to 1', async () => (await pods('default', 'web-')).length === 1);

  const before = (await pods('default', 'web-'))[0]!;
  const cur2 = await client.get<Deployment>(resources.deployments, 'web', 'default');
  const tmpl = structuredClone(cur2.spec!.template);
  tmpl.spec.containers[0]!.args = ['-g', 'daemon off;'];
  await client.update(resources.deployments, { ...cur2, spec: { ...cur2.spec!, template: tmpl } });
  const after = await eventually('new template pod', async () => {
    const p = await pods('default', 'web-');
    const n = p.find(
      (x) =>
        x.metadata.labels?.['pod-template-hash'] !== before.metadata.labels?.['pod-template-hash'],
    );
    return n;
  });
  assert.deepEqual(after.spec?.containers[0]?.args, ['-g', 'daemon off;']);
  // RollingUpdate keeps the old pod until the new one is ready.
  await markRunning(after, '10.244.1.50', true);
  await eventually('old pod replaced', async () => {
    const p = await pods('default', 'web-');
    return p.length === 1 && p[0]!.metadata.name === after.metadata.name;
  });
});

void test('daemonset: one pod per node with the node-relative pinned IP; bare pods get scheduled', async () => {
  const ds: DaemonSet = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'ztunnel', namespace: 'istio-system' },
    spec: {
      selector: { matchLabels: { app: 'ztunnel' } },
      template: {
        metadata: { labels: { app: 'ztunnel' }, annotations: { 'lab.ambit.dev/ip-offset': '3' } },
        spec: { containers: [{ name: 'istio-proxy', image: 'ambit/ztunnel' }] },
      },
    },
  };
  await client.create(resources.daemonsets, ds);
  const zt = await eventually('3 ztunnel pods', async () => {
    const p = await pods('istio-system', 'ztunnel-');
    return p.length === 3 ? p : undefined;
  });
  const byNode = Object.fromEntries(
    zt.map((p) => [p.spec?.nodeName, p.metadata.annotations?.['lab.ambit.dev/ip']]),
  );
  assert.deepEqual(byNode, {
    'control-plane': '10.244.0.3',
    worker: '10.244.1.3',
    worker2: '10.244.2.3',
  });
  await cm.idle();
  assert.equal((await pods('istio-system', 'ztunnel-')).length, 3);

  await client.create(resources.pods, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'bare', namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'ambit/sleep' }] },
  } as LabPod);
  const bare = await eventually('bare pod scheduled', async () => {
    const p = await client.get<LabPod>(resources.pods, 'bare', 'default');
    return p.spec?.nodeName ? p : undefined;
  });
  assert.ok(['worker', 'worker2'].includes(bare.spec!.nodeName!));
});

void test('a deleted default ServiceAccount comes back', async () => {
  await client.delete(resources.serviceaccounts, 'default', 'kube-public');
  await eventually('default SA recreated', () =>
    client.tryGet(resources.serviceaccounts, 'default', 'kube-public'),
  );
});
