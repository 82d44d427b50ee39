import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRequest } from '../../src/ztunnel/outbound.js';
import { candidates, chooseEndpoint } from '../../src/state/lb.js';
import { ZtunnelState } from '../../src/state/store.js';
import { selectedBy, service, workload } from '../../src/ztunnel/testing.js';

const httpbinSvc = service('httpbin', '10.96.0.105', [[8000, 80]]);
const pod = (n: number, o = {}) =>
  selectedBy(
    workload(`httpbin-${n}`, `10.244.1.${n}`, 'worker', { workloadName: 'httpbin', ...o }),
    httpbinSvc,
  );
const sleep = workload('sleep', '10.244.2.8', 'worker2');

function fresh(): ZtunnelState {
  const s = new ZtunnelState();
  s.applyDelta({
    typeUrl: 't',
    version: '1',
    addresses: {
      added: [
        { service: httpbinSvc },
        { workload: pod(7) },
        { workload: pod(9) },
        { workload: sleep },
      ],
      removed: [],
    },
  });
  return s;
}

void test('deltas: add, index by IP/VIP/host, remove, events', () => {
  const s = fresh();
  let addrEvents = 0;
  s.on('addresses', () => addrEvents++);
  assert.equal(s.workloadByIp('10.244.1.7')?.name, 'httpbin-7');
  assert.equal(s.serviceByVip('10.96.0.105')?.name, 'httpbin');
  assert.equal(s.serviceByHost('default', 'httpbin.default.svc.cluster.local')?.name, 'httpbin');
  assert.equal(s.endpoints(httpbinSvc).length, 2);
  s.applyDelta({
    typeUrl: 't',
    version: '2',
    addresses: {
      added: [],
      removed: ['Kubernetes//Pod/default/httpbin-9', 'default/httpbin.default.svc.cluster.local'],
    },
  });
  assert.equal(addrEvents, 1);
  assert.equal(s.workloadByIp('10.244.1.9'), undefined);
  assert.equal(s.serviceByVip('10.96.0.105'), undefined);
  assert.deepEqual(
    s.endpoints(httpbinSvc).map((w) => w.name),
    ['httpbin-7'],
  );
  // Re-adding a workload under a new IP drops the old IP index.
  s.applyDelta({
    typeUrl: 't',
    version: '3',
    addresses: { added: [{ workload: { ...pod(7), addresses: ['10.244.1.77'] } }], removed: [] },
  });
  assert.equal(s.workloadByIp('10.244.1.7'), undefined);
  assert.equal(s.workloadByIp('10.244.1.77')?.name, 'httpbin-7');
});

void test('LB: only healthy endpoints, per-connection weighted random', () => {
  const s = fresh();
  s.applyDelta({
    typeUrl: 't',
    version: '2',
    addresses: { added: [{ workload: pod(11, { status: 'Unhealthy' }) }], removed: [] },
  });
  assert.deepEqual(
    candidates(s, httpbinSvc, 8000)
      .map((e) => e.ip)
      .sort(),
    ['10.244.1.7', '10.244.1.9'],
  );
  assert.equal(chooseEndpoint(s, httpbinSvc, 8000, () => 0)?.ip, '10.244.1.7');
  assert.equal(chooseEndpoint(s, httpbinSvc, 8000, () => 0.99)?.ip, '10.244.1.9');
  assert.equal(chooseEndpoint(s, httpbinSvc, 8000)?.targetPort, 80);
  assert.equal(chooseEndpoint(s, httpbinSvc, 9999), undefined);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) seen.add(chooseEndpoint(s, httpbinSvc, 8000)!.ip);
  assert.equal(seen.size, 2);
});

void test('buildRequest: VIP → HBONE to the pod with authority podIP:targetPort', () => {
  const s = fresh();
  const plan = buildRequest(s, sleep, '10.96.0.105', 8000, { hbonePort: 15008, random: () => 0 });
  assert.equal(plan.kind, 'hbone');
  if (plan.kind !== 'hbone') return;
  assert.equal(plan.dialIp, '10.244.1.7');
  assert.equal(plan.dialPort, 15008);
  assert.equal(plan.authority, '10.244.1.7:80');
  assert.deepEqual(plan.identities, ['spiffe://cluster.local/ns/default/sa/httpbin-7']);
});

void test('buildRequest: pod IP, TCP workload, unknown, waypoint', () => {
  const s = fresh();
  const direct = buildRequest(s, sleep, '10.244.1.9', 80, { hbonePort: 15008 });
  assert.equal(direct.kind === 'hbone' && direct.authority, '10.244.1.9:80');
  s.applyDelta({
    typeUrl: 't',
    version: '2',
    addresses: {
      added: [
        { workload: workload('legacy', '10.244.1.20', 'worker', { tunnelProtocol: 'NONE' }) },
        { workload: workload('waypoint', '10.244.2.6', 'worker2') },
        {
          workload: workload('guarded', '10.244.1.30', 'worker', {
            waypoint: { address: { network: '', address: '10.244.2.6' }, hboneMtlsPort: 15008 },
          }),
        },
        {
          service: {
            ...service('wsvc', '10.96.0.50', [[80, 8080]]),
            waypoint: { address: { network: '', address: '10.244.2.6' }, hboneMtlsPort: 15008 },
          },
        },
      ],
      removed: [],
    },
  });
  assert.deepEqual(buildRequest(s, sleep, '10.244.1.20', 80, { hbonePort: 15008 }), {
    kind: 'tcp',
    ip: '10.244.1.20',
    port: 80,
    dstWorkload: s.workloadByIp('10.244.1.20'),
    service: undefined,
  });
  assert.deepEqual(buildRequest(s, sleep, '1.1.1.1', 443, { hbonePort: 15008 }), {
    kind: 'tcp',
    ip: '1.1.1.1',
    port: 443,
    service: undefined,
  });
  const viaSvcWp = buildRequest(s, sleep, '10.96.0.50', 80, { hbonePort: 15008 });
  assert.equal(viaSvcWp.kind === 'hbone' && viaSvcWp.waypoint, true);
  assert.equal(viaSvcWp.kind === 'hbone' && viaSvcWp.authority, '10.96.0.50:80');
  assert.equal(viaSvcWp.kind === 'hbone' && viaSvcWp.dialIp, '10.244.2.6');
  const viaWlWp = buildRequest(s, sleep, '10.244.1.30', 80, { hbonePort: 15008 });
  assert.equal(viaWlWp.kind === 'hbone' && viaWlWp.authority, '10.244.1.30:80');
  assert.deepEqual(viaWlWp.kind === 'hbone' && viaWlWp.identities, [
    'spiffe://cluster.local/ns/default/sa/waypoint',
  ]);
  // The waypoint's own traffic to the workload goes straight there.
  const fromWp = buildRequest(s, s.workloadByIp('10.244.2.6')!, '10.244.1.30', 80, {
    hbonePort: 15008,
  });
  assert.equal(fromWp.kind === 'hbone' && fromWp.waypoint, false);
  // A VIP with no healthy endpoint is refused, not passed through.
  s.applyDelta({
    typeUrl: 't',
    version: '3',
    addresses: { added: [{ service: service('empty', '10.96.0.60', [[80, 80]]) }], removed: [] },
  });
  assert.equal(buildRequest(s, sleep, '10.96.0.60', 80, { hbonePort: 15008 }).kind, 'refuse');
});

void test('buildRequest: a waypoint addressed by its Service VIP (Gateway status address)', () => {
  const s = fresh();
  const wpSvc = service('waypoint', '10.96.0.90', [[15008, 15008]]);
  const wpAddr = { address: { network: '', address: '10.96.0.90' }, hboneMtlsPort: 15008 };
  s.applyDelta({
    typeUrl: 't',
    version: '2',
    addresses: {
      added: [
        { service: wpSvc },
        { workload: selectedBy(workload('waypoint-abc', '10.244.2.6', 'worker2'), wpSvc) },
        { service: { ...service('bound', '10.96.0.51', [[80, 8080]]), waypoint: wpAddr } },
        {
          workload: selectedBy(
            workload('bound-1', '10.244.1.31', 'worker', { waypoint: wpAddr }),
            service('bound', '10.96.0.51', [[80, 8080]]),
          ),
        },
      ],
      removed: [],
    },
  });
  const plan = buildRequest(s, sleep, '10.96.0.51', 80, { hbonePort: 15008, random: () => 0 });
  assert.equal(plan.kind, 'hbone');
  if (plan.kind !== 'hbone') return;
  assert.equal(plan.waypoint, true);
  assert.equal(plan.dialIp, '10.244.2.6');
  assert.equal(plan.dialPort, 15008);
  assert.equal(plan.authority, '10.96.0.51:80');
  assert.deepEqual(plan.identities, ['spiffe://cluster.local/ns/default/sa/waypoint-abc']);
  // Workload-addressed traffic to a bound pod also goes to the waypoint pod behind the VIP.
  const wl = buildRequest(s, sleep, '10.244.1.31', 8080, { hbonePort: 15008, random: () => 0 });
  assert.equal(wl.kind === 'hbone' && wl.dialIp, '10.244.2.6');
  assert.equal(wl.kind === 'hbone' && wl.authority, '10.244.1.31:8080');
  // The waypoint pod itself (an endpoint of the VIP) is recognised and goes direct.
  const fromWp = buildRequest(s, s.workloadByIp('10.244.2.6')!, '10.244.1.31', 8080, {
    hbonePort: 15008,
  });
  assert.equal(fromWp.kind === 'hbone' && fromWp.waypoint, false);
  // No healthy waypoint pod: refused (fail closed), never sent around the waypoint.
  s.applyDelta({
    typeUrl: 't',
    version: '3',
    addresses: { added: [], removed: ['Kubernetes//Pod/default/waypoint-abc'] },
  });
  assert.equal(buildRequest(s, sleep, '10.96.0.51', 80, { hbonePort: 15008 }).kind, 'refuse');
});
