/**
 * `ambit controlplane` as its own OS process against an in-process API server, probed with
 * curl on its debug port and a real xDS client; `ambit x config-dump` computes the same config.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { createXdsClient } from '../../src/xds/client.js';
import {
  podToken,
  seedMesh,
  startTestCluster,
  until,
  type TestCluster,
} from '../helpers/xds-cluster.js';
import { repoRoot } from '../../src/repo.js';
import { freePort } from '../helpers/net.js';

const run = promisify(execFile);

const ambit = join(repoRoot(), 'bin', 'ambit');
const env = { ...process.env };
let cluster: TestCluster;
let proc: ChildProcess | undefined;
let stderr = '';
let grpcPort = 0;
let debugPort = 0;
let ztToken = '';

before(async () => {
  cluster = await startTestCluster();
  const mesh = await seedMesh(cluster.kube);
  ztToken = await podToken(cluster.kube, mesh.ztunnelWorker2, cluster.dir);
  grpcPort = await freePort();
  debugPort = await freePort();
  proc = spawn(
    ambit,
    [
      'controlplane',
      '--state-dir',
      join(cluster.dir, 'cp'),
      '--host',
      '127.0.0.1',
      '--port',
      String(grpcPort),
      '--debug-port',
      String(debugPort),
    ],
    {
      env: { ...env, AMBIT_KUBE_SERVER: cluster.api.urls[0] },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await until(
    'the control plane to be ready',
    async () => {
      if (proc?.exitCode !== null) throw new Error(`control plane exited: ${stderr}`);
      const r = await run('curl', [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `http://127.0.0.1:${debugPort}/ready`,
      ]).catch(() => ({ stdout: '' }));
      return r.stdout === '200';
    },
    30_000,
  );
});

after(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc!.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (proc.exitCode === null) proc.kill('SIGKILL');
  }
  await cluster?.close();
});

void test('a ztunnel subscribes to the control-plane process; curl sees it in /debug/connections', async () => {
  const root = readFileSync(join(cluster.dir, 'cp', 'root-cert.pem'), 'utf8');
  const client = createXdsClient({
    address: `127.0.0.1:${grpcPort}`,
    rootCa: root,
    tokenFile: ztToken,
    node: {
      id: 'ztunnel~10.244.2.3~ztunnel-w2.istio-system~istio-system.svc.cluster.local',
      nodeName: 'worker2',
      podName: 'ztunnel-w2',
      podNamespace: 'istio-system',
    },
    logger: createLogger('test', () => undefined),
  });
  client.start();
  try {
    await until('ready', () => client.ready().then(() => true), 10_000);
    assert.ok(client.addresses.has('Kubernetes//Pod/default/sleep-5b8d6-x1'));
    const conns = await until('the connection to be listed', async () => {
      const { stdout } = await run('curl', [
        '-sS',
        `http://127.0.0.1:${debugPort}/debug/connections`,
      ]);
      const list = JSON.parse(stdout) as {
        node: string;
        types: Record<string, { lastAck?: unknown }>;
      }[];
      return list.length && Object.values(list[0]!.types).every((t) => t.lastAck)
        ? list
        : undefined;
    });
    assert.equal(conns[0]!.node, 'worker2');
  } finally {
    await client.stop();
  }
});

void test('ambit x config-dump prints the seed-004 workload entries for a node', async () => {
  const { stdout } = await run(
    ambit,
    ['x', 'config-dump', '--server', cluster.api.urls[0]!, '--node', 'worker2'],
    { env },
  );
  const dump = JSON.parse(stdout) as {
    node: string;
    workloads: Record<string, Record<string, unknown>>;
    services: { hostname: string }[];
    identities: string[];
  };
  assert.equal(dump.node, 'worker2');
  assert.deepEqual(dump.workloads['10.244.2.8'], {
    workloadIp: '10.244.2.8',
    waypointAddresses: [],
    gatewayAddress: null,
    protocol: 'HBONE',
    name: 'sleep-5b8d6-x1',
    namespace: 'default',
    serviceAccount: 'sleep',
    workloadName: 'sleep-5b8d6-x1',
    workloadType: 'pod',
    canonicalName: 'sleep',
    canonicalRevision: 'latest',
    node: 'worker2',
    nativeHbone: false,
    authorizationPolicies: [],
    status: 'Healthy',
  });
  assert.ok(dump.services.some((s) => s.hostname === 'httpbin.default.svc.cluster.local'));
  assert.deepEqual(dump.identities, ['spiffe://cluster.local/ns/default/sa/sleep']);
  await assert.rejects(
    run(ambit, ['x', 'config-dump', '--server', cluster.api.urls[0]!], { env }),
    /config-dump needs --node/,
  );
});
