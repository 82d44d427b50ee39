/**
 * The waypoint's upstream pool (src/waypoint/upstream/) over real HBONE mutual TLS to an
 * in-process "ztunnel B" (a real HBONE server that splices each CONNECT to `:authority`) in
 * front of a plain HTTP/1.1 keep-alive server: tunnel reuse and its bookkeeping.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createHboneClient } from '../../src/hbone/client.js';
import { decideThenSplice } from '../../src/hbone/handoff.js';
import { createHboneServer, type HboneServer } from '../../src/hbone/server.js';
import type { HboneClient } from '../../src/hbone/types.js';
import { createLogger } from '../../src/log.js';
import { sendAttempt } from '../../src/waypoint/proxy/attempt.js';
import { RequestBody } from '../../src/waypoint/proxy/body.js';
import { UpstreamPool } from '../../src/waypoint/upstream/pool.js';
import { createTransport, type UpstreamTarget } from '../../src/waypoint/upstream/transport.js';
import { createFakeCa, spiffe } from '../helpers/fake-ca.js';

const APP_IP = '127.0.0.21';
const ZTUNNEL_B_IP = '127.0.0.22';
const POD_ID = spiffe('ns', 'app');
const WAYPOINT_ID = spiffe('ns', 'waypoint');

function listen(s: net.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, host, () => resolve((s.address() as net.AddressInfo).port));
  });
}

void describe('waypoint upstream pool over HBONE', () => {
  const log = createLogger('test', () => undefined);
  let app: http.Server;
  let bListener: net.Server;
  let ztunnelB: HboneServer;
  let client: HboneClient;
  let pool: UpstreamPool;
  let target: UpstreamTarget;
  /** CONNECTs ztunnel B answered. */
  let connects = 0;

  before(async () => {
    const ca = await createFakeCa();
    const issued = new Map<string, ReturnType<typeof ca.issue>>();
    const certs = {
      get(id: string) {
        let c = issued.get(id);
        if (!c) issued.set(id, (c = ca.issue(id)));
        return c;
      },
    };
    app = http.createServer((req, res) => res.end(`hello ${req.url ?? ''}`));
    const appPort = await listen(app, APP_IP);
    bListener = net.createServer({ allowHalfOpen: true });
    const bPort = await listen(bListener, ZTUNNEL_B_IP);
    ztunnelB = createHboneServer({
      server: bListener,
      trustDomain: 'cluster.local',
      certificateFor: () => certs.get(POD_ID),
      handler: decideThenSplice((req) => {
        connects++;
        const [ip = '', port = ''] = req.authority.split(':');
        return new Promise((resolve) => {
          const up = net.connect({ host: ip, port: Number(port), allowHalfOpen: true });
          up.once('connect', () => resolve({ status: 200, upstream: up }));
          up.once('error', () => resolve({ status: 503, reason: 'connect failed' }));
        });
      }),
      log,
    });
    client = createHboneClient({ certificates: certs, log });
    pool = new UpstreamPool(
      createTransport({
        hbone: client,
        identity: WAYPOINT_ID,
        ip: '127.0.0.2',
        hbonePort: () => ({ ip: ZTUNNEL_B_IP, port: bPort }),
      }),
      log,
    );
    target = { address: APP_IP, targetPort: appPort, tunnel: 'HBONE', identity: POD_ID };
  });

  after(async () => {
    await pool?.close();
    await client?.close();
    bListener?.close();
    await ztunnelB?.close(false);
    app?.closeAllConnections();
    await new Promise<void>((r) => (app ? app.close(() => r()) : r()));
  });

  /** One GET over the pool; resolves with the body and the tunnel it went over. */
  async function get(path: string): Promise<{ body: string; tunnel: unknown }> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 20_000);
    try {
      const r = await sendAttempt(pool, {
        target,
        protocol: 'h1',
        method: 'GET',
        path,
        authority: 'app',
        headers: {},
        body: new RequestBody(Readable.from([])),
        signal: ac.signal,
      });
      const tunnel = (r.body as http.IncomingMessage).socket;
      let body = '';
      for await (const c of r.body) body += String(c);
      return { body, tunnel };
    } finally {
      clearTimeout(timer);
    }
  }

  test('one keep-alive tunnel carries 30 requests in turn; no listener is left behind per request', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const before = connects;
      const first = await get('/0');
      assert.equal(first.body, 'hello /0');
      const tunnel = first.tunnel as NodeJS.EventEmitter;
      // Counted once the tunnel is back in the pool (the Agent frees it after the response).
      await new Promise((r) => setImmediate(r));
      const counts = () =>
        Object.fromEntries(tunnel.eventNames().map((e) => [String(e), tunnel.listenerCount(e)]));
      const start = counts();
      for (let i = 1; i < 30; i++) {
        const r = await get(`/${i}`);
        assert.equal(r.body, `hello /${i}`);
        assert.equal(r.tunnel, tunnel, `request ${i} went over the same tunnel`);
      }
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(counts(), start, 'listeners on the tunnel after 30 requests');
      assert.equal(connects - before, 1, 'CONNECTs for 30 requests in turn');
      assert.deepEqual(
        warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')),
        [],
      );
    } finally {
      process.off('warning', onWarning);
    }
  });
});
