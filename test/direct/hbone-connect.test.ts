/**
 * HBONE end to end on loopback: a real HBONE client and server with certificates from a real
 * CA, CONNECT streams spliced to a real TCP upstream.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { createFakeCa, spiffe, type FakeCa } from '../helpers/fake-ca.js';
import { createHboneClient } from '../../src/hbone/client.js';
import { createHboneServer, type HboneServer } from '../../src/hbone/server.js';
import { decideThenSplice } from '../../src/hbone/handoff.js';
import { HboneError, type HboneClient, type HboneInboundRequest } from '../../src/hbone/types.js';
import type { IssuedCertificate } from '../../src/xds/types.js';

const SERVER_ID = spiffe('default', 'httpbin');
const CLIENT_ID = spiffe('default', 'sleep');
const HBONE_IP = '127.0.0.2';

function listen(server: net.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** Upstream that answers every connection with `<bytes> <sha256>` of what it got, after FIN. */
function hashingUpstream(): net.Server {
  return net.createServer({ allowHalfOpen: true }, (s) => {
    const h = createHash('sha256');
    let n = 0;
    s.on('data', (d: Buffer) => {
      h.update(d);
      n += d.length;
    });
    s.on('end', () => s.end(`${n} ${h.digest('hex')}`));
    s.on('error', () => s.destroy());
  });
}

function readAll(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

void describe('hbone CONNECT round trip', () => {
  let ca: FakeCa;
  let serverCert: IssuedCertificate;
  let clientCert: IssuedCertificate;
  const upstream = hashingUpstream();
  const hboneListener = net.createServer();
  let hbone: HboneServer;
  let client: HboneClient;
  let hbonePort = 0;
  let upstreamPort = 0;
  const seen: HboneInboundRequest[] = [];

  before(async () => {
    ca = await createFakeCa();
    [serverCert, clientCert] = await Promise.all([ca.issue(SERVER_ID), ca.issue(CLIENT_ID)]);
    upstreamPort = await listen(upstream, '127.0.0.1');
    hbonePort = await listen(hboneListener, HBONE_IP);
    hbone = createHboneServer({
      server: hboneListener,
      trustDomain: 'cluster.local',
      certificateFor: (local) =>
        local === HBONE_IP
          ? Promise.resolve(serverCert)
          : Promise.reject(new Error(`no pod ${local}`)),
      handler: decideThenSplice((req) => {
        seen.push(req);
        const port = Number(req.authority.split(':')[1]);
        if (port === 1) return Promise.resolve({ status: 401, reason: 'denied by policy' });
        // Misbehaving deciders: the server answers 503 and keeps serving.
        if (port === 2) throw new Error('synchronous bug');
        if (port === 3)
          return Promise.resolve({
            status: 200,
            upstream: net.connect({ host: '127.0.0.1', port: upstreamPort }),
            headers: { 'bad header name': 'x' },
          });
        return (async () => {
          const up = net.connect({ host: '127.0.0.1', port: upstreamPort, allowHalfOpen: true });
          await new Promise<void>((resolve, reject) => {
            up.once('connect', resolve);
            up.once('error', reject);
          }).catch(() => undefined);
          if (up.destroyed) return { status: 503 };
          return { status: 200, upstream: up, headers: { baggage: 'k8s.namespace.name=default' } };
        })();
      }),
    });
    client = createHboneClient({
      certificates: {
        get: (id) =>
          id === CLIENT_ID ? Promise.resolve(clientCert) : Promise.reject(new Error(id)),
      },
    });
  });

  after(async () => {
    await client.close();
    await hbone.close(false);
    hboneListener.close();
    upstream.close();
  });

  const dialReq = (over: Partial<Parameters<HboneClient['connect']>[0]> = {}) => ({
    srcIdentity: CLIENT_ID,
    dstIdentities: [SERVER_ID],
    srcIp: '127.0.0.1',
    dstIp: HBONE_IP,
    dstPort: hbonePort,
    authority: `${HBONE_IP}:${upstreamPort}`,
    headers: {
      forwarded: 'for="127.0.0.1:1234"',
      traceparent: '00-' + '1'.repeat(32) + '-' + '2'.repeat(16) + '-00',
    },
    ...over,
  });

  void it('carries data both ways with half-close, and passes identities and headers', async () => {
    const { stream, responseHeaders } = await client.connect(dialReq());
    assert.equal(responseHeaders.baggage, 'k8s.namespace.name=default');
    const payload = randomBytes(300_000);
    const reply = readAll(stream);
    stream.end(payload);
    // The upstream answers only after our FIN reached it: proves half-close travels and the
    // reverse direction stays open.
    const text = (await reply).toString();
    assert.equal(text, `${payload.length} ${createHash('sha256').update(payload).digest('hex')}`);
    const req = seen.at(-1);
    assert.ok(req);
    assert.equal(req.peerIdentity, CLIENT_ID);
    assert.equal(req.localAddress, HBONE_IP);
    assert.equal(req.authority, `${HBONE_IP}:${upstreamPort}`);
    assert.equal(req.headers.forwarded, 'for="127.0.0.1:1234"');
  });

  void it('moves 64 MiB intact through one stream', async () => {
    const { stream } = await client.connect(dialReq());
    const h = createHash('sha256');
    const reply = readAll(stream);
    const chunk = randomBytes(1024 * 1024);
    for (let i = 0; i < 64; i++) {
      h.update(chunk);
      if (!stream.write(chunk)) await new Promise((r) => stream.once('drain', r));
    }
    stream.end();
    assert.equal((await reply).toString(), `${64 * 1024 * 1024} ${h.digest('hex')}`);
  });

  void it('rejects with HBONE_STATUS and the status for a refusal', async () => {
    await assert.rejects(
      client.connect(dialReq({ authority: `${HBONE_IP}:1` })),
      (err: unknown) => {
        assert.ok(err instanceof HboneError);
        assert.equal(err.code, 'HBONE_STATUS');
        assert.equal(err.status, 401);
        return true;
      },
    );
  });

  void it('answers 503 when the decider throws or gives bad headers', async () => {
    for (const port of [2, 3]) {
      await assert.rejects(
        client.connect(dialReq({ authority: `${HBONE_IP}:${port}` })),
        (err: unknown) => err instanceof HboneError && err.status === 503,
      );
    }
  });

  void it('answers 400 to a bad authority and to non-CONNECT requests', async () => {
    for (const authority of ['no-port', `${HBONE_IP}:99999`, '10.0.0.300:80', '[::1:80']) {
      await assert.rejects(client.connect(dialReq({ authority })), (err: unknown) => {
        assert.ok(err instanceof HboneError);
        assert.equal(err.status, 400, authority);
        return true;
      });
    }
    // A plain GET over a correctly authenticated connection.
    const sock = tls.connect({
      host: HBONE_IP,
      port: hbonePort,
      key: clientCert.keyPem,
      cert: clientCert.certChainPem.join(''),
      ca: clientCert.rootPem,
      ALPNProtocols: ['h2'],
      servername: '',
      checkServerIdentity: () => undefined,
    });
    const session = http2.connect(`https://${HBONE_IP}:${hbonePort}`, {
      createConnection: () => sock,
    });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const r = session.request({ ':method': 'GET', ':path': '/' });
        r.on('response', (h) => resolve(Number(h[':status'])));
        r.on('error', reject);
        r.end();
      });
      assert.equal(status, 400);
    } finally {
      session.destroy();
    }
  });

  void it('still serves after all that', async () => {
    const { stream } = await client.connect(dialReq());
    const reply = readAll(stream);
    stream.end('ok');
    assert.match((await reply).toString(), /^2 /);
  });
});
