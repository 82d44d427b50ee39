/**
 * Same-node traffic (issue #10): a client and a server on one node go through that node's
 * ztunnel with the inbound side run in-process (direct local): no HBONE hop, the same RBAC on
 * the source identity, the spoofed source, telemetry and access-log lines on both sides.
 * Two ztunnels on loopback with real HBONE for the cross-node endpoints of a service spread
 * over both nodes. Pods are 127.<r>.N.x addresses; the "spoofed" hop is a bind (direct mode).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Address, Authorization } from '../../src/api/workload.js';
import { createLogger } from '../../src/log.js';
import { Ztunnel } from '../../src/ztunnel/app.js';
import type { ZtunnelPortsBound } from '../../src/ztunnel/app.js';
import { createHboneClient } from '../../src/hbone/client.js';
import { createHboneServer } from '../../src/hbone/server.js';
import { IdentityManager } from '../../src/identity/manager.js';
import { policy, rule, selectedBy, service, workload } from '../../src/ztunnel/testing.js';
import { createFakeCa, type FakeCa } from '../helpers/fake-ca.js';
import { eventually, listen } from '../helpers/net.js';
import { testZtunnelConfig } from '../helpers/ztunnel-config.js';

const R = 10 + Math.floor(Math.random() * 200);
// Third octets 21+: ztunnel-e2e uses 1-3 under the same random second octet, in parallel.
const ip = (n: number, h: number) => `127.${R}.${n + 20}.${h}`;
/** worker (ztunnel B): httpbin-0 and the client sleep2. worker2 (ztunnel A): httpbin-1, sleep. */
const H0 = ip(1, 7);
const SLEEP2 = ip(1, 10);
const H1 = ip(2, 9);
const SLEEP = ip(2, 8);
const VIP = ip(96, 105);
const SLEEP2_ID = 'spiffe://cluster.local/ns/default/sa/sleep2';
const quiet = createLogger('test', () => undefined);

/** GET through a proxy port from `from`; the app answers with the pod it ran in and its peer. */
function request(port: number, from: string): Promise<{ pod: string; origin: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/get', localAddress: from, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve(JSON.parse(body) as { pod: string; origin: string }));
        res.on('error', reject);
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

void describe('ztunnel: same-node traffic takes the direct-local path', () => {
  let ca: FakeCa;
  let a: Ztunnel;
  let b: Ztunnel;
  let pa: ZtunnelPortsBound;
  let pb: ZtunnelPortsBound;
  let dst: { ip: string; port: number } = { ip: VIP, port: 8000 };
  const logA: string[] = [];
  const logB: string[] = [];
  const ids: IdentityManager[] = [];
  const apps: http.Server[] = [];
  let appPort = 0;
  // Alternates endpoints so both replicas are chosen, deterministically.
  let turn = 0;
  const random = () => (turn++ % 2 === 0 ? 0.25 : 0.75);

  const push = (
    z: Ztunnel,
    addresses: Address[],
    policies: Authorization[] = [],
    rm: string[] = [],
  ) =>
    z.applyDelta({
      typeUrl: 'test',
      version: String(Date.now()),
      addresses: { added: addresses, removed: [] },
      authorizations: { added: policies, removed: rm },
    });

  before(async () => {
    ca = await createFakeCa();
    for (const pod of [H0, H1]) {
      const app = http.createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ pod, origin: req.socket.remoteAddress }));
      });
      apps.push(app);
      appPort = await listen(app, pod, appPort);
    }
    // Both HBONE listeners on one port: A on httpbin-1's address, B on httpbin-0's.
    const probe = net.createServer();
    const hbonePort = await listen(probe, H0);
    await new Promise((r) => probe.close(r));
    const mk = (node: string, host: string, sink: string[]) => {
      const identity = new IdentityManager({ fetch: (id) => ca.issue(id), log: quiet });
      ids.push(identity);
      return new Ztunnel(
        testZtunnelConfig(node, {
          hbonePort,
          inboundHost: host,
          ports: { ...testZtunnelConfig('x').ports, inbound: hbonePort },
        }),
        {
          identity,
          hboneClient: createHboneClient({ certificates: identity, log: quiet }),
          hboneServer: (o) => createHboneServer({ ...o, log: quiet }),
          accessLogSink: (l) => sink.push(l),
          originalDst: () => dst,
          random,
          log: quiet,
        },
      );
    };
    a = mk('worker2', H1, logA);
    b = mk('worker', H0, logB);
    const svc = service('httpbin', VIP, [[8000, appPort]]);
    const state: Address[] = [
      { service: svc },
      {
        workload: selectedBy(
          workload('httpbin-0', H0, 'worker', { serviceAccount: 'httpbin' }),
          svc,
        ),
      },
      {
        workload: selectedBy(
          workload('httpbin-1', H1, 'worker2', { serviceAccount: 'httpbin' }),
          svc,
        ),
      },
      { workload: workload('sleep', SLEEP, 'worker2') },
      { workload: workload('sleep2', SLEEP2, 'worker') },
    ];
    for (const z of [a, b]) push(z, state);
    pa = await a.start();
    pb = await b.start();
    a.markSynced();
    b.markSynced();
  });

  after(async () => {
    await Promise.all([a.drain(100), b.drain(100)]);
    for (const i of ids) i.close();
    for (const app of apps) app.closeAllConnections();
    await Promise.all(apps.map((app) => new Promise((r) => app.close(r))));
  });

  void it('a same-node pair: the app sees the real client; both sides log; no HBONE dialled', async () => {
    dst = { ip: H0, port: appPort };
    const before = { a: logA.length, b: logB.length };
    const res = await request(pb.outbound, SLEEP2);
    assert.deepEqual(res, { pod: H0, origin: SLEEP2 });
    await eventually('the expected log lines', () => logB.length >= before.b + 2);
    const lines = logB.slice(before.b);
    const inbound = lines.find((l) => l.includes('direction=inbound'));
    const outbound = lines.find((l) => l.includes('direction=outbound'));
    assert.ok(inbound && outbound, lines.join('\n'));
    assert.match(inbound, new RegExp(`src\\.identity=${SLEEP2_ID.replace(/\//g, '\\/')}`));
    assert.match(inbound, /dst\.workload=httpbin-0/);
    assert.doesNotMatch(inbound, / error=/);
    assert.equal(logA.length, before.a, 'the other node saw nothing');
    const pool = (await b.configDump()).hbonePool as { connections: number };
    assert.equal(pool.connections, 0, 'no HBONE connection was opened');
    assert.ok(
      b.metrics.value('istio_tcp_connections_opened_total', {
        reporter: 'destination',
        source_principal: SLEEP2_ID,
      }) >= 1,
    );
  });

  void it('a service with endpoints on both nodes answers every request from either node', async () => {
    dst = { ip: VIP, port: 8000 };
    for (const [port, from] of [
      [pb.outbound, SLEEP2],
      [pa.outbound, SLEEP],
    ] as const) {
      const seen = new Set<string>();
      for (let i = 0; i < 10; i++) {
        const res = await request(port, from);
        assert.equal(res.origin, from);
        seen.add(res.pod);
      }
      assert.deepEqual([...seen].sort(), [H0, H1].sort(), `replicas reached from ${from}`);
    }
  });

  void it('a pod reaches itself through its service', async () => {
    dst = { ip: VIP, port: 8000 };
    const self = service('self', ip(96, 106), [[9000, appPort]]);
    push(b, [
      { service: self },
      {
        workload: selectedBy(
          workload('httpbin-0', H0, 'worker', { serviceAccount: 'httpbin' }),
          self,
        ),
      },
    ]);
    dst = { ip: ip(96, 106), port: 9000 };
    const res = await request(pb.outbound, H0);
    assert.equal(res.pod, H0);
  });

  void it('policy holds on the direct-local path: DENY by principal cuts the client', async () => {
    dst = { ip: H0, port: appPort };
    const before = logB.length;
    push(
      b,
      [],
      [
        policy('deny-sleep2', 'DENY', [
          rule([{ principals: [{ exact: 'cluster.local/ns/default/sa/sleep2' }] }]),
        ]),
      ],
    );
    try {
      await assert.rejects(request(pb.outbound, SLEEP2));
      await eventually('the expected log lines', () =>
        logB.slice(before).some((l) => l.includes('explicitly denied by: default/deny-sleep2')),
      );
      // Another principal from the other node is still admitted.
      assert.equal((await request(pa.outbound, SLEEP)).pod, H0);
    } finally {
      push(b, [], [], ['default/deny-sleep2']);
    }
    assert.equal((await request(pb.outbound, SLEEP2)).origin, SLEEP2);
  });

  void it('open direct-local connections are tracked and closed by a policy change', async () => {
    dst = { ip: H0, port: appPort };
    const s = net.connect({ host: '127.0.0.1', port: pb.outbound, localAddress: SLEEP2 });
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    const mine = () =>
      (b.connections.dump() as { direction: string; src: string; srcIdentity?: string }[]).filter(
        (c) =>
          c.src === `${SLEEP2}:${s.localPort}` ||
          (c.direction === 'inbound' && c.srcIdentity === SLEEP2_ID),
      );
    await eventually('the expected log lines', () => mine().length === 2);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    push(b, [], [policy('deny-ns', 'DENY', [rule([{ namespaces: [{ exact: 'default' }] }])])]);
    try {
      await closed;
    } finally {
      push(b, [], [], ['default/deny-ns']);
    }
    await eventually('the expected log lines', () => mine().length === 0);
  });
});
