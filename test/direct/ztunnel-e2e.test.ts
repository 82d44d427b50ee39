/**
 * Two ztunnels in one process, on loopback: client → ztunnel A outbound → HBONE (real mTLS
 * HTTP/2 CONNECT, certificates from a real test CA) → ztunnel B inbound → a real HTTP server.
 * Pods live on 127.<r>.N.x addresses (all local on lo), so the "spoofed" last hop is a plain
 * bind to the client's address and the app still sees the real client.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as dnsPacket from 'dns-packet';
import type { Address, Authorization } from '../../src/api/workload.js';
import { Ztunnel } from '../../src/ztunnel/app.js';
import type { ZtunnelPortsBound } from '../../src/ztunnel/app.js';
import type { ZtunnelConfig } from '../../src/ztunnel/config.js';
import { createHboneClient } from '../../src/hbone/client.js';
import { createHboneServer } from '../../src/hbone/server.js';
import { IdentityManager } from '../../src/identity/manager.js';
import { policy, rule, selectedBy, service, workload } from '../../src/ztunnel/testing.js';
import { createLogger } from '../../src/log.js';
import { run } from '../../src/sys/exec.js';
import { createFakeCa, type FakeCa } from '../helpers/fake-ca.js';
import { eventually, freePort, listen } from '../helpers/net.js';
import { testZtunnelConfig } from '../helpers/ztunnel-config.js';

const R = 10 + Math.floor(Math.random() * 200);
const ip = (n: number, h: number) => `127.${R}.${n}.${h}`;
const SLEEP = ip(2, 8);
const HTTPBIN = ip(1, 7);
const OUTSIDER = ip(3, 9);
const VIP = ip(96, 105);
const quiet = createLogger('test', () => undefined);
const answerData = (x: dnsPacket.Answer) => ('data' in x ? x.data : undefined);

function get(
  port: number,
  path: string,
  host = '127.0.0.1',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host, port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** An HTTP request through a proxy port, from `from`; rejects when the connection is cut. */
function request(
  port: number,
  from: string,
  path = '/get',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        localAddress: from,
        agent: false,
        headers: { host: 'httpbin:8000' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

void describe('ztunnel: outbound → HBONE → inbound', () => {
  let ca: FakeCa;
  let a: Ztunnel;
  let b: Ztunnel;
  let pa: ZtunnelPortsBound;
  let pb: ZtunnelPortsBound;
  let appPort = 0;
  let echoPort = 0;
  let dstA: { ip: string; port: number } | undefined;
  let dstB: { ip: string; port: number } | undefined;
  const logA: string[] = [];
  const logB: string[] = [];
  const idA: IdentityManager[] = [];
  // A real HTTP app: echoes what it saw, httpbin-style.
  const app = http.createServer((req, res) => {
    const body = JSON.stringify({
      origin: req.socket.remoteAddress,
      headers: req.headers,
      url: req.url,
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  const upstreamDns = dgram.createSocket('udp4');
  let dnsUpstreamPort = 0;

  const push = (
    z: Ztunnel,
    addresses: Address[],
    policies: Authorization[] = [],
    removed: string[] = [],
  ) =>
    z.applyDelta({
      typeUrl: 'test',
      version: String(Date.now()),
      addresses: { added: addresses, removed: [] },
      authorizations: { added: policies, removed },
    });

  before(async () => {
    ca = await createFakeCa();
    appPort = await listen(app, HTTPBIN);
    echoPort = await listen(echo, HTTPBIN);
    upstreamDns.on('message', (msg, r) => {
      const q = dnsPacket.decode(msg);
      const question = q.questions![0]!;
      upstreamDns.send(
        dnsPacket.encode({
          type: 'response',
          id: q.id,
          questions: [question],
          answers: [{ type: 'A', name: question.name, ttl: 5, data: '192.0.2.1' }],
        }),
        r.port,
        r.address,
      );
    });
    await new Promise<void>((r) => upstreamDns.bind(0, '127.0.0.1', r));
    dnsUpstreamPort = upstreamDns.address().port;
    const hbonePort = await freePort(HTTPBIN);
    const mk = (
      node: string,
      over: Partial<ZtunnelConfig>,
      sink: string[],
      orig: () => typeof dstA,
    ) => {
      const identity = new IdentityManager({ fetch: (id) => ca.issue(id), log: quiet });
      idA.push(identity);
      return new Ztunnel(testZtunnelConfig(node, { hbonePort, ...over }), {
        identity,
        hboneClient: createHboneClient({ certificates: identity, log: quiet }),
        hboneServer: (o) => createHboneServer({ ...o, log: quiet }),
        accessLogSink: (l) => sink.push(l),
        originalDst: () => orig(),
        log: quiet,
      });
    };
    a = mk(
      'worker2',
      { dnsCapture: true, dnsUpstream: `127.0.0.1:${dnsUpstreamPort}` },
      logA,
      () => dstA,
    );
    b = mk(
      'worker',
      { inboundHost: HTTPBIN, ports: { ...testZtunnelConfig('x').ports, inbound: hbonePort } },
      logB,
      () => dstB,
    );
    const svc = service('httpbin', VIP, [[8000, appPort]]);
    const state: Address[] = [
      { service: svc },
      { workload: selectedBy(workload('httpbin', HTTPBIN, 'worker'), svc) },
      { workload: workload('sleep', SLEEP, 'worker2') },
    ];
    for (const z of [a, b]) push(z, state);
    pa = await a.start();
    pb = await b.start();
  });

  after(async () => {
    await Promise.all([a.drain(100), b.drain(100)]);
    for (const i of idA) i.close();
    app.closeAllConnections();
    await Promise.all([new Promise((r) => app.close(r)), new Promise((r) => echo.close(r))]);
    upstreamDns.close();
  });

  void it('is not ready before the state is synced, then ready', async () => {
    assert.equal((await get(pa.readiness, '/healthz/ready')).status, 503);
    a.markSynced();
    b.markSynced();
    assert.equal((await get(pa.readiness, '/healthz/ready')).status, 200);
  });

  void it('carries an HTTP request via the service VIP; the app sees the real client', async () => {
    dstA = { ip: VIP, port: 8000 };
    const res = await request(pa.outbound, SLEEP);
    assert.equal(res.status, 200);
    const seen = JSON.parse(res.body) as {
      origin: string;
      url: string;
      headers: Record<string, string>;
    };
    assert.equal(seen.origin, SLEEP);
    assert.equal(seen.url, '/get');
    assert.equal(seen.headers.host, 'httpbin:8000');
    await eventually('the expected log lines', () => logB.length >= 1 && logA.length >= 1);
    const inLine = logB.at(-1)!;
    assert.match(inLine, /connection complete/);
    assert.match(inLine, /src\.identity=spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep/);
    assert.match(inLine, /direction=inbound/);
    assert.match(inLine, new RegExp(`dst\\.addr=${HTTPBIN}:${appPort}`));
    assert.match(logA.at(-1)!, /direction=outbound/);
    assert.match(logA.at(-1)!, /dst\.service=httpbin\.default\.svc\.cluster\.local/);
    // Each access line names its connection, so a connection's warn lines can be found by it.
    assert.match(inLine, /connection complete conn=[0-9a-z]+ /);
    assert.match(logA.at(-1)!, /connection complete conn=[0-9a-z]+ /);
    const bytes = /bytes_sent=(\d+) bytes_recv=(\d+)/.exec(inLine)!;
    assert.ok(Number(bytes[1]) > 0 && Number(bytes[2]) > 0);
  });

  void it('keeps TCP keepalive on the accepted and the app-side sockets (180 s, as ztunnel)', async () => {
    dstA = { ip: VIP, port: 8000 };
    const s = net.connect({ host: '127.0.0.1', port: pa.outbound, localAddress: SLEEP });
    s.on('error', () => undefined);
    const timers = async (filter: string) =>
      (await run('ss', ['-tnoH', 'state', 'established', ...filter.split(' ')])).stdout;
    try {
      await new Promise((r) => s.once('connect', r));
      // An unfinished request: the connection stays open through both ztunnels.
      s.write('GET /get HTTP/1.1\r\nHost: httpbin:8000\r\n');
      const app = await eventually('the app-side socket', async () => {
        const out = await timers(`dport = :${appPort}`);
        return out.trim() ? out : false;
      });
      assert.match(app, /timer:\(keepalive,/);
      assert.match(await timers(`sport = :${pa.outbound}`), /timer:\(keepalive,/);
    } finally {
      s.destroy();
    }
  });

  void it('reports Istio TCP metrics on both sides', async () => {
    const ma = (await get(pa.metrics, '/metrics')).body;
    const mb = (await get(pb.metrics, '/stats/prometheus')).body;
    assert.match(
      ma,
      /istio_tcp_connections_opened_total\{reporter="source",source_workload="sleep",[^}]*destination_service="httpbin\.default\.svc\.cluster\.local",[^}]*destination_workload="httpbin",[^}]*connection_security_policy="mutual_tls"[^}]*\} [1-9]/,
    );
    assert.match(
      mb,
      /istio_tcp_connections_closed_total\{reporter="destination",[^}]*source_principal="spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep",[^}]*connection_security_policy="mutual_tls"[^}]*\} [1-9]/,
    );
    assert.ok(b.metrics.value('istio_tcp_received_bytes_total', { reporter: 'destination' }) > 0);
    assert.ok(b.metrics.value('istio_tcp_sent_bytes_total', { reporter: 'destination' }) > 0);
    assert.match(ma, /istio_build\{component="ztunnel"/);
  });

  void it('dumps config: seed-004 workload entries, certificates, services', async () => {
    const dump = JSON.parse((await get(pa.admin, '/config_dump')).body) as {
      workloads: Record<string, { workloadIp: string; protocol: string; serviceAccount: string }>;
      certificates: { identity: string; state: string }[];
      services: { hostname: string }[];
    };
    assert.equal(dump.workloads[SLEEP]?.protocol, 'HBONE');
    assert.equal(dump.workloads[SLEEP]?.workloadIp, SLEEP);
    assert.equal(dump.workloads[HTTPBIN]?.serviceAccount, 'httpbin');
    assert.ok(dump.services.some((s) => s.hostname === 'httpbin.default.svc.cluster.local'));
    // Only identities of this node's workloads are held.
    const ids = dump.certificates.map((c) => c.identity);
    assert.deepEqual(ids, ['spiffe://cluster.local/ns/default/sa/sleep']);
  });

  void it('admin POST /debug/release_hbone_pool drops pooled HBONE connections (GET: 405)', async () => {
    const call = (method: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const r = http.request(
          { host: '127.0.0.1', port: pa.admin, path: '/debug/release_hbone_pool', method },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        r.on('error', reject);
        r.end();
      });
    const pooled = async () =>
      (
        JSON.parse((await get(pa.admin, '/config_dump')).body) as {
          hbonePool: { connections: number };
        }
      ).hbonePool.connections;
    assert.equal((await call('GET')).status, 405);
    // The requests above left A's connection to B pooled.
    assert.ok((await pooled()) >= 1);
    const released = await call('POST');
    assert.equal(released.status, 200);
    assert.match(released.body, /^released [1-9]\d* connections/);
    assert.equal(await pooled(), 0);
    assert.equal((await call('POST')).body, 'released 0 connections\n');
  });

  void it('refuses sources that are not workloads on this node', async () => {
    dstA = { ip: VIP, port: 8000 };
    await assert.rejects(request(pa.outbound, OUTSIDER));
  });

  void it('denied by policy: 401 on the HBONE hop, client connection cut', async () => {
    const before = logA.length;
    push(
      b,
      [],
      [
        policy('only-other', 'ALLOW', [
          rule([{ principals: [{ exact: 'cluster.local/ns/default/sa/other' }] }]),
        ]),
      ],
    );
    dstA = { ip: HTTPBIN, port: appPort };
    await assert.rejects(request(pa.outbound, SLEEP));
    await eventually('the expected log lines', () => logA.length > before);
    assert.match(logA.at(-1)!, /401/);
    assert.match(logB.at(-1)!, /allow policies exist, but none allowed/);
    assert.ok(
      b.metrics.value('istio_tcp_connections_closed_total', {
        response_flags: 'AuthorizationPolicyDenied',
      }) >= 1,
    );
    // Removing the policy restores access.
    push(b, [], [], ['default/only-other']);
    assert.equal((await request(pa.outbound, SLEEP)).status, 200);
  });

  void it('re-checks open connections when policy changes', async () => {
    dstA = { ip: HTTPBIN, port: echoPort };
    const s = net.connect({ host: '127.0.0.1', port: pa.outbound, localAddress: SLEEP });
    s.on('error', () => undefined);
    const got = await new Promise<string>((resolve) => {
      s.once('connect', () => s.write('ping'));
      s.once('data', (d: Buffer) => resolve(d.toString()));
    });
    assert.equal(got, 'ping');
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    push(b, [], [policy('deny-default', 'DENY', [rule([{ namespaces: [{ exact: 'default' }] }])])]);
    await closed;
    await assert.rejects(request(pa.outbound, SLEEP));
    push(b, [], [], ['default/deny-default']);
  });

  void it('a policy change cuts a connection with data queued both sides', async () => {
    const firehose = net.createServer((c) => {
      c.on('error', () => undefined);
      const chunk = Buffer.alloc(1 << 20, 7);
      const pump = () => {
        while (!c.destroyed && c.write(chunk));
      };
      c.on('drain', pump);
      pump();
    });
    const port = await listen(firehose, HTTPBIN);
    try {
      dstA = { ip: HTTPBIN, port };
      const s = net.connect({ host: '127.0.0.1', port: pa.outbound, localAddress: SLEEP });
      s.on('error', () => undefined);
      // Read a little, then stop: windows and buffers fill up along the whole path.
      await new Promise<void>((resolve) => s.once('data', () => resolve()));
      s.pause();
      await new Promise((r) => setTimeout(r, 500));
      const closed = new Promise<void>((r) => s.once('close', () => r()));
      push(
        b,
        [],
        [policy('deny-default', 'DENY', [rule([{ namespaces: [{ exact: 'default' }] }])])],
      );
      // A paused socket does not poll, so it could not notice a reset: read on.
      s.resume();
      await Promise.race([
        closed,
        new Promise((_, rej) => setTimeout(() => rej(new Error('client not cut within 3s')), 3000)),
      ]);
    } finally {
      push(b, [], [], ['default/deny-default']);
      firehose.close();
    }
  });

  void it('inbound plaintext (15006): non-mesh client reaches the pod; STRICT refuses it', async () => {
    dstB = { ip: HTTPBIN, port: appPort };
    const res = await request(pb.inboundPlaintext, OUTSIDER);
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as { origin: string }).origin, OUTSIDER);
    await eventually('the expected log lines', () =>
      logB.some((l) => l.includes('direction=inbound_plaintext')),
    );
    push(
      b,
      [],
      [
        policy('strict', 'DENY', [rule([{ notPrincipals: [{ presence: true }] }])], {
          scope: 'GLOBAL',
          namespace: 'istio-system',
        }),
      ],
    );
    await assert.rejects(request(pb.inboundPlaintext, OUTSIDER));
    // mTLS traffic is still admitted under STRICT.
    dstA = { ip: VIP, port: 8000 };
    assert.equal((await request(pa.outbound, SLEEP)).status, 200);
    push(b, [], [], ['istio-system/strict']);
  });

  void it('passes traffic to destinations outside the mesh through as plain TCP', async () => {
    const outside = http.createServer((req, res) => res.end(`outside ${req.socket.remoteAddress}`));
    const port = await listen(outside, '127.0.0.1');
    try {
      dstA = { ip: '127.0.0.1', port };
      const res = await request(pa.outbound, SLEEP);
      assert.equal(res.status, 200);
      assert.equal(res.body, 'outside 127.0.0.1'); // not spoofed on outbound passthrough
    } finally {
      outside.closeAllConnections();
      await new Promise((r) => outside.close(r));
    }
  });

  void it('answers mesh names over DNS and forwards the rest', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, SLEEP, r));
    const ask = (name: string) =>
      new Promise<dnsPacket.DecodedPacket>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('dns timeout')), 3000);
        sock.once('message', (m) => {
          clearTimeout(t);
          resolve(dnsPacket.decode(m));
        });
        sock.send(
          dnsPacket.encode({ type: 'query', id: 7, questions: [{ type: 'A', name }] }),
          pa.dns!,
          '127.0.0.1',
        );
      });
    try {
      const fq = await ask('httpbin.default.svc.cluster.local');
      assert.deepEqual(fq.answers?.map(answerData), [VIP]);
      const short = await ask('httpbin');
      assert.deepEqual(short.answers?.map(answerData), [VIP]);
      // TCP, length-prefixed, same answers.
      const tcpAnswer = await new Promise<dnsPacket.DecodedPacket>((resolve, reject) => {
        const c = net.connect({ host: '127.0.0.1', port: pa.dns!, localAddress: SLEEP });
        let buf = Buffer.alloc(0);
        c.setTimeout(3000, () => c.destroy(new Error('dns tcp timeout')));
        c.on('error', reject);
        c.on('connect', () =>
          c.write(
            dnsPacket.streamEncode({
              type: 'query',
              id: 9,
              questions: [{ type: 'A', name: 'httpbin' }],
            }),
          ),
        );
        c.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
            c.end();
            resolve(dnsPacket.streamDecode(buf) as dnsPacket.DecodedPacket);
          }
        });
      });
      assert.deepEqual(tcpAnswer.answers?.map(answerData), [VIP]);
      const other = await ask('example.com');
      const m = (await get(pa.metrics, '/metrics')).body;
      assert.match(m, /istio_dns_requests_total [4-9]/);
      assert.match(m, /istio_dns_upstream_requests_total [1-9]/);
      assert.deepEqual(other.answers?.map(answerData), ['192.0.2.1']);
    } finally {
      sock.close();
    }
  });

  void it('drains: listeners close, open connections finish, then are cut at the deadline', async () => {
    dstA = { ip: HTTPBIN, port: echoPort };
    const s = net.connect({ host: '127.0.0.1', port: pa.outbound, localAddress: SLEEP });
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      s.once('connect', () => s.write('a'));
      s.once('data', () => resolve());
    });
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    const drained = a.drain(500);
    // Still serving the open connection during the drain.
    const more = await new Promise<string>((resolve) => {
      s.once('data', (d: Buffer) => resolve(d.toString()));
      s.write('b');
    });
    assert.equal(more, 'b');
    await assert.rejects(request(pa.outbound, SLEEP)); // no new connections
    await drained;
    await closed;
    assert.equal(a.connections.size, 0);
  });
});
