/**
 * HBONE connection pooling on loopback: stream limits per connection, no dial storm, idle
 * release, PING keepalive, GOAWAY, and reset propagation through a spliced stream.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { createFakeCa, spiffe, type FakeCa } from '../helpers/fake-ca.js';
import { createHboneClient, type HboneClientOptions } from '../../src/hbone/client.js';
import { createHboneServer, type HboneServer } from '../../src/hbone/server.js';
import { decideThenSplice } from '../../src/hbone/handoff.js';
import type { HboneClient, HboneDialRequest } from '../../src/hbone/types.js';
import type { IssuedCertificate } from '../../src/xds/types.js';

const SERVER_ID = spiffe('default', 'httpbin');
const CLIENT_ID = spiffe('default', 'sleep');
const HBONE_IP = '127.0.0.4';

function listen(server: net.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** Polls `cond` every 20 ms for up to `ms`; fails with `what` otherwise. */
async function eventually(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 20) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for: ${what}`);
}

function roundTrip(stream: Duplex, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (got += d));
    stream.once('end', () => resolve(got));
    stream.once('error', reject);
    stream.end(text);
  });
}

void describe('hbone pool', { timeout: 90_000 }, () => {
  let ca: FakeCa;
  let serverCert: IssuedCertificate;
  let clientCert: IssuedCertificate;
  const listener = net.createServer();
  /** TCP echo upstream; keeps its sockets so tests can reset them. */
  const upstreamSockets = new Set<net.Socket>();
  const upstream = net.createServer({ allowHalfOpen: true }, (s) => {
    upstreamSockets.add(s);
    s.on('close', () => upstreamSockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  let hbone: HboneServer;
  let port = 0;
  let upstreamPort = 0;
  let accepted = 0;
  const clients: HboneClient[] = [];

  before(async () => {
    ca = await createFakeCa();
    [serverCert, clientCert] = await Promise.all([ca.issue(SERVER_ID), ca.issue(CLIENT_ID)]);
    port = await listen(listener, HBONE_IP);
    upstreamPort = await listen(upstream, '127.0.0.1');
    listener.on('connection', () => accepted++);
    hbone = createHboneServer({
      server: listener,
      trustDomain: 'cluster.local',
      certificateFor: () => Promise.resolve(serverCert),
      handler: decideThenSplice(async () => {
        const up = net.connect({ host: '127.0.0.1', port: upstreamPort, allowHalfOpen: true });
        await new Promise((r) => up.once('connect', r));
        return { status: 200, upstream: up };
      }),
    });
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await hbone.close(false);
    listener.close();
    for (const s of upstreamSockets) s.destroy();
    upstream.close();
  });

  const client = (extra: Partial<HboneClientOptions> = {}) => {
    const c = createHboneClient({
      certificates: { get: () => Promise.resolve(clientCert) },
      ...extra,
    });
    clients.push(c);
    return c;
  };
  const req = (over: Partial<HboneDialRequest> = {}): HboneDialRequest => ({
    srcIdentity: CLIENT_ID,
    dstIdentities: [SERVER_ID],
    srcIp: '127.0.0.1',
    dstIp: HBONE_IP,
    dstPort: port,
    authority: `${HBONE_IP}:80`,
    headers: {},
    ...over,
  });

  void it('200 simultaneous connects share 2 HTTP/2 connections; streams reuse them', async () => {
    const c = client();
    const acceptedBefore = accepted;
    const results = await Promise.all(Array.from({ length: 200 }, () => c.connect(req())));
    const st = c.stats();
    assert.equal(st.connections, 2);
    assert.equal(st.streams, 200);
    assert.equal(accepted - acceptedBefore, 2, 'TLS connections accepted by the server');
    // All 200 tunnels carry their own bytes.
    const replies = await Promise.all(results.map((r, i) => roundTrip(r.stream, `hello ${i}`)));
    replies.forEach((got, i) => assert.equal(got, `hello ${i}`));
    await eventually('streams released', () => c.stats().streams === 0);
    // A later connect reuses a pooled connection.
    const { stream } = await c.connect(req());
    assert.equal(await roundTrip(stream, 'again'), 'again');
    assert.equal(accepted - acceptedBefore, 2);
  });

  void it('opens more connections when the server allows fewer streams than we would', async () => {
    const l2 = net.createServer();
    const p2 = await listen(l2, HBONE_IP);
    let accepted2 = 0;
    l2.on('connection', () => accepted2++);
    const s2 = createHboneServer({
      server: l2,
      trustDomain: 'cluster.local',
      maxConcurrentStreams: 2,
      certificateFor: () => Promise.resolve(serverCert),
      handler: decideThenSplice(async () => {
        const up = net.connect({ host: '127.0.0.1', port: upstreamPort, allowHalfOpen: true });
        await new Promise((r) => up.once('connect', r));
        return { status: 200, upstream: up };
      }),
    });
    try {
      const c = client();
      // All five stay open at once: with a limit of 2, that needs 3 connections.
      const open = await Promise.all(
        Array.from({ length: 5 }, () => c.connect(req({ dstPort: p2 }))),
      );
      assert.equal(c.stats().connections, 3);
      assert.equal(accepted2, 3);
      const replies = await Promise.all(open.map((o, i) => roundTrip(o.stream, `s${i}`)));
      assert.deepEqual(replies, ['s0', 's1', 's2', 's3', 's4']);
    } finally {
      await s2.close(false);
      l2.close();
    }
  });

  void it('release() stops reusing pooled connections: open streams finish, the next connect dials afresh', async () => {
    const c = client();
    const acceptedBefore = accepted;
    const open = await c.connect(req());
    assert.equal(accepted - acceptedBefore, 1);
    assert.equal(c.release(), 1);
    assert.equal(c.stats().connections, 0);
    // The stream opened before the release still carries its bytes (GOAWAY, not a reset).
    assert.equal(await roundTrip(open.stream, 'before release'), 'before release');
    const { stream } = await c.connect(req());
    assert.equal(await roundTrip(stream, 'after release'), 'after release');
    assert.equal(accepted - acceptedBefore, 2, 'a fresh TLS connection after the release');
    assert.equal(c.release(), 1);
    assert.equal(c.release(), 0);
  });

  void it('different pool keys get different connections', async () => {
    const c = client();
    const a = await c.connect(req({ srcIp: '127.0.0.1' }));
    const b = await c.connect(req({ srcIp: '127.0.0.9' }));
    assert.equal(c.stats().connections, 2);
    assert.equal(Object.keys(c.stats().byKey).length, 2);
    await Promise.all([roundTrip(a.stream, 'a'), roundTrip(b.stream, 'b')]);
  });

  void it('closes connections idle for idleTimeoutMs, on both ends', async () => {
    const c = client({ idleTimeoutMs: 200 });
    const serverBefore = hbone.connections();
    const { stream } = await c.connect(req());
    assert.equal(await roundTrip(stream, 'x'), 'x');
    assert.equal(c.stats().connections, 1);
    await eventually('client pool empty', () => c.stats().connections === 0);
    await eventually('server side closed', () => hbone.connections() === serverBefore);
  });

  void it('both ends drop a connection whose PINGs go unanswered, and the app socket with it', async () => {
    // Its own server with fast keepalive (generous timeouts: a loaded CI box must not trip them
    // before the path goes dead).
    const l3 = net.createServer();
    const p3 = await listen(l3, HBONE_IP);
    const s3 = createHboneServer({
      server: l3,
      trustDomain: 'cluster.local',
      pingIntervalMs: 200,
      pingTimeoutMs: 1000,
      certificateFor: () => Promise.resolve(serverCert),
      handler: decideThenSplice(async () => {
        const up = net.connect({ host: '127.0.0.1', port: upstreamPort, allowHalfOpen: true });
        await new Promise((r) => up.once('connect', r));
        return { status: 200, upstream: up };
      }),
    });
    // A relay between client and server that can silently stop forwarding (a dead peer).
    let blackhole = false;
    const relayed = new Set<net.Socket>();
    const relay = net.createServer((inbound) => {
      const out = net.connect(p3, HBONE_IP);
      relayed.add(inbound).add(out);
      for (const [from, to] of [
        [inbound, out],
        [out, inbound],
      ] as const) {
        from.on('data', (d: Buffer) => {
          if (!blackhole) to.write(d);
        });
        from.on('error', () => undefined);
        // A dead path carries no FIN or RST either: each end must notice on its own.
        from.on('close', () => {
          if (!blackhole) to.destroy();
        });
      }
    });
    const relayPort = await listen(relay, '127.0.0.1');
    try {
      const c = client({
        pingIntervalMs: 200,
        pingTimeoutMs: 1000,
        dial: () => net.connect(relayPort, '127.0.0.1'),
      });
      const beforeUp = new Set(upstreamSockets);
      const { stream } = await c.connect(req({ dstPort: p3 }));
      assert.equal(s3.connections(), 1);
      stream.write('x');
      const fresh = () => [...upstreamSockets].find((u) => !beforeUp.has(u));
      await eventually('the app connection', () => fresh() !== undefined);
      const app = fresh()!;
      const ended = new Promise<void>((r) => {
        stream.on('error', () => undefined);
        stream.once('close', () => r());
      });
      // Several ping rounds pass while the peer answers.
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(c.stats().connections, 1);
      assert.equal(s3.connections(), 1);
      blackhole = true;
      await eventually('dead connection dropped', () => c.stats().connections === 0);
      await ended;
      await eventually('server dropped it too', () => s3.connections() === 0);
      // The peer is dead, so the application's side of the tunnel goes too (no leaked socket).
      await eventually('the app socket closed', () => app.destroyed);
      // The path comes back: a new request dials a fresh connection instead of the dead one.
      blackhole = false;
      const again = await c.connect(req({ dstPort: p3 }));
      assert.equal(await roundTrip(again.stream, 'fresh'), 'fresh');
      assert.equal(s3.connections(), 1);
    } finally {
      for (const s of relayed) s.destroy();
      relay.close();
      await s3.close(false);
      l3.close();
    }
  });

  void it('a graceful server close sends GOAWAY: open streams finish, the pool drops the connection', async () => {
    const l2 = net.createServer();
    const p2 = await listen(l2, HBONE_IP);
    const s2 = createHboneServer({
      server: l2,
      trustDomain: 'cluster.local',
      certificateFor: () => Promise.resolve(serverCert),
      handler: decideThenSplice(async () => {
        const up = net.connect({ host: '127.0.0.1', port: upstreamPort, allowHalfOpen: true });
        await new Promise((r) => up.once('connect', r));
        return { status: 200, upstream: up };
      }),
    });
    try {
      const c = client();
      const { stream } = await c.connect(req({ dstPort: p2 }));
      const closing = s2.close(true);
      await eventually('GOAWAY seen', () => c.stats().connections === 0);
      // The open stream still works after GOAWAY.
      assert.equal(await roundTrip(stream, 'after goaway'), 'after goaway');
      await closing;
      assert.equal(s2.connections(), 0);
    } finally {
      await s2.close(false);
      l2.close();
    }
  });

  void it('a reset upstream resets the tunnel, and a reset tunnel resets the upstream', async () => {
    const c = client();
    // Upstream reset → client stream errors.
    const before = new Set(upstreamSockets);
    const a = await c.connect(req());
    a.stream.write('ping');
    await eventually('upstream connected', () => upstreamSockets.size > before.size);
    const up = [...upstreamSockets].find((s) => !before.has(s));
    assert.ok(up);
    const aClosed = new Promise<number | undefined>((r) => {
      a.stream.on('error', () => undefined);
      a.stream.once('close', () => r((a.stream as Duplex & { rstCode?: number }).rstCode));
    });
    up.resetAndDestroy();
    assert.equal(await aClosed, 0xa, 'RST_STREAM(CONNECT_ERROR)');

    // Client stream reset → upstream socket sees a reset.
    const before2 = new Set(upstreamSockets);
    const b = await c.connect(req());
    b.stream.write('ping');
    await eventually('upstream 2 connected', () => upstreamSockets.size > before2.size);
    const up2 = [...upstreamSockets].find((s) => !before2.has(s));
    assert.ok(up2);
    const up2Err = new Promise<string>((r) => {
      up2.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
      up2.once('close', () => r('close'));
    });
    b.stream.destroy();
    assert.equal(await up2Err, 'ECONNRESET');
  });
});
