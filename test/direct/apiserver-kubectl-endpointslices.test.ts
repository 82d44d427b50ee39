// EndpointSlices kept in sync by the lab's controller-manager (in-process), seen through kubectl.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { resources } from '../../src/k8s/resources.js';
import type { EndpointSlice, KubeObject } from '../../src/k8s/types.js';
import {
  startControllerManager,
  type ControllerManager,
} from '../../src/lab/controllers/manager.js';
import type { LabPod } from '../../src/lab/controllers/types.js';
import { createLogger } from '../../src/log.js';
import {
  createWorkerNode,
  markPodsReady,
  skipUnlessKubectl,
  startKubectlHarness,
  until,
  type KubectlHarness,
} from '../helpers/kubectl.js';

void describe('EndpointSlices', { skip: skipUnlessKubectl }, () => {
  let h: KubectlHarness;
  let cm: ControllerManager;
  const slices = async (svc: string): Promise<EndpointSlice[]> =>
    (
      await h.client.list<EndpointSlice>(resources.endpointslices, {
        namespace: 'default',
        labelSelector: `kubernetes.io/service-name=${svc}`,
      })
    ).items;

  before(async () => {
    h = await startKubectlHarness('kubectl-eps');
    await createWorkerNode(h.client);
    cm = await startControllerManager({
      client: h.client,
      log: createLogger('cm', () => undefined),
    });
  });
  after(async () => {
    await cm.stop();
    await h.close();
  });

  void test('a selector Service gets one slice of its ready pods, as kubectl shows', async () => {
    await h.ok(
      'create',
      'deployment',
      'web',
      '--image=ambit/httpbin',
      '--replicas=2',
      '--port=8080',
    );
    await h.ok('expose', 'deployment', 'web', '--port=80', '--target-port=8080');
    // Before any pod runs: one empty slice.
    await until('a placeholder slice', async () => (await slices('web')).length === 1);
    assert.deepEqual((await slices('web'))[0]!.endpoints, []);
    await until('scheduled pods', async () => {
      const l = await h.client.list<LabPod>(resources.pods, { namespace: 'default' });
      return l.items.filter((p) => p.spec?.nodeName).length === 2;
    });
    assert.equal(await markPodsReady(h.client, 'default', 'web-'), 2);
    await until('two endpoints', async () => (await slices('web'))[0]?.endpoints.length === 2);
    const [s] = await slices('web');
    assert.equal(s!.addressType, 'IPv4');
    assert.match(s!.metadata.name, /^web-[a-z0-9]{5}$/);
    assert.equal(
      s!.metadata.labels?.['endpointslice.kubernetes.io/managed-by'],
      'endpointslice-controller.k8s.io',
    );
    assert.equal(s!.metadata.ownerReferences?.[0]?.kind, 'Service');
    assert.deepEqual(s!.ports, [{ name: '', port: 8080, protocol: 'TCP' }]);
    for (const e of s!.endpoints) {
      assert.deepEqual(e.conditions, { ready: true, serving: true, terminating: false });
      assert.equal(e.targetRef?.kind, 'Pod');
      assert.equal(e.nodeName, 'worker');
    }
    const out = await h.ok('get', 'endpointslices');
    assert.match(out, /^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE$/m);
    assert.match(out, /^web-[a-z0-9]{5}\s+IPv4\s+8080\s+10\.244\.1\.\d+,10\.244\.1\.\d+\s+\S+$/m);
  });

  void test('a terminating pod stays as terminating, not ready', async () => {
    const pods = await h.client.list<LabPod>(resources.pods, { namespace: 'default' });
    const victim = pods.items.find((p) => p.metadata.name.startsWith('web-'))!;
    await h.ok('delete', 'pod', victim.metadata.name, '--wait=false');
    await until('a terminating endpoint', async () =>
      (await slices('web')).some((x) =>
        x.endpoints.some(
          (e) => e.targetRef?.name === victim.metadata.name && e.conditions?.terminating,
        ),
      ),
    );
    const e = (await slices('web'))
      .flatMap((x) => x.endpoints)
      .find((x) => x.targetRef?.name === victim.metadata.name)!;
    assert.deepEqual(e.conditions, { ready: false, serving: true, terminating: true });
  });

  void test("a selector-less Service's Endpoints are mirrored", async () => {
    await h.client.create(resources.services, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'db', namespace: 'default' },
      spec: { ports: [{ name: 'pg', port: 5432 }] },
    } as KubeObject);
    await h.client.create(resources.endpoints, {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'db', namespace: 'default' },
      subsets: [{ addresses: [{ ip: '10.244.9.9' }], ports: [{ name: 'pg', port: 15432 }] }],
    } as KubeObject);
    await until('a mirrored slice', async () => (await slices('db')).length === 1);
    const [s] = await slices('db');
    assert.equal(
      s!.metadata.labels?.['endpointslice.kubernetes.io/managed-by'],
      'endpointslicemirroring-controller.k8s.io',
    );
    assert.deepEqual(s!.endpoints, [{ addresses: ['10.244.9.9'], conditions: { ready: true } }]);
    assert.deepEqual(s!.ports, [{ name: 'pg', port: 15432, protocol: 'TCP' }]);
  });

  void test('deleting the Service removes its slices', async () => {
    await h.ok('delete', 'svc', 'web', 'db');
    await until(
      'no slices',
      async () => (await slices('web')).length + (await slices('db')).length === 0,
    );
    assert.match((await h.kubectl('get', 'endpointslices')).stderr, /No resources found/);
  });
});
