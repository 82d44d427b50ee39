/**
 * The lab API server as pods and users meet it: TLS with the lab CA (kubectl with no
 * --insecure flag; a pod reaching `https://kubernetes.default.svc` through the `kubernetes`
 * Service with the ca.crt and token projected at the Kubernetes path), the CA's key out of
 * every pod's reach; authentication and RBAC: a pod's own token does what its bindings allow
 * and no more (no token for another service account), no credentials is 401, and `kubectl
 * auth can-i` as the lab daemons and the mesh's service accounts matches their bindings.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../src/repo.js';
import { run, type RunResult } from '../../src/sys/exec.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';

const bin = join(repoRoot(), 'bin', 'ambit');
const N = labName('au');
const state = join(process.env.AMBIT_STATE_DIR ?? '/var/lib/ambit', 'labs', N);
const kubeconfig = join(state, 'kubeconfig');
const SA = '/var/run/secrets/kubernetes.io/serviceaccount';

function ambit(args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return run(process.execPath, [bin, ...args], { allowFail: true, timeoutMs });
}
function kubectl(args: string[], input?: string, kc = kubeconfig): Promise<RunResult> {
  return run('kubectl', ['--kubeconfig', kc, ...args], {
    allowFail: true,
    input,
    timeoutMs: 60_000,
  });
}
/** A shell command in pod `pod` of `default`; its result. */
function inPod(pod: string, script: string): Promise<RunResult> {
  return kubectl(['exec', pod, '--', 'sh', '-c', script]);
}

const pods = `
apiVersion: v1
kind: Pod
metadata: {name: cl-curl, namespace: default}
spec:
  containers:
  - {name: main, image: ambit/sleep, command: [sleep, '3600']}
`;

void describe(
  'lab API server: TLS, the kubernetes Service, projected CA',
  { skip: skipUnlessRoot, timeout: 400_000 },
  () => {
    before(async () => {
      const r = await ambit(
        ['lab', 'up', '--name', N, '--no-scenario', '--timeout', '150'],
        240_000,
      );
      assert.equal(r.code, 0, `lab up failed:\n${r.stdout}\n${r.stderr}`);
      const a = await kubectl(['apply', '-f', '-'], pods);
      assert.equal(a.code, 0, a.stderr);
      const w = await kubectl(['wait', '--for=condition=Ready', 'pod/cl-curl', '--timeout=120s']);
      assert.equal(w.code, 0, w.stderr);
    });

    after(async () => {
      const r = await ambit(['lab', 'down', '--name', N], 120_000);
      assert.equal(r.code, 0, r.stderr);
    });

    void it('kubectl verifies the server against the CA in its kubeconfig (no --insecure)', async () => {
      const kc = readFileSync(kubeconfig, 'utf8');
      assert.match(kc, /certificate-authority-data: /);
      assert.doesNotMatch(kc, /insecure-skip-tls-verify/);
      const v = await kubectl(['get', '--raw', '/version']);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, /"gitVersion"/);
      // The same server without the CA is refused: by curl, and by kubectl itself (the 1.32
      // binary: gcloud's /usr/bin/kubectl dispatcher fails earlier with a bare EOF; a token so it
      // does not prompt for a user name).
      const server = /server: (\S+)/.exec(kc)![1]!;
      const curl = await run('curl', ['-sS', '-m', '5', `${server}/version`], { allowFail: true });
      assert.equal(curl.code, 60, `curl must refuse an unknown CA: ${curl.stderr}`);
      const k132 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.32';
      if (existsSync(k132)) {
        const refused = await run(
          k132,
          ['--server', server, '--token', 'x', 'get', '--raw', '/version'],
          {
            allowFail: true,
            env: { ...process.env, KUBECONFIG: join(state, 'cl-none.kubeconfig') }, // no such file: no config
          },
        );
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /certificate signed by unknown authority/);
      }
    });

    void it('the kubernetes Service in default points at the API server on 443', async () => {
      const svc = await kubectl([
        'get',
        'svc',
        'kubernetes',
        '-o',
        'jsonpath={.spec.clusterIP}:{.spec.ports[0].port}',
      ]);
      assert.equal(svc.stdout, '10.96.0.1:443');
      const ep = await kubectl([
        'get',
        'endpointslices',
        '-l',
        'kubernetes.io/service-name=kubernetes',
        '-o',
        'jsonpath={.items[0].endpoints[0].addresses[0]}',
      ]);
      assert.equal(ep.code, 0, ep.stderr);
      assert.equal(ep.stdout, '172.18.0.2');
    });

    void it('a pod reaches https://kubernetes.default.svc with its projected ca.crt and token', async () => {
      const files = await inPod(
        'cl-curl',
        `ls ${SA}; cat ${SA}/namespace; echo; head -1 ${SA}/ca.crt`,
      );
      assert.equal(files.code, 0, files.stderr);
      assert.match(files.stdout, /ca\.crt\nnamespace\ntoken\ndefault\n-----BEGIN CERTIFICATE-----/);
      assert.equal(
        readFileSync(join(state, 'pki', 'ca.crt'), 'utf8').split('\n')[1],
        (await inPod('cl-curl', `sed -n 2p ${SA}/ca.crt`)).stdout.trim(),
        'the projected ca.crt is the lab CA',
      );
      // By DNS name and through the env the kubelet sets, verifying the server certificate.
      let r: RunResult | undefined;
      for (let i = 0; i < 40; i++) {
        r = await inPod(
          'cl-curl',
          `curl -sS -m 5 --cacert ${SA}/ca.crt -H "Authorization: Bearer $(cat ${SA}/token)" https://kubernetes.default.svc/version && curl -sS -m 5 --cacert ${SA}/ca.crt https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/version`,
        );
        if (r.code === 0) break;
        await sleep(500); // kube-proxy may not have written the kubernetes Service's rules yet
      }
      assert.equal(r!.code, 0, r!.stderr);
      assert.equal(r!.stdout.match(/"gitVersion"/g)?.length, 2, r!.stdout);
      // Without the CA, curl refuses the server (it is not trusted by the machine's store).
      const bad = await inPod('cl-curl', 'curl -sS -m 5 https://kubernetes.default.svc/version');
      assert.equal(
        bad.code,
        60,
        `curl should fail certificate verification: ${bad.stdout}${bad.stderr}`,
      );
    });

    void it("no pod sees the cluster CA's key or the daemons' credentials", async () => {
      const r = await inPod(
        'cl-curl',
        `ls ${join(state, 'pki')} | wc -l; cat ${join(state, 'pki', 'ca.key')}`,
      );
      assert.match(r.stdout, /^0\n/);
      assert.notEqual(r.code, 0);
    });

    void it("a pod's own token: refused where RBAC says so, allowed once a RoleBinding grants it", async () => {
      const api = (path: string, method = 'GET'): string =>
        `curl -sS -m 5 -o /dev/null -w '%{http_code}' --cacert ${SA}/ca.crt -X ${method} -H "Authorization: Bearer $(cat ${SA}/token)" -H 'content-type: application/json' -d '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}}' https://kubernetes.default.svc${path}`;
      const code = async (script: string): Promise<string> =>
        (await inPod('cl-curl', script)).stdout;
      assert.equal(await code(api('/api/v1/namespaces/default/pods')), '403');
      assert.equal(
        await code(api('/api/v1/namespaces/istio-system/serviceaccounts/ztunnel/token', 'POST')),
        '403',
      );
      assert.equal(
        await code(api('/api/v1/namespaces/default/serviceaccounts/default/token', 'POST')),
        '403',
      );
      assert.equal(await code(api('/api')), '200', 'discovery is open to authenticated users');
      // No credentials at all: 401, except /version.
      const anon = await inPod(
        'cl-curl',
        `curl -sS -m 5 -o /dev/null -w '%{http_code}' --cacert ${SA}/ca.crt https://kubernetes.default.svc/api/v1/pods; echo; curl -sS -m 5 -o /dev/null -w '%{http_code}' --cacert ${SA}/ca.crt https://kubernetes.default.svc/version`,
      );
      assert.equal(anon.stdout, '401\n200');
      const grant = await kubectl([
        'create',
        'rolebinding',
        'cl-view',
        '--clusterrole=view',
        '--serviceaccount=default:default',
        '-n',
        'default',
      ]);
      assert.equal(grant.code, 0, grant.stderr);
      assert.equal(await code(api('/api/v1/namespaces/default/pods')), '200');
      assert.equal(await code(api('/api/v1/namespaces/kube-system/pods')), '403');
      const del = await kubectl(['delete', 'rolebinding', 'cl-view', '-n', 'default']);
      assert.equal(del.code, 0, del.stderr);
      assert.equal(await code(api('/api/v1/namespaces/default/pods')), '403');
    });

    void it('kubectl auth can-i as the lab daemons and the mesh service accounts matches their bindings', async () => {
      // The mesh's RBAC as `ambit manifest generate` prints it (without starting its workloads).
      const gen = await ambit(['manifest', 'generate']);
      assert.equal(gen.code, 0, gen.stderr);
      const rbac = parseAllDocuments(gen.stdout)
        .map((d) => d.toJS() as { kind?: string } | null)
        .filter(
          (o) =>
            o &&
            ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(
              o.kind ?? '',
            ),
        );
      const a = await kubectl(['apply', '-f', '-'], rbac.map((o) => JSON.stringify(o)).join('\n'));
      assert.equal(a.code, 0, a.stderr);
      const canI = async (as: string, ...args: string[]): Promise<string> =>
        (await kubectl(['auth', 'can-i', `--as=${as}`, ...args])).stdout.trim();
      const istiod = 'system:serviceaccount:istio-system:istiod';
      const cni = 'system:serviceaccount:istio-system:istio-cni';
      const zt = 'system:serviceaccount:istio-system:ztunnel';
      const cases: [string, string[], string][] = [
        [istiod, ['list', 'pods', '-A'], 'yes'],
        [istiod, ['create', 'tokenreviews.authentication.k8s.io'], 'yes'],
        [istiod, ['create', 'deployments.apps', '-n', 'default'], 'yes'],
        [istiod, ['delete', 'pods', '-n', 'default'], 'no'],
        // Reads Secrets for ingress Gateways' certificateRefs (Istio's istiod ClusterRole does
        // too), never writes them.
        [istiod, ['get', 'secrets', '-n', 'default'], 'yes'],
        [istiod, ['update', 'secrets', '-n', 'default'], 'no'],
        // ReferenceGrants permit cross-namespace backendRefs and certificateRefs; read only.
        [istiod, ['watch', 'referencegrants.gateway.networking.k8s.io', '-A'], 'yes'],
        [istiod, ['create', 'referencegrants.gateway.networking.k8s.io', '-n', 'default'], 'no'],
        [cni, ['watch', 'namespaces'], 'yes'],
        [cni, ['patch', 'pods', '-n', 'default'], 'yes'],
        [cni, ['create', 'pods', '-n', 'default'], 'no'],
        [zt, ['list', 'pods', '-A'], 'no'],
        [zt, ['create', 'serviceaccounts', '--subresource=token', '-n', 'istio-system'], 'no'],
        // The Node authorizer: named tokens and objects of its own pods, writes to its own Node.
        [
          'system:node:worker',
          ['create', 'serviceaccounts', '--subresource=token', '-n', 'default'],
          'no - can only create tokens for individual service accounts',
        ],
        [
          'system:node:worker',
          ['get', 'secrets', '-n', 'default'],
          'no - can only get individual resources of this type',
        ],
        ['system:node:worker', ['update', 'nodes/worker'], 'yes'],
        [
          'system:node:worker',
          ['update', 'nodes/worker2'],
          'no - node "worker" is not allowed to modify node "worker2"',
        ],
        ['system:node:worker', ['delete', 'deployments.apps', '-n', 'default'], 'no'],
        ['system:kube-proxy', ['watch', 'endpointslices.discovery.k8s.io', '-A'], 'yes'],
        ['system:kube-proxy', ['get', 'secrets', '-n', 'default'], 'no'],
        ['system:kube-controller-manager', ['create', 'pods', '-n', 'default'], 'yes'],
        ['system:serviceaccount:kube-system:coredns', ['watch', 'services', '-A'], 'yes'],
        [
          'system:serviceaccount:kube-system:coredns',
          ['create', 'services', '-n', 'default'],
          'no',
        ],
      ];
      const wrong: string[] = [];
      for (const [as, args, want] of cases) {
        // A node's identity carries its group, as its client certificate does.
        const groups = as.startsWith('system:node:') ? ['--as-group=system:nodes'] : [];
        const got = await canI(as, ...args, ...groups);
        if (got !== want) wrong.push(`${as} ${args.join(' ')}: ${got}, want ${want}`);
      }
      assert.deepEqual(wrong, []);
    });
  },
);
