/**
 * An in-process lab API server (engineer A's startApiServer) on loopback, seeded with the seeds'
 * mesh objects, plus pod-bound service-account tokens, for control-plane direct tests.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '../../src/k8s/client.js';
import { resources } from '../../src/k8s/resources.js';
import type { KubeObject, Pod } from '../../src/k8s/types.js';
import { createLogger } from '../../src/log.js';
import { startApiServer, type ApiServer } from '../../src/lab/apiserver/server.js';

export interface TestCluster {
  dir: string;
  api: ApiServer;
  kube: KubeClient;
  close(): Promise<void>;
}

export async function startTestCluster(): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-cp-'));
  const api = await startApiServer({
    stateDir: join(dir, 'lab'),
    listen: [{ host: '127.0.0.1', port: 0 }],
    log: createLogger('apiserver', () => undefined),
  });
  const kube = new KubeClient({ server: api.urls[0]! });
  return {
    dir,
    api,
    kube,
    close: async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function ensureNamespace(
  kube: KubeClient,
  name: string,
  labels: Record<string, string> = {},
): Promise<void> {
  const cur = await kube.tryGet<KubeObject>(resources.namespaces, name);
  if (cur)
    await kube.update(resources.namespaces, {
      ...cur,
      metadata: { ...cur.metadata, labels: { ...cur.metadata.labels, ...labels } },
    });
  else
    await kube.create(resources.namespaces, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels },
    });
}

export async function ensureServiceAccount(
  kube: KubeClient,
  ns: string,
  name: string,
): Promise<void> {
  if (await kube.tryGet(resources.serviceaccounts, name, ns)) return;
  await kube.create(resources.serviceaccounts, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name, namespace: ns },
  });
}

export interface PodSpecLite {
  name: string;
  namespace: string;
  node: string;
  sa: string;
  ip: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  image?: string;
  ready?: boolean;
}

/** Creates a running pod (status written as a kubelet would). */
export async function createPod(kube: KubeClient, p: PodSpecLite): Promise<Pod> {
  await ensureServiceAccount(kube, p.namespace, p.sa);
  const pod = await kube.create<Pod>(resources.pods, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: p.namespace,
      labels: p.labels,
      annotations: p.annotations,
    },
    spec: {
      nodeName: p.node,
      serviceAccountName: p.sa,
      containers: [
        {
          name: 'main',
          image: p.image ?? 'ambit/sleep',
          ports: [{ containerPort: 80, name: 'http' }],
        },
      ],
    },
  });
  return kube.updateStatus<Pod>(resources.pods, {
    ...pod,
    status: {
      phase: 'Running',
      podIP: p.ip,
      podIPs: [{ ip: p.ip }],
      conditions: [{ type: 'Ready', status: p.ready === false ? 'False' : 'True' }],
    },
  });
}

/** A TokenRequest bound to the pod, written to `<dir>/<name>.token`; returns the path. */
export async function podToken(kube: KubeClient, pod: Pod, dir: string): Promise<string> {
  const ns = pod.metadata.namespace!;
  const sa = pod.spec!.serviceAccountName!;
  const tr = await kube.request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
    {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        boundObjectRef: {
          kind: 'Pod',
          apiVersion: 'v1',
          name: pod.metadata.name,
          uid: pod.metadata.uid,
        },
      },
    },
  );
  const file = join(dir, `${ns}-${pod.metadata.name}.token`);
  writeFileSync(file, tr.status.token + '\n');
  return file;
}

/** What the node agent writes on a pod once it captured it; istiod sends HBONE only then. */
export const CAPTURED = { 'ambient.istio.io/redirection': 'enabled' } as const;

/** The seeds' mesh: ambient default namespace, sleep on worker2, httpbin on worker, ztunnels. */
export async function seedMesh(
  kube: KubeClient,
): Promise<{ ztunnelWorker2: Pod; ztunnelWorker: Pod; sleep: Pod; httpbin: Pod }> {
  await ensureNamespace(kube, 'default', { 'istio.io/dataplane-mode': 'ambient' });
  await ensureNamespace(kube, 'istio-system');
  const zt = {
    namespace: 'istio-system',
    sa: 'ztunnel',
    labels: { app: 'ztunnel' },
    annotations: { 'ambient.istio.io/redirection': 'disabled' },
    image: 'ambit/ztunnel',
  };
  const ztunnelWorker2 = await createPod(kube, {
    ...zt,
    name: 'ztunnel-w2',
    node: 'worker2',
    ip: '10.244.2.3',
  });
  const ztunnelWorker = await createPod(kube, {
    ...zt,
    name: 'ztunnel-w',
    node: 'worker',
    ip: '10.244.1.3',
  });
  const sleep = await createPod(kube, {
    name: 'sleep-5b8d6-x1',
    namespace: 'default',
    node: 'worker2',
    sa: 'sleep',
    ip: '10.244.2.8',
    labels: { app: 'sleep' },
    annotations: CAPTURED,
  });
  const httpbin = await createPod(kube, {
    name: 'httpbin-7d4b9-y2',
    namespace: 'default',
    node: 'worker',
    sa: 'httpbin',
    ip: '10.244.1.7',
    labels: { app: 'httpbin', version: 'v1' },
    annotations: CAPTURED,
    image: 'ambit/httpbin',
  });
  await kube.create(resources.services, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'httpbin', namespace: 'default' },
    spec: {
      clusterIP: '10.96.0.105',
      selector: { app: 'httpbin' },
      ports: [{ name: 'http', port: 8000, targetPort: 80 }],
    },
  });
  return { ztunnelWorker2, ztunnelWorker, sleep, httpbin };
}

export async function until<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 5000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
