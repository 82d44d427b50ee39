/**
 * The HBONE server's hand-off (Istio ztunnel's H2Request) on loopback with real mTLS: the handler
 * gets the verified request and owns the stream (a waypoint runs its own protocol on it), and a
 * stream the peer resets before the answer aborts the request's signal, which cancels a pending
 * dial to the application.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { createHboneClient } from '../../src/hbone/client.js';
import { createHboneServer, type HboneServer } from '../../src/hbone/server.js';
import type { HboneRequest } from '../../src/hbone/types.js';
import { isCode } from '../../src/errors.js';
import { connectApp } from '../../src/ztunnel/app-connect.js';
import type { IssuedCertificate } from '../../src/xds/types.js';
import { createFakeCa, spiffe, type FakeCa } from '../helpers/fake-ca.js';
import { eventually, listen } from '../helpers/net.js';

const SERVER_ID = spiffe('default', 'waypoint');
const CLIENT_ID = spiffe('default', 'sleep');
const HBONE_IP = '127.0.0.5';

void describe('hbone server hand-off', { timeout: 60_000 }, () => {
  let ca: FakeCa;
  let serverCert: IssuedCertificate;
  let clientCert: IssuedCertificate;
  const listener = net.createServer();
  let server: HboneServer;
  let port = 0;
  let handle: (req: HboneRequest) => void | Promise<void> = () => undefined;

  before(async () => {
    ca = await createFakeCa();
    [serverCert, clientCert] = await Promise.all([ca.issue(SERVER_ID), ca.issue(CLIENT_ID)]);
    port = await listen(listener, HBONE_IP);
    server = createHboneServer({
      server: listener,
      trustDomain: 'cluster.local',
      certificateFor: () => Promise.resolve(serverCert),
      handler: (req) => handle(req),
    });
  });

  after(async () => {
    await server.close(false);
    listener.close();
  });

  void it('hands over the verified request and the stream; the handler speaks on it', async () => {
    let got: HboneRequest | undefined;
    handle = (req) => {
      got = req;
      assert.equal(req.accept({ 'x-served-by': 'handler' }), true);
      // A waypoint would run HTTP here; any protocol over the tunnelled bytes will do.
      req.stream.setEncoding('utf8');
      let line = '';
      req.stream.on('data', (d: string) => (line += d));
      req.stream.once('end', () => req.stream.end(line.toUpperCase()));
    };
    const client = createHboneClient({ certificates: { get: () => Promise.resolve(clientCert) } });
    try {
      const { stream, responseHeaders } = await client.connect({
        srcIdentity: CLIENT_ID,
        dstIdentities: [SERVER_ID],
        srcIp: '127.0.0.1',
        dstIp: HBONE_IP,
        dstPort: port,
        authority: '10.0.0.1:8080',
        headers: { baggage: 'k=v' },
      });
      assert.equal(responseHeaders['x-served-by'], 'handler');
      let answer = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => (answer += d));
      const ended = new Promise((r) => stream.once('end', r));
      stream.end('get /');
      await ended;
      assert.equal(answer, 'GET /');
      assert.ok(got);
      assert.equal(got.peerIdentity, CLIENT_ID);
      assert.equal(got.authority, '10.0.0.1:8080');
      assert.equal(got.localAddress, HBONE_IP);
      assert.equal(got.localPort, port);
      assert.equal(got.headers.baggage, 'k=v');
    } finally {
      await client.close();
    }
  });

  void it('a reset before the answer aborts the signal, cancelling the dial to the app', async () => {
    let req: HboneRequest | undefined;
    const dials: Promise<unknown>[] = [];
    handle = (r) => {
      req = r;
      // The handler stands for one still dialling a slow app: it only waits for the signal.
      dials.push(
        new Promise((resolve) => r.signal.addEventListener('abort', resolve, { once: true })),
      );
    };
    const session = http2.connect(`https://${HBONE_IP}:${port}`, {
      createConnection: () =>
        tls.connect({
          host: HBONE_IP,
          port,
          key: clientCert.keyPem,
          cert: clientCert.certChainPem.join(''),
          ca: ca.rootPem,
          ALPNProtocols: ['h2'],
          servername: '',
          checkServerIdentity: () => undefined,
        }),
    });
    session.on('error', () => undefined);
    try {
      const stream = session.request(
        { ':method': 'CONNECT', ':authority': '127.0.0.1:9' },
        { endStream: false },
      );
      stream.on('error', () => undefined);
      await eventually('the handler has the request', () => req);
      assert.equal(req!.signal.aborted, false);
      stream.close(http2.constants.NGHTTP2_CANCEL);
      await Promise.all(dials);
      assert.equal(req!.signal.aborted, true);
      assert.match(String((req!.signal.reason as Error).message), /stream reset by peer: CANCEL/);
      // And such a signal cancels connectApp, also mid-connect.
      const ctl = new AbortController();
      const pending = connectApp({ spoof: 'bind' }, undefined, HBONE_IP, port, {
        signal: ctl.signal,
      });
      ctl.abort(req!.signal.reason);
      await assert.rejects(pending, (e: unknown) => isCode(e, 'ZTUNNEL_CONNECT_CANCELLED'));
      await assert.rejects(
        connectApp({ spoof: 'bind' }, undefined, HBONE_IP, port, { signal: req!.signal }),
        (e: unknown) => isCode(e, 'ZTUNNEL_CONNECT_CANCELLED'),
      );
    } finally {
      session.destroy();
    }
  });
});
