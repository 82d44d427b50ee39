/**
 * Delta ADS end to end on loopback: real gRPC + TLS server (serving cert from our CA) and the
 * xDS client: full state first, then only increments; a NACK keeps the previous state and is
 * logged by the server; a reconnect sends initial_resource_versions and gets only what differs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION, type Address } from '../../src/api/workload.js';
import { CertificateAuthority } from '../../src/controlplane/ca/authority.js';
import { AdsServer } from '../../src/controlplane/xds/ads.js';
import { startGrpcServer, type RunningGrpcServer } from '../../src/controlplane/xds/grpc-server.js';
import { publish } from '../../src/controlplane/xds/publish.js';
import { ResourceStore } from '../../src/controlplane/xds/store.js';
import { createLogger } from '../../src/log.js';
import { createXdsClient, type DeltaXdsClient } from '../../src/xds/client.js';
import type { XdsDelta } from '../../src/xds/types.js';
import { ADDRESS_TYPE } from '../../src/xds/workload-types.js';
import { freePort, silentFirstFront } from '../helpers/net.js';
import { denyPolicy, service, workload } from '../helpers/xds-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'ambit-cp-xds-'));
const logLines: string[] = [];
const log = createLogger('test-cp', (l) => logLines.push(l));
let ca: CertificateAuthority;
let serving: { keyPem: string; certPem: string };
let store: ResourceStore;
let ads: AdsServer;
let server: RunningGrpcServer;
let client: DeltaXdsClient;

const sleep = { workload: workload('sleep-1', '10.244.2.8', 'worker2') };
const httpbin = { workload: workload('httpbin-1', '10.244.1.7', 'worker') };
const svc = { service: service('httpbin', '10.96.0.105', 8000, 80) };

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function serve(port: number): Promise<void> {
  ads = new AdsServer({ store, log, trustedAccounts: ['istio-system/ztunnel'] });
  server = await startGrpcServer({
    host: '127.0.0.1',
    port,
    ...serving,
    ads,
    createCertificate: (_call, cb) => cb({ code: 12, details: 'no CA in this test' }, null),
  });
}

before(async () => {
  ca = await CertificateAuthority.open({ stateDir: dir });
  serving = await ca.issueServing(['istiod.istio-system.svc', '127.0.0.1']);
  store = new ResourceStore([TYPE_ADDRESS, TYPE_AUTHORIZATION]);
  publish(store, [sleep, httpbin, svc], [denyPolicy('deny-foo', 'default', 80)]);
  await serve(0);
});

after(async () => {
  await client?.stop();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

void test('full state first, then only the change', async () => {
  client = createXdsClient({
    address: `127.0.0.1:${server.port}`,
    rootCa: ca.rootPem,
    node: {
      id: 'ztunnel~10.244.2.3~ztunnel-a.istio-system~istio-system.svc.cluster.local',
      nodeName: 'worker2',
    },
  });
  const deltas: XdsDelta[] = [];
  client.on('delta', (d) => deltas.push(d));
  client.start();
  await Promise.race([
    client.ready(),
    new Promise((_, rej) => setTimeout(() => rej(new Error('not ready in 5 s')), 5000)),
  ]);
  assert.deepEqual([...client.addresses.keys()].sort(), [
    'Kubernetes//Pod/default/httpbin-1',
    'Kubernetes//Pod/default/sleep-1',
    'default/httpbin.default.svc.cluster.local',
  ]);
  assert.deepEqual(client.addresses.get('Kubernetes//Pod/default/sleep-1'), sleep);
  assert.deepEqual(client.addresses.get('default/httpbin.default.svc.cluster.local'), svc);
  assert.deepEqual(
    client.authorizations.get('default/deny-foo'),
    denyPolicy('deny-foo', 'default', 80),
  );

  // Change one workload, remove the service: exactly that arrives.
  deltas.length = 0;
  const sleep2: Address = { workload: { ...sleep.workload, status: 'Unhealthy' } };
  publish(store, [sleep2, httpbin], [denyPolicy('deny-foo', 'default', 80)]);
  await until('the address delta', () => deltas.length > 0);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(deltas.length, 1, 'one delta, for addresses only');
  assert.equal(deltas[0]!.typeUrl, TYPE_ADDRESS);
  assert.deepEqual(deltas[0]!.addresses, {
    added: [sleep2],
    removed: ['default/httpbin.default.svc.cluster.local'],
  });
  assert.equal(
    client.addresses.get('Kubernetes//Pod/default/sleep-1')?.workload?.status,
    'Unhealthy',
  );
  await until(
    'the server to see the ACK',
    () =>
      ads.connections()[0]?.types[TYPE_ADDRESS]?.lastAck?.version === store.version(TYPE_ADDRESS),
  );
  assert.equal(ads.connections()[0]!.node, 'worker2');
});

void test('a NACK keeps the previous state and is logged', async () => {
  const before = new Map(client.addresses);
  const good = store.get(TYPE_ADDRESS);
  const bad = new Map([...good].map(([k, v]) => [k, v.value]));
  bad.set('Kubernetes//Pod/default/broken', Buffer.from([0x0a, 0x05, 0xff])); // truncated protobuf
  store.set(TYPE_ADDRESS, bad);
  await until('the NACK', () => client.lastNack !== undefined);
  assert.match(client.lastNack!.message, /XDS_DECODE_FAILED/);
  assert.deepEqual(client.addresses, before, 'previous state stays in force');
  await until('the server to record the NACK', () =>
    Boolean(ads.connections()[0]?.types[TYPE_ADDRESS]?.lastNack),
  );
  assert.ok(
    logLines.some((l) => l.includes('NACK from ztunnel') && l.includes('XDS_DECODE_FAILED')),
    'the server logs the NACK with its error detail',
  );
  // The next good state is accepted again.
  const deltas: XdsDelta[] = [];
  client.on('delta', (d) => deltas.push(d));
  publish(store, [sleep, httpbin], [denyPolicy('deny-foo', 'default', 80)]);
  await until('the repaired state', () => deltas.length > 0);
  assert.equal(
    client.addresses.get('Kubernetes//Pod/default/sleep-1')?.workload?.status,
    'Healthy',
  );
  assert.equal(client.addresses.has('Kubernetes//Pod/default/broken'), false);
});

void test('in-place updates push only the changed names; after a NACK the next push resends', async () => {
  const deltas: XdsDelta[] = [];
  const onDelta = (d: XdsDelta) => deltas.push(d);
  client.on('delta', onDelta);
  const nacks = ads.connections()[0]?.types[TYPE_ADDRESS]?.lastNack?.nonce;
  // One changed workload: the response carries it alone.
  const sleepV2: Address = { workload: { ...sleep.workload, canonicalRevision: 'v2' } };
  const enc = (a: Address) => ADDRESS_TYPE.encode(a);
  assert.deepEqual(store.update(TYPE_ADDRESS, new Map([[sleep.workload.uid, enc(sleepV2)]])), [
    sleep.workload.uid,
  ]);
  await until('the one-workload delta', () => deltas.length > 0);
  assert.deepEqual(deltas[0]!.addresses, { added: [sleepV2], removed: [] });
  // The same bytes again: nothing changes, nothing is sent.
  assert.deepEqual(store.update(TYPE_ADDRESS, new Map([[sleep.workload.uid, enc(sleepV2)]])), []);
  // A response with a good and a broken resource is NACKed whole ...
  const sleepV3: Address = { workload: { ...sleep.workload, canonicalRevision: 'v3' } };
  store.update(
    TYPE_ADDRESS,
    new Map([
      [sleep.workload.uid, enc(sleepV3)],
      ['Kubernetes//Pod/default/broken', Buffer.from([0x0a, 0x05, 0xff])],
    ]),
  );
  await until(
    'the NACK',
    () => ads.connections()[0]?.types[TYPE_ADDRESS]?.lastNack?.nonce !== nacks,
  );
  assert.equal(client.addresses.get(sleep.workload.uid)?.workload?.canonicalRevision, 'v2');
  // ... and removing only the broken one still brings the good one (a full comparison).
  deltas.length = 0;
  store.update(TYPE_ADDRESS, new Map(), ['Kubernetes//Pod/default/broken']);
  await until('the resend after the NACK', () => deltas.length > 0);
  assert.equal(client.addresses.get(sleep.workload.uid)?.workload?.canonicalRevision, 'v3');
  assert.equal(client.addresses.has('Kubernetes//Pod/default/broken'), false);
  deltas.length = 0;
  store.update(TYPE_ADDRESS, new Map([[sleep.workload.uid, enc(sleep)]]));
  await until('sleep back as it was', () => deltas.length > 0);
  client.off('delta', onDelta);
});

void test('reconnect sends initial_resource_versions and gets only what differs', async () => {
  const port = server.port;
  const deltas: XdsDelta[] = [];
  client.on('delta', (d) => deltas.push(d));
  let disconnected = false;
  client.once('disconnected', () => (disconnected = true));
  await server.close();
  await until('the client to see the disconnect', () => disconnected);
  // A new control plane (fresh store) where only httpbin changed and a policy was added.
  store = new ResourceStore([TYPE_ADDRESS, TYPE_AUTHORIZATION]);
  const httpbin2: Address = { workload: { ...httpbin.workload, canonicalRevision: 'v2' } };
  publish(
    store,
    [sleep, httpbin2],
    [denyPolicy('deny-foo', 'default', 80), denyPolicy('deny-bar', 'default', 81)],
  );
  deltas.length = 0;
  await serve(port);
  await until('both types resent', () => deltas.filter((d) => d.typeUrl).length >= 2, 10_000);
  const addr = deltas.find((d) => d.typeUrl === TYPE_ADDRESS)!;
  const authz = deltas.find((d) => d.typeUrl === TYPE_AUTHORIZATION)!;
  assert.deepEqual(addr.addresses, { added: [httpbin2], removed: [] });
  assert.deepEqual(authz.authorizations, {
    added: [denyPolicy('deny-bar', 'default', 81)],
    removed: [],
  });
  assert.equal(client.addresses.size, 2);
  assert.equal(client.authorizations.size, 2);
});

void test('a client started before the control plane listens connects once it does', async () => {
  const port = await freePort();
  const early = createXdsClient({
    address: `127.0.0.1:${port}`,
    rootCa: ca.rootPem,
    logger: log,
    node: {
      id: 'ztunnel~10.244.1.3~ztunnel-b.istio-system~istio-system.svc.cluster.local',
      nodeName: 'worker',
    },
  });
  const refused: string[] = [];
  early.on('disconnected', (e) => refused.push(String(e)));
  early.start();
  let late: RunningGrpcServer | undefined;
  try {
    // Refused for long enough that the backoff has grown (100, 200, 400, 800 ms).
    await until('refused connects', () => refused.length >= 4, 10_000);
    late = await startGrpcServer({
      host: '127.0.0.1',
      port,
      ...serving,
      ads: new AdsServer({ store, log, trustedAccounts: ['istio-system/ztunnel'] }),
      createCertificate: (_call, cb) => cb({ code: 12, details: 'no CA in this test' }, null),
    });
    await Promise.race([
      early.ready(),
      new Promise((_, rej) =>
        setTimeout(() => rej(new Error('not synced 10 s after listen')), 10_000),
      ),
    ]);
    assert.ok(early.addresses.size > 0);
  } finally {
    await early.stop();
    await late?.close();
  }
});

void test('a dial that never connects is abandoned: the next attempt on a new channel syncs', async () => {
  const front = await silentFirstFront(server.port);
  const lines: string[] = [];
  const c = createXdsClient({
    address: `127.0.0.1:${front.port}`,
    rootCa: ca.rootPem,
    logger: createLogger('test-xds', (l) => lines.push(l)),
    connectTimeoutMs: 300,
    node: {
      id: 'ztunnel~10.244.1.3~ztunnel-c.istio-system~istio-system.svc.cluster.local',
      nodeName: 'worker',
    },
  });
  c.start();
  try {
    await Promise.race([
      c.ready(),
      new Promise((_, rej) => setTimeout(() => rej(new Error('not synced in 10 s')), 10_000)),
    ]);
    assert.equal(front.held(), 1);
    assert.ok(c.addresses.size > 0);
    assert.ok(
      lines.some((l) => l.includes('control plane not connected in time')),
      lines.join('\n'),
    );
  } finally {
    await c.stop();
    await front.close();
  }
});
