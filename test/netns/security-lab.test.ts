/**
 * Same-node traffic and PeerAuthentication in the real lab (issue #10), everything production
 * code: `ambit lab up` (the scenario with its same-node pair curl → httpbin on worker), the mesh
 * as `ambit demo` installs it, the default namespace enrolled by its label, policies by kubectl.
 *
 * - curl (worker) → httpbin (worker): every request answered, httpbin sees curl's address,
 *   ztunnel B logs both sides with curl's identity, ztunnel A sees none of it.
 * - httpbin → itself through its service.
 * - a service with 3 replicas on two nodes answers every request from either node.
 * - a DENY by principal is bypassed by plaintext from outside the mesh (no identity on 15006);
 *   PeerAuthentication STRICT closes that, while mTLS clients on both nodes keep working.
 * - the control plane's debug port 15014 answers only localhost and admin tokens (matrix #60).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeClient } from '../../src/k8s/client.js';
import { installMesh, setAmbient } from '../../src/lab/mesh/install.js';
import { run } from '../../src/sys/exec.js';
import { repoRoot } from '../../src/repo.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';

const ROOT = repoRoot();
const LAB = labName('sec');
const STATE = process.env.AMBIT_STATE_DIR ?? '/var/lib/ambit';
const KUBECONFIG = join(STATE, 'labs', LAB, 'kubeconfig');
const CURL_ID = 'spiffe://cluster.local/ns/default/sa/curl';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ambit = (args: string[], timeoutMs = 120_000) =>
  run(join(ROOT, 'bin', 'ambit'), args, { allowFail: true, timeoutMs });
const kubectl = (args: string[], input?: string) =>
  run('kubectl', ['--kubeconfig', KUBECONFIG, ...args], { input, allowFail: true });

interface PodJson {
  metadata: { name: string; namespace: string; annotations?: Record<string, string> };
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}

async function pods(): Promise<PodJson[]> {
  const r = await kubectl(['get', 'pods', '-A', '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as { items: PodJson[] }).items : [];
}

const ready = (p: PodJson) =>
  p.status?.phase === 'Running' &&
  (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

const find = (all: PodJson[], n: string) =>
  all.find((x) => x.metadata.name === n || x.metadata.name.startsWith(`${n}-`));

async function waitPods(names: string[], ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last: PodJson[] = [];
  while (Date.now() < deadline) {
    last = await pods();
    if (names.every((n) => find(last, n) && ready(find(last, n)!))) return;
    await sleep(500);
  }
  throw new Error(
    `pods not ready: ${names.join(',')}; have ${last.map((p) => `${p.metadata.name}:${p.status?.phase}`).join(' ')}`,
  );
}

/** Three replicas of httpbin's image: two on worker, one on worker2, behind one Service. */
const spreadYaml = ['worker', 'worker', 'worker2']
  .map(
    (node, i) => `---
apiVersion: v1
kind: Pod
metadata: {name: spread-${i}, namespace: default, labels: {app: spread}}
spec:
  nodeName: ${node}
  containers:
  - name: httpbin
    image: ambit/httpbin
    args: ['--port', '80']
    readinessProbe: {httpGet: {path: /status/200, port: 80}}
`,
  )
  .join('').concat(`---
apiVersion: v1
kind: Service
metadata: {name: spread, namespace: default}
spec:
  selector: {app: spread}
  ports: [{port: 8000, targetPort: 80}]
---
apiVersion: v1
kind: Namespace
metadata: {name: outside}
---
apiVersion: v1
kind: Pod
metadata: {name: intruder, namespace: outside}
spec:
  nodeName: worker2
  containers: [{name: intruder, image: ambit/sleep}]
`);

const denyOutsider = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-outsider, namespace: default}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: DENY
  rules: [{from: [{source: {principals: ["cluster.local/ns/outside/sa/default"]}}]}]
`;

/** From another namespace, the service by its namespaced name. */
const INTRUDER_URL = 'http://httpbin.default:8000/get';

const strict = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec:
  mtls: {mode: STRICT}
`;

void describe(
  'same-node traffic and PeerAuthentication in the lab',
  { skip: skipUnlessRoot, timeout: 900_000 },
  () => {
    const netnsOf = new Map<string, string>();
    const logOf = (pod: string) =>
      readFileSync(
        join(STATE, 'labs', LAB, 'pods', `istio-system_${pod}`, 'istio-proxy.log'),
        'utf8',
      );
    /** `n` curls from `pod`'s namespace; the HTTP status of each, in order ('000' = failed). */
    const curls = async (pod: string, url: string, n: number, maxTime = 5) => {
      const script = `for i in $(seq ${n}); do curl -s -o /dev/null -m ${maxTime} -w '%{http_code}\\n' ${url}; done`;
      const r = await run('sh', ['-c', script], {
        netns: netnsOf.get(pod)!,
        allowFail: true,
        timeoutMs: (maxTime + 2) * n * 1000,
      });
      return r.stdout.split('\n').filter(Boolean);
    };
    const body = async (pod: string, url: string) =>
      (
        await run('curl', ['-sS', '-m', '5', url], {
          netns: netnsOf.get(pod)!,
          allowFail: true,
          timeoutMs: 10_000,
        })
      ).stdout;
    const eventually = async (what: string, check: () => Promise<boolean>, ms = 20_000) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if (await check()) return;
        await sleep(300);
      }
      assert.fail(`${what} did not happen within ${ms} ms`);
    };

    before(async () => {
      const up = await ambit(['lab', 'up', '--name', LAB], 300_000);
      assert.equal(up.code, 0, `lab up: ${up.stdout}\n${up.stderr}`);
      const kube = KubeClient.fromKubeconfig(KUBECONFIG);
      await installMesh(kube, { timeoutMs: 180_000, dnsCapture: true, lab: LAB });
      const applied = await kubectl(['apply', '-f', '-'], spreadYaml);
      assert.equal(applied.code, 0, applied.stderr);
      await setAmbient(kube, 'default', true);
      const names = ['ztunnel-worker', 'ztunnel-worker2', 'sleep', 'curl', 'httpbin', 'spread-0'];
      await waitPods([...names, 'spread-1', 'spread-2', 'intruder', 'istiod']);
      const all = await pods();
      for (const n of [...names, 'intruder']) {
        const ns = find(all, n)?.metadata.annotations?.['lab.ambit.dev/netns'];
        if (ns) netnsOf.set(n, ns);
      }
      // Enrolment is asynchronous: wait until both clients are captured by their ztunnels.
      await eventually(
        'sleep and curl captured',
        async () => {
          await curls('sleep', 'http://httpbin:8000/get', 1, 2);
          await curls('curl', 'http://httpbin:8000/get', 1, 2);
          return (
            logOf('ztunnel-worker2').includes('direction=outbound') &&
            logOf('ztunnel-worker').includes(`src.identity=${CURL_ID}`)
          );
        },
        60_000,
      );
    });

    after(async () => {
      const down = await ambit(['lab', 'down', '--name', LAB], 180_000);
      assert.equal(down.code, 0, `lab down: ${down.stdout}\n${down.stderr}`);
    });

    void it('a same-node pair answers every request; httpbin sees curl; one ztunnel, both sides', async () => {
      const before = logOf('ztunnel-worker2').length;
      const codes = await curls('curl', 'http://httpbin:8000/get', 20);
      assert.deepEqual(codes, Array<string>(20).fill('200'));
      const got = JSON.parse(await body('curl', 'http://httpbin:8000/get')) as { origin: string };
      assert.equal(got.origin, '10.244.1.8');
      await eventually('both access-log lines on ztunnel B', () => {
        const lines = logOf('ztunnel-worker').split('\n');
        const has = (dir: string) =>
          lines.some(
            (l) =>
              l.includes(`direction=${dir} `) &&
              l.includes(`src.identity=${CURL_ID}`) &&
              l.includes('dst.workload=httpbin'),
          );
        return Promise.resolve(has('inbound') && has('outbound'));
      });
      assert.ok(
        !logOf('ztunnel-worker2').slice(before).includes('10.244.1.8'),
        'ztunnel A took part in a same-node connection',
      );
    });

    void it('a pod reaches itself through its own service', async () => {
      assert.deepEqual(await curls('httpbin', 'http://httpbin:8000/get', 5), Array(5).fill('200'));
    });

    void it('a 3-replica service on two nodes answers every request from either node', async () => {
      for (const client of ['curl', 'sleep']) {
        const codes = await curls(client, 'http://spread:8000/get', 24);
        assert.deepEqual(codes, Array<string>(24).fill('200'), `from ${client}`);
      }
      // Replicas on both nodes were reached (their ztunnels logged the inbound side).
      for (const zt of ['ztunnel-worker', 'ztunnel-worker2'])
        assert.match(logOf(zt), /dst\.workload=spread-\d .*direction=inbound /, zt);
    });

    void it('DENY by principal is bypassed by plaintext; STRICT closes the bypass', async () => {
      assert.equal((await kubectl(['apply', '-f', '-'], denyOutsider)).code, 0);
      try {
        // The intruder is outside the mesh: its plaintext reaches httpbin through 15006 with
        // no identity, so a DENY naming its principal cannot match.
        await eventually('policy pushed', async () => {
          const [code] = await curls('intruder', INTRUDER_URL, 1);
          return code === '200';
        });
        const pa = await kubectl(['apply', '-f', '-'], strict);
        assert.equal(pa.code, 0, pa.stderr);
        await eventually(
          'plaintext refused under STRICT',
          async () => (await curls('intruder', INTRUDER_URL, 1, 2))[0] === '000',
        );
        assert.deepEqual(await curls('intruder', INTRUDER_URL, 3, 2), ['000', '000', '000']);
        assert.match(
          logOf('ztunnel-worker'),
          /direction=inbound_plaintext .*explicitly denied by: istio-system\/istio_converted_static_strict/,
        );
        // mTLS clients on both nodes are unaffected.
        assert.deepEqual(await curls('curl', 'http://httpbin:8000/get', 3), Array(3).fill('200'));
        assert.deepEqual(await curls('sleep', 'http://httpbin:8000/get', 3), Array(3).fill('200'));
      } finally {
        await kubectl(['delete', 'peerauthentication', 'default', '-n', 'default']);
        await kubectl(['delete', 'authorizationpolicy', 'deny-outsider', '-n', 'default']);
      }
      await eventually(
        'plaintext admitted again without STRICT',
        async () => (await curls('intruder', INTRUDER_URL, 1, 2))[0] === '200',
      );
    });

    void it("the control plane's debug port: localhost and admins only, refusals logged", async () => {
      const istiod = find(await pods(), 'istiod')!;
      const ip = istiod.status!.podIP!;
      const url = `http://${ip}:15014/debug/config_dump?node=worker`;
      const code = async (where: string, u: string, token?: string) =>
        (
          await run(
            'curl',
            [
              '-s',
              '-o',
              '/dev/null',
              '-m',
              '5',
              '-w',
              '%{http_code}',
              ...(token ? ['-H', `authorization: Bearer ${token}`] : []),
              u,
            ],
            { netns: where, allowFail: true, timeoutMs: 10_000 },
          )
        ).stdout;
      const token = async (sa: string, ns: string) =>
        (await kubectl(['create', 'token', sa, '-n', ns])).stdout.trim();
      const sleepNs = netnsOf.get('sleep')!;
      // Any pod: readiness only.
      assert.equal(await code(sleepNs, `http://${ip}:15014/ready`), '200');
      assert.equal(await code(sleepNs, url), '401');
      assert.equal(await code(sleepNs, `http://${ip}:15014/debug/connections`), '401');
      assert.equal(await code(sleepNs, url, 'not-a-token'), '401');
      assert.equal(await code(sleepNs, url, await token('sleep', 'default')), '403');
      // An admin (a service account of istio-system) and a shell in istiod's pod.
      assert.equal(await code(sleepNs, url, await token('istiod', 'istio-system')), '200');
      const istiodNs = istiod.metadata.annotations!['lab.ambit.dev/netns']!;
      assert.equal(
        await code(istiodNs, 'http://127.0.0.1:15014/debug/config_dump?node=worker'),
        '200',
      );
      const log = readFileSync(
        join(STATE, 'labs', LAB, 'pods', `istio-system_${istiod.metadata.name}`, 'discovery.log'),
        'utf8',
      );
      assert.match(
        log,
        /debug request refused: not an admin .*caller=system:serviceaccount:default:sleep/,
      );
      assert.match(log, /debug request refused: not local and no token/);
    });
  },
);
