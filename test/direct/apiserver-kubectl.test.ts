// Real kubectl (/usr/bin/kubectl) against the lab API server, in-process on loopback.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { KubeApiError, KubeClient } from '../../src/k8s/client.js';
import { resources } from '../../src/k8s/resources.js';
import type { KubeObject, Pod, Service } from '../../src/k8s/types.js';
import { kubeconfig } from '../../src/lab/apiserver/kubeconfig.js';
import { startApiServer, type ApiServer } from '../../src/lab/apiserver/server.js';
import { createLogger } from '../../src/log.js';

const kubectlBin = '/usr/bin/kubectl';

const manifest = (replicas: number, port: number, extraLabel = ''): string => `
apiVersion: v1
kind: Namespace
metadata:
  name: demo
  labels:
    istio.io/dataplane-mode: ambient
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: httpbin
  namespace: demo
---
apiVersion: v1
kind: Service
metadata:
  name: httpbin
  namespace: demo
  labels: {app: httpbin${extraLabel}}
spec:
  selector: {app: httpbin}
  ports:
  - name: http
    port: ${port}
    targetPort: 80
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpbin
  namespace: demo
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: httpbin}
  template:
    metadata:
      labels: {app: httpbin}
    spec:
      serviceAccountName: httpbin
      containers:
      - name: httpbin
        image: ambit/httpbin
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Pod
metadata:
  name: sleep
  namespace: demo
  labels: {app: sleep}
spec:
  nodeName: worker2
  containers:
  - name: sleep
    image: ambit/sleep
---
apiVersion: v1
kind: Pod
metadata:
  name: curl
  namespace: demo
spec:
  containers:
  - name: curl
    image: curl
    command: ["sleep", "3600"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-sleep
  namespace: demo
spec:
  selector:
    matchLabels: {app: httpbin}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/demo/sa/sleep"]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint
  namespace: demo
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - name: mesh
    port: 15008
    protocol: HBONE
`;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

void describe(
  'apiserver with real kubectl',
  { skip: existsSync(kubectlBin) ? false : `no ${kubectlBin}` },
  () => {
    let dir: string;
    let server: ApiServer;
    let client: KubeClient;
    let kc: string;

    // Asynchronous on purpose: the server runs in this process and must keep serving.
    const kubectl = (...args: string[]): Promise<Result> =>
      new Promise((resolve) => {
        execFile(
          kubectlBin,
          ['--kubeconfig', kc, '--cache-dir', path.join(dir, 'cache'), ...args],
          { timeout: 60_000 },
          (err, stdout, stderr) => {
            const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
            resolve({ code, stdout, stderr });
          },
        );
      });
    const ok = async (...args: string[]): Promise<string> => {
      const r = await kubectl(...args);
      assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
      return r.stdout;
    };
    const file = (name: string, text: string): string => {
      const p = path.join(dir, name);
      writeFileSync(p, text);
      return p;
    };

    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'ambit-apiserver-kubectl-'));
      server = await startApiServer({
        stateDir: dir,
        listen: [{ host: '127.0.0.1', port: 0 }],
        log: createLogger('apiserver', () => undefined),
      });
      client = new KubeClient({ server: server.urls[0]! });
      kc = file('kubeconfig', kubeconfig('t', server.urls[0]!));
      // The node the sleep pod is scheduled to; its pods are deleted gracefully.
      await client.create(resources.nodes, {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'worker2', labels: { 'kubernetes.io/hostname': 'worker2' } },
      });
    });
    after(async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    });

    void test('get ns lists the initial namespaces', async () => {
      const out = await ok('get', 'ns');
      assert.match(out, /^NAME\s+STATUS\s+AGE/);
      for (const ns of ['default', 'istio-system', 'kube-public', 'kube-system'])
        assert.match(out, new RegExp(`^${ns}\\s+Active\\s+\\d+s`, 'm'));
    });

    void test('apply -f creates every kind of a multi-document manifest', async () => {
      const out = await ok('apply', '-f', file('m1.yaml', manifest(1, 8000)));
      for (const what of [
        'namespace/demo',
        'serviceaccount/httpbin',
        'service/httpbin',
        'deployment.apps/httpbin',
        'pod/sleep',
        'pod/curl',
        'authorizationpolicy.security.istio.io/allow-sleep',
        'gateway.gateway.networking.k8s.io/waypoint',
      ])
        assert.match(out, new RegExp(`^${what.replace(/\./g, '\\.')} created$`, 'm'));
      const svc = await client.get<Service>(resources.services, 'httpbin', 'demo');
      assert.match(svc.spec?.clusterIP ?? '', /^10\.96\.\d+\.\d+$/);
      assert.equal(svc.spec?.ports?.[0]?.targetPort, 80);
      const ap = await client.get(resources.authorizationpolicies, 'allow-sleep', 'demo');
      assert.equal((ap.spec as { action: string }).action, 'ALLOW');
      // Creating a namespace gives it a default ServiceAccount.
      await client.get(resources.serviceaccounts, 'default', 'demo');
    });

    void test('re-applying a changed manifest patches the objects in place', async () => {
      const dep0 = await client.get(resources.deployments, 'httpbin', 'demo');
      const svc0 = await client.get<Service>(resources.services, 'httpbin', 'demo');
      const out = await ok('apply', '-f', file('m2.yaml', manifest(2, 8001, ', tier: web')));
      assert.match(out, /^deployment\.apps\/httpbin configured$/m);
      assert.match(out, /^service\/httpbin configured$/m);
      assert.match(out, /^pod\/sleep unchanged$/m);
      assert.match(out, /^namespace\/demo unchanged$/m);
      const dep = await client.get(resources.deployments, 'httpbin', 'demo');
      assert.equal(dep.metadata.uid, dep0.metadata.uid, 'patched, not re-created');
      assert.equal((dep.spec as { replicas: number }).replicas, 2);
      assert.equal(dep.metadata.generation, 2);
      const svc = await client.get<Service>(resources.services, 'httpbin', 'demo');
      assert.equal(svc.metadata.uid, svc0.metadata.uid);
      assert.equal(svc.spec?.clusterIP, svc0.spec?.clusterIP, 'cluster IP kept');
      assert.deepEqual(
        svc.spec?.ports?.map((p) => p.port),
        [8001],
      );
      assert.equal(svc.metadata.labels?.tier, 'web');
    });

    void test('get pods -A -o wide shows pods across namespaces', async () => {
      const out = await ok('get', 'pods', '-A', '-o', 'wide');
      const [head, ...rows] = out.trim().split('\n');
      assert.match(
        head!,
        /^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/,
      );
      assert.ok(
        rows.some((r) => /^demo\s+sleep\s+0\/1\s+Pending\s+0\s+\S+\s+<none>\s+worker2\s/.test(r)),
        out,
      );
      assert.ok(
        rows.some((r) => /^demo\s+curl\s+0\/1\s+Pending\s/.test(r)),
        out,
      );
    });

    void test('get svc -o yaml gives full objects', async () => {
      const list = parse(await ok('get', 'svc', '-n', 'demo', '-o', 'yaml')) as {
        items: Service[];
      };
      assert.equal(list.items.length, 1);
      const svc = list.items[0]!;
      assert.equal(svc.kind, 'Service');
      assert.equal(svc.metadata.name, 'httpbin');
      assert.match(svc.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
      assert.match(svc.metadata.resourceVersion ?? '', /^\d+$/);
      assert.equal(svc.spec?.type, 'ClusterIP');
      const table = await ok('get', 'svc', '-n', 'demo', '-o', 'wide');
      assert.match(table, /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\s+SELECTOR$/m);
      assert.match(
        table,
        /^httpbin\s+ClusterIP\s+10\.96\.\S+\s+<none>\s+8001\/TCP\s+\S+\s+app=httpbin$/m,
      );
    });

    void test('label and annotate', async () => {
      await ok('label', 'pod', 'sleep', '-n', 'demo', 'tier=backend');
      await ok('annotate', 'svc', 'httpbin', '-n', 'demo', 'note=hello world');
      const pod = await client.get<Pod>(resources.pods, 'sleep', 'demo');
      assert.equal(pod.metadata.labels?.tier, 'backend');
      assert.equal(pod.metadata.labels?.app, 'sleep');
      const svc = await client.get(resources.services, 'httpbin', 'demo');
      assert.equal(svc.metadata.annotations?.note, 'hello world');
      const sel = await ok(
        'get',
        'pods',
        '-n',
        'demo',
        '-l',
        'tier in (backend),app!=x',
        '-o',
        'name',
      );
      assert.equal(sel.trim(), 'pod/sleep');
      await ok('label', 'pod', 'sleep', '-n', 'demo', 'tier-');
      const pod2 = await client.get<Pod>(resources.pods, 'sleep', 'demo');
      assert.equal(pod2.metadata.labels?.tier, undefined);
    });

    void test('create token (a protobuf TokenRequest) gives a token TokenReview accepts', async () => {
      const token = (
        await ok(
          'create',
          'token',
          'default',
          '-n',
          'demo',
          '--audience',
          'istio-ca',
          '--bound-object-kind',
          'Pod',
          '--bound-object-name',
          'sleep',
        )
      ).trim();
      const review = await client.request<{
        status: {
          authenticated: boolean;
          user: { username: string; extra: Record<string, string[]> };
        };
      }>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: ['istio-ca'] },
      });
      assert.equal(review.status.authenticated, true);
      assert.equal(review.status.user.username, 'system:serviceaccount:demo:default');
      assert.deepEqual(review.status.user.extra['authentication.kubernetes.io/pod-name'], [
        'sleep',
      ]);
    });

    void test('an invalid manifest is refused naming the field', async () => {
      const bad = file(
        'bad.yaml',
        'apiVersion: v1\nkind: Pod\nmetadata: {name: bad, namespace: demo}\nspec:\n  containers: []\n',
      );
      const r = await kubectl('apply', '-f', bad);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /The Pod "bad" is invalid: spec\.containers: Required value/);
      const badSvc = file(
        'badsvc.yaml',
        'apiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: demo}\nspec:\n  clusterIP: 10.1.2.3\n  ports: [{port: 80}]\n',
      );
      const r2 = await kubectl('apply', '-f', badSvc);
      assert.notEqual(r2.code, 0);
      assert.match(r2.stderr, /spec\.clusterIP: Invalid value: "10\.1\.2\.3"/);
    });

    void test('an unknown kind is refused', async () => {
      const r = await kubectl(
        'apply',
        '-f',
        file('unknown.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n'),
      );
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /no matches for kind "Widget" in version "example\.com\/v1"/);
    });

    void test('delete removes objects; pods on a node and namespaces wait for the kubelet', async () => {
      await ok('delete', 'pod', 'curl', '-n', 'demo');
      await assert.rejects(
        client.get(resources.pods, 'curl', 'demo'),
        (e: unknown) => e instanceof KubeApiError && e.status === 404,
      );
      await ok('delete', '-f', file('gw.yaml', manifest(2, 8001).split('---').slice(-1)[0]!));
      await assert.rejects(client.get(resources.gateways, 'waypoint', 'demo'));
      const r = await kubectl('delete', 'ns', 'demo', '--wait=false');
      assert.equal(r.code, 0, r.stderr);
      const ns = await client.get<KubeObject<unknown, { phase: string }>>(
        resources.namespaces,
        'demo',
      );
      assert.equal(ns.status?.phase, 'Terminating');
      // The scheduled pod is only marked; what the kubelet then does removes it for good.
      const pod = await client.get<Pod>(resources.pods, 'sleep', 'demo');
      assert.ok(pod.metadata.deletionTimestamp);
      assert.match(await ok('get', 'pods', '-n', 'demo'), /sleep\s+0\/1\s+Terminating/);
      await client.request('DELETE', '/api/v1/namespaces/demo/pods/sleep', {
        gracePeriodSeconds: 0,
      });
      const out = await ok('get', 'ns');
      assert.doesNotMatch(out, /^demo\s/m);
      await assert.rejects(client.get(resources.services, 'httpbin', 'demo'));
    });
  },
);
