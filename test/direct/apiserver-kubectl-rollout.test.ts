// kubectl wait / rollout status against Deployment status written by the lab's real
// controller-manager (in-process); the test plays the kubelet, reporting pods Running and Ready.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { resources } from '../../src/k8s/resources.js';
import { podStreamHandlers } from '../../src/lab/apiserver/subresources.js';
import {
  startControllerManager,
  type ControllerManager,
} from '../../src/lab/controllers/manager.js';
import type { Deployment, LabPod } from '../../src/lab/controllers/types.js';
import { createLogger } from '../../src/log.js';
import { skipUnlessKubectl, startKubectlHarness, type KubectlHarness } from '../helpers/kubectl.js';

void describe('kubectl wait and rollout status', { skip: skipUnlessKubectl }, () => {
  let h: KubectlHarness;
  let cm: ControllerManager;

  /** The kubelet's report for every scheduled pod of `prefix` not yet Ready. */
  const markReady = async (prefix: string): Promise<number> => {
    const list = await h.client.list<LabPod>(resources.pods, { namespace: 'default' });
    let n = 0;
    for (const p of list.items) {
      if (!p.metadata.name.startsWith(prefix) || p.metadata.deletionTimestamp) continue;
      if (!p.spec?.nodeName || p.status?.phase === 'Running') continue;
      const ip = `10.244.1.${10 + n++}`;
      await h.client.updateStatus(resources.pods, {
        ...p,
        status: {
          phase: 'Running',
          podIP: ip,
          podIPs: [{ ip }],
          conditions: [
            { type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() },
          ],
        },
      });
    }
    return n;
  };
  /** Deletes terminating pods for good, as the kubelet does once they stopped. */
  const reapTerminating = async (): Promise<void> => {
    const list = await h.client.list<LabPod>(resources.pods, { namespace: 'default' });
    for (const p of list.items)
      if (p.metadata.deletionTimestamp)
        await h.client.request('DELETE', `/api/v1/namespaces/default/pods/${p.metadata.name}`, {
          gracePeriodSeconds: 0,
        });
  };
  const until = async (what: string, fn: () => Promise<boolean>): Promise<void> => {
    for (let i = 0; i < 200; i++) {
      if (await fn()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const deployment = (): Promise<Deployment> =>
    h.client.get<Deployment>(resources.deployments, 'web', 'default');

  before(async () => {
    h = await startKubectlHarness('kubectl-rollout');
    await h.client.create(resources.nodes, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'worker', labels: { 'kubernetes.io/hostname': 'worker' } },
      spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] },
      status: {
        addresses: [{ type: 'InternalIP', address: '172.18.0.4' }],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    });
    cm = await startControllerManager({
      client: h.client,
      log: createLogger('cm', () => undefined),
    });
  });
  after(async () => {
    delete podStreamHandlers.log;
    await cm.stop();
    await h.close();
  });

  void test('a deployment whose pods are not ready is not Available; wait times out', async () => {
    await h.ok('create', 'deployment', 'web', '--image=ambit/httpbin', '--replicas=2');
    await h.ok('expose', 'deployment', 'web', '--port=80');
    await until('two scheduled pods', async () => {
      const l = await h.client.list<LabPod>(resources.pods, { namespace: 'default' });
      return l.items.filter((p) => p.spec?.nodeName).length === 2;
    });
    const r = await h.kubectl('wait', '--for=condition=Available', 'deploy/web', '--timeout=2s');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /timed out waiting for the condition on deployments\/web/);
    const d = await deployment();
    const avail = d.status?.conditions?.find((c) => c.type === 'Available');
    assert.equal(avail?.status, 'False');
    assert.equal(avail?.reason, 'MinimumReplicasUnavailable');
    const prog = d.status?.conditions?.find((c) => c.type === 'Progressing');
    assert.equal(prog?.status, 'True');
    assert.match(prog?.message ?? '', /^Created new replica set "web-[0-9a-f]+"$/);
    assert.match(prog?.lastTransitionTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  void test('rollout status follows the pods turning ready; wait then succeeds', async () => {
    const rollout = h.kubectl('rollout', 'status', 'deploy/web', '--timeout=30s');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await markReady('web-'), 2);
    const r = await rollout;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /deployment "web" successfully rolled out/);
    const w = await h.ok('wait', '--for=condition=Available', 'deploy/web', '--timeout=10s');
    assert.match(w, /^deployment\.apps\/web condition met$/m);
    const d = await deployment();
    assert.deepEqual(
      d.status?.conditions?.map((c) => [c.type, c.status, c.reason]),
      [
        ['Available', 'True', 'MinimumReplicasAvailable'],
        ['Progressing', 'True', 'NewReplicaSetAvailable'],
      ],
    );
    assert.match(
      d.status?.conditions?.[1]?.message ?? '',
      /^ReplicaSet "web-[0-9a-f]+" has successfully progressed\.$/,
    );
    assert.equal(d.status?.availableReplicas, 2);
    assert.equal(d.status?.unavailableReplicas, undefined);
  });

  void test('a new template: rollout status waits for the new pods, then the old ones to go', async () => {
    const before = await deployment();
    const oldMsg = before.status?.conditions?.[1]?.message;
    await h.ok('set', 'image', 'deploy/web', '*=ambit/httpbin:v2');
    await until('a new pod', async () => (await deployment()).status?.updatedReplicas === 1);
    const d = await deployment();
    const prog = d.status?.conditions?.find((c) => c.type === 'Progressing');
    assert.notEqual(prog?.message, oldMsg);
    assert.match(prog?.message ?? '', /replica set "web-[0-9a-f]+"/);
    // maxSurge 25% of 2 rounds up to 1 and maxUnavailable down to 0: one new pod at a time.
    assert.equal(d.status?.conditions?.[0]?.status, 'True');
    const r = await h.kubectl('rollout', 'status', 'deploy/web', '--timeout=1s');
    assert.notEqual(r.code, 0);
    assert.match(
      r.stdout,
      /Waiting for deployment "web" rollout to finish: 1 out of 2 new replicas have been updated/,
    );
    const rollout = h.kubectl('rollout', 'status', 'deploy/web', '--timeout=30s');
    for (let i = 0; i < 100; i++) {
      await markReady('web-');
      await reapTerminating();
      const s = (await deployment()).status;
      if (s?.updatedReplicas === 2 && s.replicas === 2 && s.availableReplicas === 2) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const done = await rollout;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /successfully rolled out/);
  });

  void test('deploy/web and svc/web resolve, also to a pod of the deployment', async () => {
    await reapTerminating();
    const names = await h.ok('get', 'deploy/web', 'svc/web', '-o', 'name');
    assert.deepEqual(names.trim().split('\n'), ['deployment.apps/web', 'service/web']);
    podStreamHandlers.log = {
      request: (_req, res, ctx) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`${ctx.pod.metadata.name}\n`);
        return Promise.resolve();
      },
    };
    const pod = (await h.ok('logs', 'deploy/web')).trim();
    const live = await h.client.list<LabPod>(resources.pods, { namespace: 'default' });
    assert.ok(
      live.items.some((p) => p.metadata.name === pod && !p.metadata.deletionTimestamp),
      `${pod} is one of the deployment's pods`,
    );
    const svcPod = (await h.ok('logs', 'svc/web')).trim();
    assert.match(svcPod, /^web-[0-9a-f]+-[a-z0-9]{5}$/);
  });
});
