// The API server with TLS and RBAC, in-process: who is authenticated (client certificates of
// the cluster CA, service-account tokens, anonymous only on the public paths), what RBAC lets
// each identity do, token minting limited to what RBAC and node restriction allow, impersonation,
// and kubectl auth can-i answering from the bindings.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubeApiError, KubeClient } from '../../src/k8s/client.js';
import { resources } from '../../src/k8s/resources.js';
import { kubeconfig } from '../../src/lab/apiserver/kubeconfig.js';
import { LabPki } from '../../src/lab/apiserver/pki.js';
import { startApiServer, type ApiServer } from '../../src/lab/apiserver/server.js';
import { createLogger } from '../../src/log.js';
import { kubectlBin, skipUnlessKubectl } from '../helpers/kubectl.js';

const NS = 'clrb';

void describe('API server authentication and RBAC', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ambit-apiserver-rbac-'));
  let server: ApiServer;
  let url: string;
  let pki: LabPki;
  let admin: KubeClient;
  const asToken = (token: string): KubeClient =>
    new KubeClient({ server: url, ca: pki.caPem, token });
  const tokenOf = async (sa: string, boundPod?: { name: string; uid: string }): Promise<string> => {
    const r = await admin.request<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${NS}/serviceaccounts/${sa}/token`,
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: boundPod ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', ...boundPod } } : {},
      },
    );
    return r.status.token;
  };
  const status = async (p: Promise<unknown>): Promise<number> => {
    try {
      await p;
      return 200;
    } catch (err) {
      if (err instanceof KubeApiError) return err.status;
      throw err;
    }
  };

  before(async () => {
    pki = await LabPki.open(path.join(dir, 'pki'));
    const serving = await pki.serving(['127.0.0.1']);
    server = await startApiServer({
      stateDir: dir,
      listen: [{ host: '127.0.0.1', port: 0 }],
      log: createLogger('apiserver', () => undefined),
      tls: { keyPem: serving.keyPem, certPem: serving.certPem + pki.caPem, caPem: pki.caPem },
      rbac: true,
      crdManifests: [],
    });
    url = server.urls[0]!;
    const cert = await pki.client('kubernetes-admin', ['system:masters']);
    admin = new KubeClient({ server: url, ca: pki.caPem, cert: cert.certPem, key: cert.keyPem });
    await admin.create(resources.namespaces, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: NS },
    });
    for (const name of ['reader', 'ztunnel'])
      await admin.create(resources.serviceaccounts, {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name, namespace: NS },
      });
    await admin.create(resources.roles, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'pod-reader', namespace: NS },
      rules: [
        { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] },
      ],
    });
    await admin.create(resources.rolebindings, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'reader-reads-pods', namespace: NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: NS }],
    });
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  void test('anonymous requests: 401 except the public paths', async () => {
    const anon = new KubeClient({ server: url, ca: pki.caPem });
    assert.equal(await status(anon.request('GET', '/version')), 200);
    assert.equal(await status(anon.list(resources.pods, { namespace: NS })), 401);
    assert.equal(await status(anon.request('GET', '/api')), 401);
  });

  void test('a forged or unknown token is 401; a client certificate of another CA is anonymous', async () => {
    const good = await tokenOf('reader');
    const forged = good.slice(0, -4) + (good.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    assert.equal(await status(asToken(forged).list(resources.pods, { namespace: NS })), 401);
    assert.equal(await status(asToken('not-a-jwt').request('GET', '/version')), 401);
    const other = await LabPki.open(path.join(dir, 'other-pki'));
    const c = await other.client('kubernetes-admin', ['system:masters']);
    const stranger = new KubeClient({ server: url, ca: pki.caPem, cert: c.certPem, key: c.keyPem });
    assert.equal(await status(stranger.list(resources.pods, { namespace: NS })), 401);
  });

  void test('RBAC: a service account does what its RoleBinding grants, in its namespace only', async () => {
    const reader = asToken(await tokenOf('reader'));
    assert.equal(await status(reader.list(resources.pods, { namespace: NS })), 200);
    assert.equal(await status(reader.list(resources.pods, { namespace: 'default' })), 403);
    assert.equal(await status(reader.list(resources.secrets, { namespace: NS })), 403);
    await assert.rejects(
      reader.create(resources.configmaps, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'x', namespace: NS },
      }),
      /configmaps is forbidden: User "system:serviceaccount:clrb:reader" cannot create resource "configmaps" in API group "" in the namespace "clrb"/,
    );
    // Discovery is open to every authenticated user.
    assert.equal(await status(reader.request('GET', '/api')), 200);
  });

  void test("a pod's token cannot mint a token for another service account", async () => {
    const pod = await admin.create(resources.pods, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'app', namespace: NS },
      spec: {
        serviceAccountName: 'reader',
        nodeName: 'n1',
        containers: [{ name: 'c', image: 'i' }],
      },
    });
    const podToken = await tokenOf('reader', {
      name: 'app',
      uid: String((pod.metadata as { uid?: string }).uid),
    });
    const p = asToken(podToken);
    assert.equal(await status(p.list(resources.pods, { namespace: NS })), 200);
    assert.equal(
      await status(
        p.request('POST', `/api/v1/namespaces/${NS}/serviceaccounts/ztunnel/token`, {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {},
        }),
      ),
      403,
    );
  });

  void test('a kubelet gets tokens only for pods bound to its node', async () => {
    const pod = await admin.create(resources.pods, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'on-n1', namespace: NS },
      spec: {
        serviceAccountName: 'ztunnel',
        nodeName: 'n1',
        containers: [{ name: 'c', image: 'i' }],
      },
    });
    const mint = async (node: string, bound: boolean): Promise<number> => {
      const c = await pki.client(`system:node:${node}`, ['system:nodes']);
      const k = new KubeClient({ server: url, ca: pki.caPem, cert: c.certPem, key: c.keyPem });
      return status(
        k.request('POST', `/api/v1/namespaces/${NS}/serviceaccounts/ztunnel/token`, {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: bound
            ? {
                boundObjectRef: {
                  kind: 'Pod',
                  apiVersion: 'v1',
                  name: 'on-n1',
                  uid: (pod.metadata as { uid?: string }).uid,
                },
              }
            : {},
        }),
      );
    };
    assert.equal(await mint('n1', true), 200);
    assert.equal(await mint('n2', true), 403);
    assert.equal(await mint('n1', false), 403);
  });

  void test("the Node authorizer: a kubelet reads only its pods' Secrets and ConfigMaps, writes only its own", async () => {
    for (const [kind, name] of [
      [resources.secrets, 's-used'],
      [resources.secrets, 's-env'],
      [resources.secrets, 's-other'],
      [resources.configmaps, 'cm-used'],
      [resources.configmaps, 'cm-other'],
    ] as const)
      await admin.create(kind, {
        apiVersion: 'v1',
        kind: kind.kind,
        metadata: { name, namespace: NS },
        data: {},
      });
    const podOn = (name: string, node: string, extra: object, volumes: object[] = []) =>
      admin.create(resources.pods, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: NS },
        spec: { nodeName: node, volumes, containers: [{ name: 'c', image: 'i', ...extra }] },
      });
    await podOn(
      'uses-n3',
      'n3',
      {
        env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's-env', key: 'k' } } }],
        envFrom: [{ configMapRef: { name: 'cm-used' } }],
      },
      [{ name: 'v', secret: { secretName: 's-used' } }],
    );
    await podOn('elsewhere', 'n4', {
      envFrom: [{ secretRef: { name: 's-other' } }, { configMapRef: { name: 'cm-other' } }],
    });
    const c = await pki.client('system:node:n3', ['system:nodes']);
    const n3 = new KubeClient({ server: url, ca: pki.caPem, cert: c.certPem, key: c.keyPem });
    const get = (kind: string, name: string) =>
      status(n3.request('GET', `/api/v1/namespaces/${NS}/${kind}/${name}`));
    assert.equal(await get('secrets', 's-used'), 200);
    assert.equal(await get('secrets', 's-env'), 200);
    assert.equal(await get('configmaps', 'cm-used'), 200);
    assert.equal(await get('configmaps', 'kube-root-ca.crt'), 200);
    assert.equal(await get('secrets', 's-other'), 403);
    assert.equal(await get('configmaps', 'cm-other'), 403);
    assert.equal(await status(n3.request('GET', `/api/v1/namespaces/${NS}/secrets`)), 403);
    const refused = await n3.request('GET', `/api/v1/namespaces/${NS}/secrets/s-other`).then(
      () => '',
      (e: Error) => e.message,
    );
    assert.match(refused, /no relationship found between node 'n3' and this object/);
    // Writes: its own pods' status and its own Node only.
    const st = { status: { phase: 'Running' } };
    const patch = (p: string) => status(n3.request('PATCH', p, st, 'application/merge-patch+json'));
    assert.equal(await patch(`/api/v1/namespaces/${NS}/pods/uses-n3/status`), 200);
    assert.equal(await patch(`/api/v1/namespaces/${NS}/pods/elsewhere/status`), 403);
    assert.equal(
      await status(n3.request('DELETE', `/api/v1/namespaces/${NS}/pods/elsewhere`)),
      403,
    );
    for (const n of ['n3', 'n4'])
      await admin.create(resources.nodes, {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: n },
      });
    assert.equal(await patch('/api/v1/nodes/n3/status'), 200);
    assert.equal(await patch('/api/v1/nodes/n4/status'), 403);
    // Reading pods and nodes stays RBAC's (the system:node role).
    assert.equal(await status(n3.request('GET', `/api/v1/namespaces/${NS}/pods/elsewhere`)), 200);
  });

  void test('impersonation needs the impersonate verb', async () => {
    const asReader = new KubeClient({ server: url, ca: pki.caPem, token: await tokenOf('reader') });
    // The admin may impersonate; the reader may not.
    const r = await admin.request<{ status: { allowed: boolean } }>(
      'POST',
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: `system:serviceaccount:${NS}:reader`,
          resourceAttributes: { verb: 'list', resource: 'pods', namespace: NS },
        },
      },
    );
    assert.equal(r.status.allowed, true);
    assert.equal(
      await status(
        asReader.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {}),
      ),
      403,
    );
  });

  void test(
    'kubectl auth can-i answers from the bindings, as several identities',
    { skip: skipUnlessKubectl },
    async () => {
      const cert = await pki.client('kubernetes-admin', ['system:masters']);
      const kc = path.join(dir, 'admin.kubeconfig');
      writeFileSync(kc, kubeconfig('t', url, { caPem: pki.caPem, ...cert }));
      const readerKc = path.join(dir, 'reader.kubeconfig');
      writeFileSync(
        readerKc,
        kubeconfig('t', url, { caPem: pki.caPem, token: await tokenOf('reader') }),
      );
      const canI = (file: string, ...args: string[]): Promise<string> =>
        new Promise((resolve) =>
          execFile(
            kubectlBin,
            [
              '--kubeconfig',
              file,
              '--cache-dir',
              path.join(dir, 'cache'),
              'auth',
              'can-i',
              ...args,
            ],
            { timeout: 60_000 },
            (_err, stdout) => resolve(stdout.trim()),
          ),
        );
      const sa = `--as=system:serviceaccount:${NS}:reader`;
      assert.equal(await canI(kc, 'delete', 'nodes'), 'yes');
      assert.equal(await canI(kc, 'list', 'pods', '-n', NS, sa), 'yes');
      assert.equal(await canI(kc, 'get', 'pods', '--subresource=log', '-n', NS, sa), 'yes');
      assert.equal(await canI(kc, 'list', 'pods', '-n', 'default', sa), 'no');
      assert.equal(
        await canI(kc, 'create', 'serviceaccounts', '--subresource=token', '-n', NS, sa),
        'no',
      );
      assert.equal(
        await canI(kc, 'list', 'pods', '-n', NS, `--as=system:serviceaccount:${NS}:ztunnel`),
        'no',
      );
      const node = ['--as=system:node:n1', '--as-group=system:nodes'];
      // The Node authorizer: tokens of its pods' service accounts only, named.
      assert.equal(
        await canI(
          kc,
          'create',
          'serviceaccounts/ztunnel',
          '--subresource=token',
          '-n',
          NS,
          ...node,
        ),
        'yes',
      );
      assert.equal(
        await canI(
          kc,
          'create',
          'serviceaccounts/default',
          '--subresource=token',
          '-n',
          NS,
          ...node,
        ),
        "no - no relationship found between node 'n1' and this object",
      );
      assert.equal(
        await canI(kc, 'create', 'serviceaccounts', '--subresource=token', '-n', NS, ...node),
        'no - can only create tokens for individual service accounts',
      );
      assert.equal(await canI(kc, 'update', 'nodes/n1', ...node), 'yes');
      assert.equal(
        await canI(kc, 'update', 'nodes/n2', ...node),
        'no - node "n1" is not allowed to modify node "n2"',
      );
      assert.equal(await canI(kc, 'delete', 'deployments.apps', '-n', NS, ...node), 'no');
      // The reader's own token, with no impersonation: the same answers.
      assert.equal(await canI(readerKc, 'list', 'pods', '-n', NS), 'yes');
      assert.equal(await canI(readerKc, 'delete', 'pods', '-n', NS), 'no');
      const list = await canI(readerKc, '--list', '-n', NS);
      assert.match(list, /^pods\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
      assert.doesNotMatch(list, /^\*\.\*/m);
    },
  );
});
