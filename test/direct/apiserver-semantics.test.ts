// Kubernetes API semantics of the lab API server over real HTTP: optimistic concurrency,
// generateName, namespaces, status subresources, graceful pod deletion, garbage collection,
// pod binding, scale, Tables, and service-account tokens.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubeApiError, KubeClient } from '../../src/k8s/client.js';
import { resources } from '../../src/k8s/resources.js';
import type { KubeObject, Pod } from '../../src/k8s/types.js';
import { startApiServer, type ApiServer } from '../../src/lab/apiserver/server.js';
import { createLogger } from '../../src/log.js';

const status = (code: number, reason?: string) => (e: unknown) =>
  e instanceof KubeApiError && e.status === code && (!reason || e.reason === reason);

const pod = (name: string, extra: Partial<Pod['spec']> = {}, meta: object = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', ...meta },
  spec: { containers: [{ name: 'c', image: 'ambit/sleep' }], ...extra },
});

/** GET with an Accept header, returning status and parsed body. */
function getWith(url: string, accept: string): Promise<{ code: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { accept } }, (res) => {
        let t = '';
        res.setEncoding('utf8').on('data', (d: string) => (t += d));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body: JSON.parse(t) }));
      })
      .on('error', reject);
  });
}

void describe('apiserver semantics', () => {
  let dir: string;
  let server: ApiServer;
  let c: KubeClient;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ambit-apiserver-sem-'));
    server = await startApiServer({
      stateDir: dir,
      listen: [{ host: '127.0.0.1', port: 0 }],
      log: createLogger('apiserver', () => undefined),
    });
    c = new KubeClient({ server: server.urls[0]! });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  void test('create, conflict on stale update, AlreadyExists, generateName, missing namespace', async () => {
    const p = await c.create(resources.pods, pod('a'));
    assert.match(p.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(p.metadata.generation, 1);
    assert.ok(p.metadata.creationTimestamp);
    await assert.rejects(c.create(resources.pods, pod('a')), status(409, 'AlreadyExists'));
    const upd = await c.update(resources.pods, {
      ...p,
      metadata: { ...p.metadata, labels: { v: '2' } },
    });
    assert.ok(Number(upd.metadata.resourceVersion) > Number(p.metadata.resourceVersion));
    await assert.rejects(
      c.update(resources.pods, { ...p, metadata: { ...p.metadata, labels: { v: '3' } } }),
      status(409, 'Conflict'),
    );
    const g = await c.create(
      resources.pods,
      pod('', {}, { name: undefined, generateName: 'gen-' }),
    );
    assert.match(g.metadata.name, /^gen-[a-z0-9]{5}$/);
    await assert.rejects(
      c.create(resources.pods, { ...pod('x'), metadata: { name: 'x', namespace: 'nope' } }),
      status(404, 'NotFound'),
    );
    await assert.rejects(c.get(resources.pods, 'missing', 'default'), status(404, 'NotFound'));
  });

  void test('status is written only through /status; spec changes bump generation', async () => {
    const p = await c.create(resources.pods, pod('st'));
    const withStatus = { ...p, status: { phase: 'Running' as const, podIP: '10.244.1.9' } };
    const main = await c.update(resources.pods, withStatus);
    assert.equal(main.status?.phase, 'Pending', 'the main resource ignores status');
    const st = await c.updateStatus(resources.pods, { ...withStatus, metadata: main.metadata });
    assert.equal(st.status?.podIP, '10.244.1.9');
    const patched = await c.patch<Pod>(
      resources.pods,
      'st',
      { status: { phase: 'Succeeded' } },
      {
        namespace: 'default',
        subresource: 'status',
      },
    );
    assert.equal(patched.status?.phase, 'Succeeded');
    assert.equal(patched.metadata.generation, 1);
    const d = await c.create(resources.deployments, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd', namespace: 'default' },
      spec: {
        selector: { matchLabels: { app: 'd' } },
        template: { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'c' }] } },
      },
    });
    assert.equal((d.spec as unknown as { replicas: number }).replicas, 1, 'replicas default to 1');
    const d2 = await c.patch(
      resources.deployments,
      'd',
      { spec: { replicas: 3 } },
      {
        namespace: 'default',
      },
    );
    assert.equal(d2.metadata.generation, 2);
    const d3 = await c.patch(
      resources.deployments,
      'd',
      { metadata: { labels: { x: 'y' } } },
      {
        namespace: 'default',
      },
    );
    assert.equal(d3.metadata.generation, 2, 'metadata changes do not bump generation');
    const same = await c.patch(
      resources.deployments,
      'd',
      { spec: { replicas: 3 } },
      {
        namespace: 'default',
      },
    );
    assert.equal(same.metadata.resourceVersion, d3.metadata.resourceVersion, 'no-op patch');
    const scale = await c.request<{ spec: { replicas: number }; status: { selector: string } }>(
      'PATCH',
      '/apis/apps/v1/namespaces/default/deployments/d/scale',
      { spec: { replicas: 5 } },
      'application/merge-patch+json',
    );
    assert.equal(scale.spec.replicas, 5);
    assert.equal(scale.status.selector, 'app=d');
  });

  void test('pods on a node are deleted gracefully; owners take their dependents along', async () => {
    await c.create(resources.nodes, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'worker' },
    });
    const p = await c.create(resources.pods, pod('on-node', { nodeName: 'worker' }));
    await c.delete(resources.pods, 'on-node', 'default');
    const marked = await c.get<Pod>(resources.pods, 'on-node', 'default');
    assert.ok(marked.metadata.deletionTimestamp);
    assert.equal(
      (marked.metadata as { deletionGracePeriodSeconds?: number }).deletionGracePeriodSeconds,
      30,
    );
    await c.request('DELETE', '/api/v1/namespaces/default/pods/on-node?gracePeriodSeconds=0');
    await assert.rejects(c.get(resources.pods, 'on-node', 'default'), status(404));
    assert.ok(p.metadata.uid);
    // No Node object, no kubelet: the pod goes at once.
    await c.create(resources.pods, pod('nodeless', { nodeName: 'no-such-node' }));
    await c.delete(resources.pods, 'nodeless', 'default');
    await assert.rejects(c.get(resources.pods, 'nodeless', 'default'), status(404));

    const unscheduled = await c.create(resources.pods, pod('bind-me'));
    await c.request('POST', '/api/v1/namespaces/default/pods/bind-me/binding', {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: 'bind-me' },
      target: { apiVersion: 'v1', kind: 'Node', name: 'worker2' },
    });
    const bound = await c.get<Pod>(resources.pods, 'bind-me', 'default');
    assert.equal(bound.spec?.nodeName, 'worker2');
    assert.equal(bound.metadata.uid, unscheduled.metadata.uid);
    await assert.rejects(
      c.request('POST', '/api/v1/namespaces/default/pods/bind-me/binding', {
        target: { name: 'worker' },
      }),
      status(409),
    );

    const owner = await c.create<KubeObject>(resources.configmaps, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'owner', namespace: 'default' },
    });
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid! };
    await c.create(resources.pods, pod('owned', {}, { ownerReferences: [ref] }));
    await c.delete(resources.configmaps, 'owner', 'default');
    await assert.rejects(c.get(resources.pods, 'owned', 'default'), status(404));
  });

  void test('namespace deletion cascades; new namespaces get a default ServiceAccount', async () => {
    await c.create(resources.namespaces, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'tmp' },
    });
    await c.get(resources.serviceaccounts, 'default', 'tmp');
    await c.create(resources.services, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's', namespace: 'tmp' },
      spec: { ports: [{ port: 80 }] },
    });
    await c.delete(resources.namespaces, 'tmp');
    await assert.rejects(c.get(resources.namespaces, 'tmp'), status(404));
    await assert.rejects(c.get(resources.services, 's', 'tmp'), status(404));
    await assert.rejects(
      c.create(resources.configmaps, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'x', namespace: 'tmp' },
      }),
      status(404),
    );
  });

  void test('Tables for kubectl, with PartialObjectMetadata or the object', async () => {
    const accept = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';
    const t = await getWith(`${server.urls[0]!}/api/v1/namespaces/default/pods`, accept);
    const table = t.body as {
      kind: string;
      columnDefinitions: { name: string; priority: number }[];
      rows: { cells: unknown[]; object: { kind: string; metadata: { name: string } } }[];
    };
    assert.equal(table.kind, 'Table');
    assert.deepEqual(
      table.columnDefinitions.map((col) => col.name),
      [
        'Name',
        'Ready',
        'Status',
        'Restarts',
        'Age',
        'IP',
        'Node',
        'Nominated Node',
        'Readiness Gates',
      ],
    );
    assert.equal(table.columnDefinitions[5]!.priority, 1);
    const a = table.rows.find((r) => r.cells[0] === 'a')!;
    assert.equal(a.object.kind, 'PartialObjectMetadata');
    assert.deepEqual(a.cells.slice(1, 4), ['0/1', 'Pending', '0']);
    const full = await getWith(`${server.urls[0]!}/api/v1/nodes?includeObject=Object`, accept);
    assert.deepEqual(
      (full.body as { columnDefinitions: { name: string }[] }).columnDefinitions
        .map((x) => x.name)
        .slice(0, 5),
      ['Name', 'Status', 'Roles', 'Age', 'Version'],
    );
    const plain = await getWith(
      `${server.urls[0]!}/api/v1/namespaces/default/pods/a`,
      'application/json',
    );
    assert.equal((plain.body as KubeObject).kind, 'Pod');
  });

  void test('TokenRequest and TokenReview, bound to a pod', async () => {
    await c.create(resources.serviceaccounts, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'ztunnel', namespace: 'istio-system' },
    });
    const zt = await c.create<Pod>(resources.pods, {
      ...pod('zt'),
      metadata: { name: 'zt', namespace: 'istio-system' },
      spec: { serviceAccountName: 'ztunnel', containers: [{ name: 'z' }] },
    });
    const req = (podRef: object) =>
      c.request<{ status: { token: string; expirationTimestamp: string } }>(
        'POST',
        '/api/v1/namespaces/istio-system/serviceaccounts/ztunnel/token',
        {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: ['istio-ca'], expirationSeconds: 3600, boundObjectRef: podRef },
        },
      );
    const tr = await req({ kind: 'Pod', apiVersion: 'v1', name: 'zt', uid: zt.metadata.uid });
    const token = tr.status.token;
    assert.equal(token.split('.').length, 3);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
      sub: string;
      aud: string[];
      'kubernetes.io': { pod: { name: string } };
    };
    assert.equal(claims.sub, 'system:serviceaccount:istio-system:ztunnel');
    assert.deepEqual(claims.aud, ['istio-ca']);
    assert.equal(claims['kubernetes.io'].pod.name, 'zt');

    type Review = {
      status: {
        authenticated?: boolean;
        error?: string;
        user: { username?: string; extra?: Record<string, string[]> };
      };
    };
    const review = (tok: string, audiences = ['istio-ca']) =>
      c.request<Review>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token: tok, audiences },
      });
    const ok = await review(token);
    assert.equal(ok.status.authenticated, true);
    assert.equal(ok.status.user.username, 'system:serviceaccount:istio-system:ztunnel');
    assert.deepEqual(ok.status.user.extra?.['authentication.kubernetes.io/pod-name'], ['zt']);
    assert.deepEqual(ok.status.user.extra?.['authentication.kubernetes.io/pod-uid'], [
      zt.metadata.uid,
    ]);
    assert.equal((await review(token, ['other'])).status.authenticated, false);
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    assert.equal((await review(forged)).status.authenticated, false);
    // A different uid in the bound reference is refused at issue time.
    await assert.rejects(req({ kind: 'Pod', name: 'zt', uid: 'not-the-uid' }), status(409));

    // Same name, new pod: the old token no longer authenticates.
    await c.delete(resources.pods, 'zt', 'istio-system');
    const gone = await review(token);
    assert.equal(gone.status.authenticated, false);
    assert.match(gone.status.error ?? '', /no longer exists/);
    await c.create(resources.pods, {
      ...pod('zt'),
      metadata: { name: 'zt', namespace: 'istio-system' },
      spec: { serviceAccountName: 'ztunnel', containers: [{ name: 'z' }] },
    });
    assert.equal((await review(token)).status.authenticated, false);

    // The signing key survives a restart: new tokens from before still verify.
    const fresh = (await req({ kind: 'Pod', name: 'zt' })).status.token;
    await server.close();
    server = await startApiServer({
      stateDir: dir,
      listen: [{ host: '127.0.0.1', port: 0 }],
      log: createLogger('apiserver', () => undefined),
    });
    c = new KubeClient({ server: server.urls[0]! });
    assert.equal((await review(fresh)).status.authenticated, true);
  });

  void test('bad requests get Status answers, the server keeps serving', async () => {
    await assert.rejects(c.request('GET', '/api/v1/nothings'), status(404));
    await assert.rejects(
      c.request('GET', '/api/v1/pods?labelSelector=' + encodeURIComponent('a b c')),
      status(400, 'BadRequest'),
    );
    await assert.rejects(
      c.request(
        'PATCH',
        '/api/v1/namespaces/default/pods/a',
        { x: 1 },
        'application/x-unknown-patch',
      ),
      status(415),
    );
    // Server-side apply needs its manager's name.
    await assert.rejects(
      c.request(
        'PATCH',
        '/api/v1/namespaces/default/pods/a',
        { apiVersion: 'v1', kind: 'Pod' },
        'application/apply-patch+yaml',
      ),
      status(400, 'BadRequest'),
    );
    await assert.rejects(
      c.request('POST', '/api/v1/namespaces/default/configmaps', [1, 2]),
      status(400),
    );
    await assert.rejects(
      c.request('POST', '/api/v1/namespaces/default/configmaps', {
        kind: 'Pod',
        metadata: { name: 'x' },
      }),
      status(400),
    );
    const v = await c.request<{ major: string; minor: string }>('GET', '/version');
    assert.equal(v.major, '1');
  });
});
