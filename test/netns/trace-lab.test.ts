/**
 * `traceLive` against a real lab: first without the mesh (kube-proxy's DNAT path), then with
 * the mesh installed and the namespace enrolled, where the traced path of the first request
 * (so the HBONE connection is new, not pooled) must hold seed 000's hops in order.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { KubeClient } from '../../src/k8s/client.js';
import { resources } from '../../src/k8s/resources.js';
import type { Pod } from '../../src/k8s/types.js';
import { installMesh, setAmbient } from '../../src/lab/mesh/install.js';
import { run } from '../../src/sys/exec.js';
import { labPaths } from '../../src/lab/cluster/paths.js';
import { traceLive } from '../../src/trace/live.js';
import type { Hop } from '../../src/trace/model.js';
import { renderPath } from '../../src/trace/render.js';
import { assertSeedsPath } from '../helpers/trace-expect.js';
import { labName, skipUnlessRoot } from '../helpers/root.js';
import { repoRoot } from '../../src/repo.js';

const lab = labName('tr');
const ambit = join(repoRoot(), 'bin', 'ambit');
const env = {
  ...process.env,
  ...(import.meta.url.endsWith('.ts') ? { AMBIT_TSX: '1' } : {}),
};

async function ambitRun(args: string[], timeoutMs: number) {
  return run(ambit, args, { allowFail: true, timeoutMs, env });
}

function client(): KubeClient {
  return KubeClient.fromKubeconfig(labPaths(lab).kubeconfig);
}

async function podName(app: string): Promise<string> {
  const pods = await client().list<Pod>(resources.pods, {
    namespace: 'default',
    labelSelector: `app=${app}`,
  });
  const p = pods.items[0];
  assert.ok(p, `no ${app} pod`);
  return p.metadata.name;
}

let up = false;

before(async () => {
  if (skipUnlessRoot) return;
  const r = await ambitRun(['lab', 'up', '--name', lab], 240_000);
  assert.equal(r.code, 0, `lab up failed:\n${r.stdout}\n${r.stderr}`);
  up = true;
});

after(async () => {
  if (skipUnlessRoot) return;
  await ambitRun(['lab', 'down', '--name', lab], 120_000);
});

void test(
  'without the mesh: the kube-proxy path, DNAT on the client node',
  { skip: skipUnlessRoot },
  async () => {
    assert.ok(up);
    const sleep = await podName('sleep');
    const httpbin = await podName('httpbin');
    const r = await traceLive({ lab, pod: sleep, url: 'http://httpbin:8000/get' });
    assert.equal(r.response.status, 200, r.response.stderr);
    const text = renderPath(r.path);
    const c = r.path.connections.find((x) => x.part === 1);
    assert.ok(c, text);
    const syn = c.packets.find((p) => p.kind === 'first')?.hops ?? [];
    const names = syn.filter((h) => !h.bridged).map((h) => h.name);
    assert.deepEqual(names, [sleep, 'worker2', 'worker', httpbin], text);
    const nodeA = syn.find((h) => h.name === 'worker2') as Hop;
    assert.ok(
      nodeA.rules.some((x) => /-j DNAT --to-destination 10\.244\.1\.7:80/.test(x.rule)),
      text,
    );
    assert.equal(nodeA.routeTable, 'main');
    assert.equal(nodeA.outDev, 'eth0');
  },
);

void test('with the mesh: seed 000’s hops in order', { skip: skipUnlessRoot }, async () => {
  assert.ok(up);
  const kube = client();
  await installMesh(kube, { timeoutMs: 120_000, lab });
  await setAmbient(kube, 'default', true);
  const sleep = await podName('sleep');
  const httpbin = await podName('httpbin');
  // The node agents mark captured pods, as istio-cni does.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const pods = (await kube.list<Pod>(resources.pods, { namespace: 'default' })).items;
    const captured = pods.filter(
      (p) => p.metadata.annotations?.['ambient.istio.io/redirection'] === 'enabled',
    );
    if ([sleep, httpbin].every((n) => captured.some((p) => p.metadata.name === n))) break;
    assert.ok(Date.now() < deadline, 'sleep and httpbin were not captured within 60 s');
    await new Promise((r) => setTimeout(r, 500));
  }
  let r = await traceLive({ lab, pod: sleep, url: 'http://httpbin:8000/get' });
  // After a monitor overflow the request is repeated, and the repeat rides the HBONE connection
  // the first try opened (no SYN to trace). A new ztunnel A has an empty pool: replace it, retrace.
  for (let i = 0; i < 2 && r.path.warnings.some((w) => w.includes('repeated')); i++) {
    const old = await kube.tryGet<Pod>(resources.pods, 'ztunnel-worker2', 'istio-system');
    await kube.delete(resources.pods, 'ztunnel-worker2', 'istio-system');
    const gone = Date.now() + 60_000;
    // Its DaemonSet recreates it under the same name: wait for the old uid to go.
    const uidOf = async () =>
      (await kube.tryGet<Pod>(resources.pods, 'ztunnel-worker2', 'istio-system'))?.metadata.uid;
    while ((await uidOf()) === old?.metadata.uid) {
      assert.ok(Date.now() < gone, 'ztunnel-worker2 not deleted within 60 s');
      await new Promise((res) => setTimeout(res, 250));
    }
    await installMesh(kube, { timeoutMs: 120_000, lab });
    r = await traceLive({ lab, pod: sleep, url: 'http://httpbin:8000/get' });
  }
  assert.equal(r.response.status, 200, r.response.stderr);
  const text = renderPath(r.path);
  try {
    assertSeedsPath(r.path, {
      sleep,
      nodeA: 'worker2',
      zA: 'ztunnel-worker2',
      nodeB: 'worker',
      zB: 'ztunnel-worker',
      httpbin,
    });
  } catch (err) {
    console.error(text);
    throw err;
  }
});
