/**
 * HBONE peer verification and robustness on loopback: who the client accepts, who the server
 * refuses, and that the server keeps serving good clients after bad ones.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { createTestPki, spiffe, type FakeCa } from '../helpers/fake-ca.js';
import { createHboneClient } from '../../src/hbone/client.js';
import { createHboneServer, type HboneServer } from '../../src/hbone/server.js';
import { decideThenSplice } from '../../src/hbone/handoff.js';
import {
  HboneError,
  type CertificateSource,
  type HboneClient,
  type HboneDialRequest,
} from '../../src/hbone/types.js';
import type { IssuedCertificate } from '../../src/xds/types.js';

const SERVER_ID = spiffe('default', 'httpbin');
const CLIENT_ID = spiffe('default', 'sleep');
const HBONE_IP = '127.0.0.3';

type Material = { keyPem: string; certChainPem: string[]; rootPem: string };

/** An in-process upstream that echoes what is written to it and ends when its input ends. */
class EchoDuplex extends Duplex {
  constructor() {
    super({ allowHalfOpen: true });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.push(chunk);
    cb();
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.push(null);
    cb();
  }
  override _read(): void {}
}

function listen(server: net.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

function source(m: Material): CertificateSource {
  return { get: () => Promise.resolve(m) };
}

/** Resolves when the socket is closed by the other side (bounded by the test timeout). */
function closed(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve();
    s.on('error', () => undefined);
    s.once('close', () => resolve());
  });
}

function echoOnce(stream: Duplex, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (got += d));
    stream.once('end', () => resolve(got));
    stream.once('error', reject);
    stream.end(text);
  });
}

void describe('hbone peer verification', { timeout: 60_000 }, () => {
  let ca: FakeCa;
  let otherCa: FakeCa;
  let serverCert: IssuedCertificate;
  let clientCert: IssuedCertificate;
  const listener = net.createServer();
  let hbone: HboneServer;
  let port = 0;
  let accepted = 0;
  let connects = 0;
  const clients: HboneClient[] = [];

  before(async () => {
    ({ ca, otherCa } = await createTestPki());
    [serverCert, clientCert] = await Promise.all([ca.issue(SERVER_ID), ca.issue(CLIENT_ID)]);
    port = await listen(listener, HBONE_IP);
    listener.on('connection', () => accepted++);
    hbone = createHboneServer({
      server: listener,
      trustDomain: 'cluster.local',
      // Short enough for the stalled-client test, long enough for a loaded machine.
      handshakeTimeoutMs: 1500,
      certificateFor: () => Promise.resolve(serverCert),
      handler: decideThenSplice((req) => {
        connects++;
        assert.equal(req.peerIdentity, CLIENT_ID);
        return Promise.resolve({ status: 200, upstream: new EchoDuplex() });
      }),
    });
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await hbone.close(false);
    listener.close();
  });

  const client = (m: Material, extra: Partial<Parameters<typeof createHboneClient>[0]> = {}) => {
    const c = createHboneClient({ certificates: source(m), connectTimeoutMs: 3000, ...extra });
    clients.push(c);
    return c;
  };
  const req = (over: Partial<HboneDialRequest> = {}): HboneDialRequest => ({
    srcIdentity: CLIENT_ID,
    dstIdentities: [SERVER_ID],
    srcIp: '127.0.0.1',
    dstIp: HBONE_IP,
    dstPort: port,
    authority: `${HBONE_IP}:8080`,
    headers: {},
    ...over,
  });

  async function assertServes(): Promise<void> {
    const { stream } = await client(clientCert).connect(req());
    assert.equal(await echoOnce(stream, 'still here'), 'still here');
  }

  void it('a good client gets through', async () => {
    await assertServes();
  });

  void it('the client refuses a server whose identity is not expected', async () => {
    const before = connects;
    await assert.rejects(
      client(clientCert).connect(req({ dstIdentities: [spiffe('default', 'other')] })),
      (err: unknown) => err instanceof HboneError && err.code === 'HBONE_PEER_IDENTITY',
    );
    assert.equal(connects, before);
  });

  void it('the client refuses a server certificate from another CA', async () => {
    const c = client({ ...clientCert, rootPem: otherCa.rootPem });
    await assert.rejects(
      c.connect(req()),
      (err: unknown) => err instanceof HboneError && err.code === 'HBONE_TLS',
    );
  });

  void it('the server refuses a client without a certificate', async () => {
    const before = connects;
    const sock = tls.connect({
      host: HBONE_IP,
      port,
      ca: ca.rootPem,
      ALPNProtocols: ['h2'],
      servername: '',
      checkServerIdentity: () => undefined,
    });
    await closed(sock);
    assert.equal(connects, before);
    await assertServes();
  });

  void it('the server refuses a client certificate from another CA', async () => {
    const before = connects;
    const foreign = await otherCa.issue(CLIENT_ID);
    const c = client({ ...foreign, rootPem: ca.rootPem });
    await assert.rejects(c.connect(req()), (err: unknown) => err instanceof HboneError);
    assert.equal(connects, before);
    await assertServes();
  });

  void it('the server refuses a client of another trust domain, even from the mesh root', async () => {
    const before = connects;
    const otherId = spiffe('default', 'sleep', 'other.example');
    const foreignTd = await ca.issue(otherId);
    const c = client(foreignTd);
    await assert.rejects(
      c.connect(req({ srcIdentity: otherId })),
      (err: unknown) => err instanceof HboneError,
    );
    assert.equal(connects, before);
    await assertServes();
  });

  void it('the server refuses a client leaf with two URI SANs, even if the first is good', async () => {
    const before = connects;
    const two = await ca.issue(CLIENT_ID, undefined, {
      extraUris: [spiffe('istio-system', 'ztunnel')],
    });
    await assert.rejects(client(two).connect(req()), (err: unknown) => err instanceof HboneError);
    assert.equal(connects, before);
    await assertServes();
  });

  void it('the server refuses a CA:TRUE client leaf', async () => {
    const before = connects;
    const caLeaf = await ca.issue(CLIENT_ID, undefined, { ca: true });
    await assert.rejects(
      client(caLeaf).connect(req()),
      (err: unknown) => err instanceof HboneError,
    );
    assert.equal(connects, before);
    await assertServes();
  });

  void it('the client refuses a server leaf with two URI SANs or CA:TRUE', async () => {
    for (const opts of [{ extraUris: [spiffe('default', 'other')] }, { ca: true }]) {
      const bad = await ca.issue(SERVER_ID, undefined, opts);
      const l2 = net.createServer();
      const p2 = await listen(l2, HBONE_IP);
      const s2 = createHboneServer({
        server: l2,
        trustDomain: 'cluster.local',
        certificateFor: () => Promise.resolve(bad),
        handler: decideThenSplice(() => ({ status: 200, upstream: new EchoDuplex() })),
      });
      try {
        await assert.rejects(
          client(clientCert).connect(req({ dstPort: p2 })),
          (err: unknown) => err instanceof HboneError && err.code === 'HBONE_PEER_IDENTITY',
        );
      } finally {
        await s2.close(false);
        l2.close();
      }
    }
  });

  void it('no TLS session resumption on 15008: a ticket offered back gets a full handshake', async () => {
    const dial = (session?: Buffer) =>
      new Promise<{ reused: boolean; ticket?: Buffer }>((resolve, reject) => {
        let ticket: Buffer | undefined;
        const sock = tls.connect({
          host: HBONE_IP,
          port,
          key: clientCert.keyPem,
          cert: clientCert.certChainPem.join(''),
          ca: ca.rootPem,
          ALPNProtocols: ['h2'],
          servername: '',
          checkServerIdentity: () => undefined,
          session,
        });
        sock.on('session', (t: Buffer) => (ticket = t));
        sock.once('secureConnect', () => {
          const reused = sock.isSessionReused();
          // TLS 1.3 tickets arrive after the handshake; give them a moment, then close.
          setTimeout(() => {
            sock.destroy();
            resolve({ reused, ticket: ticket ?? sock.getSession() });
          }, 200);
        });
        sock.once('error', reject);
      });
    const first = await dial();
    assert.equal(first.reused, false);
    if (first.ticket) {
      const second = await dial(first.ticket);
      assert.equal(second.reused, false, 'the server resumed a session');
    }
    await assertServes();
  });

  void it('the server resets oversized header blocks and keeps the connection usable', async () => {
    const before = connects;
    const sock = tls.connect({
      host: HBONE_IP,
      port,
      key: clientCert.keyPem,
      cert: clientCert.certChainPem.join(''),
      ca: ca.rootPem,
      ALPNProtocols: ['h2'],
      servername: '',
      checkServerIdentity: () => undefined,
    });
    const session = http2.connect(`https://${HBONE_IP}:${port}`, {
      createConnection: () => sock,
      maxSendHeaderBlockLength: 1 << 20,
    });
    session.on('error', () => undefined);
    try {
      const outcome = await new Promise<string>((resolve) => {
        const s = session.request(
          { ':method': 'CONNECT', ':authority': `${HBONE_IP}:8080`, 'x-big': 'a'.repeat(100_000) },
          { endStream: false },
        );
        s.on('response', (h) => resolve(`status ${String(h[':status'])}`));
        s.on('error', () => undefined);
        s.on('close', () => resolve(`closed ${s.rstCode}`));
      });
      assert.equal(outcome, 'status 431');
      assert.equal(connects, before);
    } finally {
      session.destroy();
    }
    await assertServes();
  });

  void it('the server closes clients that stall in the handshake or send garbage', async () => {
    const before = connects;
    const stalled = net.connect(port, HBONE_IP);
    const half = net.connect(port, HBONE_IP);
    // The start of a TLS record header, then nothing.
    half.write(Buffer.from([0x16, 0x03, 0x01, 0x02]));
    const garbage = net.connect(port, HBONE_IP);
    garbage.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await Promise.all([closed(stalled), closed(half), closed(garbage)]);
    assert.equal(connects, before);
    await assertServes();
    assert.ok(accepted >= 3);
  });

  void it('the server closes an authenticated client that speaks garbage instead of HTTP/2', async () => {
    const before = connects;
    const sock = tls.connect({
      host: HBONE_IP,
      port,
      key: clientCert.keyPem,
      cert: clientCert.certChainPem.join(''),
      ca: ca.rootPem,
      ALPNProtocols: ['h2'],
      servername: '',
      checkServerIdentity: () => undefined,
    });
    await new Promise((r) => sock.once('secureConnect', r));
    sock.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + '\xff'.repeat(64));
    sock.resume();
    await closed(sock);
    assert.equal(connects, before);
    await assertServes();
  });

  void it('a destination without a certificate is closed; others are unaffected', async () => {
    const l2 = net.createServer();
    const p2 = await listen(l2, HBONE_IP);
    const s2 = createHboneServer({
      server: l2,
      trustDomain: 'cluster.local',
      certificateFor: (local) => Promise.reject(new Error(`no workload ${local}`)),
      handler: decideThenSplice(() => Promise.resolve({ status: 503 })),
    });
    try {
      await assert.rejects(
        client(clientCert).connect(req({ dstPort: p2 })),
        (err: unknown) => err instanceof HboneError && err.code !== 'HBONE_STATUS',
      );
      await assertServes();
    } finally {
      await s2.close(false);
      l2.close();
    }
  });

  void it('new connections pick up a rotated server certificate', async () => {
    const c = client(clientCert);
    const seen = async () => {
      const sock = tls.connect({
        host: HBONE_IP,
        port,
        key: clientCert.keyPem,
        cert: clientCert.certChainPem.join(''),
        ca: ca.rootPem,
        ALPNProtocols: ['h2'],
        servername: '',
        checkServerIdentity: () => undefined,
      });
      await new Promise((r) => sock.once('secureConnect', r));
      const serial = sock.getPeerX509Certificate()?.serialNumber;
      sock.destroy();
      return serial;
    };
    const old = await seen();
    serverCert = await ca.issue(SERVER_ID);
    const rotated = await seen();
    assert.notEqual(rotated, old);
    const { stream } = await c.connect(req());
    assert.equal(await echoOnce(stream, 'rotated'), 'rotated');
  });
});
