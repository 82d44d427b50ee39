/**
 * `ambit waypoint` against an in-process API server and control plane: generate prints the
 * Gateway istioctl prints; apply --enroll-namespace --wait creates it, waits for Programmed
 * (reached once a waypoint pod is ready) and labels the namespace with istioctl's output lines;
 * list and status show istioctl's columns; delete --all removes it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { run } from '../../src/cli/waypoint.js';
import { startControlPlane, type ControlPlane } from '../../src/controlplane/server.js';
import type { Gateway } from '../../src/controlplane/model/types.js';
import { resources } from '../../src/k8s/resources.js';
import type { Namespace } from '../../src/k8s/types.js';
import { createLogger } from '../../src/log.js';
import {
  createPod,
  ensureNamespace,
  startTestCluster,
  until,
  type TestCluster,
} from '../helpers/xds-cluster.js';

let cluster: TestCluster;
let cp: ControlPlane;
let server: string;

before(async () => {
  cluster = await startTestCluster();
  server = cluster.api.urls[0]!;
  await ensureNamespace(cluster.kube, 'demo', { 'istio.io/dataplane-mode': 'ambient' });
  cp = await startControlPlane({
    kube: cluster.kube,
    log: createLogger('cp', () => undefined),
    stateDir: join(cluster.dir, 'controlplane'),
    host: '127.0.0.1',
    port: 0,
    debugHost: '127.0.0.1',
    debugPort: 0,
    trustedAccounts: ['istio-system/ztunnel'],
  });
});

after(async () => {
  await cp?.close();
  await cluster?.close();
});

/** Runs the command, returning its exit code and what it printed. */
async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await run(args, (t) => (out += t));
  return { code, out };
}

void test('generate prints the waypoint Gateway', async () => {
  const r = await cli('generate', '--for', 'service', '-n', 'demo');
  assert.equal(r.code, 0);
  assert.deepEqual(parse(r.out), {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: {
      labels: { 'istio.io/waypoint-for': 'service' },
      name: 'waypoint',
      namespace: 'demo',
    },
    spec: {
      gatewayClassName: 'istio-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
    },
  });
  await assert.rejects(cli('generate', '--for', 'pods'), /--for: invalid traffic type "pods"/);
  await assert.rejects(cli('generate', '--name', 'none'), /'none' is a reserved value/);
});

void test('apply --enroll-namespace --wait, list, status, delete --all', async () => {
  const applying = cli('apply', '--enroll-namespace', '--wait', '-n', 'demo', '--server', server);
  // What the lab's Deployment controller and kubelet would do once the control plane deployed it.
  await until('the waypoint Deployment', () =>
    cluster.kube.tryGet(resources.deployments, 'waypoint', 'demo'),
  );
  await createPod(cluster.kube, {
    name: 'waypoint-5c7f-aaaaa',
    namespace: 'demo',
    node: 'worker',
    sa: 'waypoint',
    ip: '10.244.1.40',
    labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' },
    image: 'ambit/waypoint',
  });
  const r = await applying;
  assert.equal(r.code, 0);
  assert.equal(
    r.out,
    '✅ waypoint demo/waypoint applied\n✅ namespace demo labeled with "istio.io/use-waypoint: waypoint"\n',
  );
  const ns = await cluster.kube.get<Namespace>(resources.namespaces, 'demo');
  assert.equal(ns.metadata.labels?.['istio.io/use-waypoint'], 'waypoint');

  const list = await cli('list', '-n', 'demo', '--server', server);
  assert.deepEqual(
    list.out
      .trimEnd()
      .split('\n')
      .map((l) => l.split(/\s{2,}/)),
    [
      ['NAME', 'REVISION', 'TRAFFIC TYPE', 'PROGRAMMED'],
      ['waypoint', 'default', 'service', 'True'],
    ],
  );
  const all = await cli('list', '-A', '--server', server);
  assert.match(all.out.split('\n')[1] ?? '', /^demo\s+waypoint\s+default\s+service\s+True$/);

  const st = await cli('status', '-n', 'demo', '--server', server);
  const lines = st.out.trimEnd().split('\n');
  assert.match(lines[0]!, /^NAMESPACE\s+NAME\s+STATUS\s+TYPE\s+REASON\s+MESSAGE$/);
  assert.ok(
    lines.some((l) =>
      /^demo\s+waypoint\s+True\s+Programmed\s+Programmed\s+Resource programmed/.test(l),
    ),
    st.out,
  );

  // A second apply with another name and --enroll-namespace refuses to steal the namespace.
  await assert.rejects(
    cli('apply', '--name', 'other', '--enroll-namespace', '-n', 'demo', '--server', server),
    /already uses waypoint "waypoint".*--overwrite/,
  );
  const del = await cli('delete', '--all', '-n', 'demo', '--server', server);
  assert.equal(del.code, 0);
  assert.equal(del.out, 'waypoint demo/waypoint deleted\n');
  const left = await cluster.kube.list<Gateway>(resources.gateways, { namespace: 'demo' });
  assert.equal(left.items.length, 0);
  const none = await cli('list', '-n', 'demo', '--server', server);
  assert.equal(none.out, 'No waypoints found in namespace demo.\n');
});
