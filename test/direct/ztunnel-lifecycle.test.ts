/**
 * Connection lifecycle through two in-process ztunnels on loopback (issue #10): half-close is
 * carried both ways on every hop (client FIN → HBONE END_STREAM → app FIN, and back), a FIN
 * sent before the upstream is connected is not lost, and afterwards no connection record is
 * left in either ztunnel's table.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Address } from '../../src/api/workload.js';
import { createHboneClient } from '../../src/hbone/client.js';
import { createHboneServer } from '../../src/hbone/server.js';
import { IdentityManager } from '../../src/identity/manager.js';
import { createLogger } from '../../src/log.js';
import { Ztunnel, type ZtunnelPortsBound } from '../../src/ztunnel/app.js';
import type { ZtunnelConfig } from '../../src/ztunnel/config.js';
import { workload } from '../../src/ztunnel/testing.js';
import { createFakeCa, type FakeCa } from '../helpers/fake-ca.js';
import { eventually, freePort, listen } from '../helpers/net.js';
import { testZtunnelConfig } from '../helpers/ztunnel-config.js';

const R = 10 + Math.floor(Math.random() * 200);
// Own third octets (11-13): the e2e test uses 1-3 under the same random second octet.
const ip = (n: number, h: number) => `127.${R}.${n}.${h}`;
const CLIENT = ip(12, 8);
const SERVER = ip(11, 7);
const OUTSIDER = ip(13, 9);
const quiet = createLogger('test', () => undefined);

/** What one app connection saw: bytes before the client's FIN, and whether a FIN came. */
interface Seen {
  data: string;
  fin: boolean;
}

/** Reads `s` to its FIN; resolves with everything read (rejects on reset). */
function readToEnd(s: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (got += d));
    s.once('end', () => resolve(got));
    s.once('error', reject);
  });
}

function dial(port: number, from: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: from, allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

void describe('ztunnel connection lifecycle', { timeout: 60_000 }, () => {
  let ca: FakeCa;
  let a: Ztunnel;
  let b: Ztunnel;
  let pa: ZtunnelPortsBound;
  let pb: ZtunnelPortsBound;
  let dst: { ip: string; port: number } | undefined;
  const ids: IdentityManager[] = [];
  const logB: string[] = [];
  /**
   * "Answers after FIN": reads the request to the client's FIN, then answers `got:<request>`
   * and FINs. Only works if the client's FIN reaches it while its own side is still open.
   */
  const seen: Seen[] = [];
  const afterFin = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    const one: Seen = { data: '', fin: false };
    seen.push(one);
    s.setEncoding('utf8');
    s.on('data', (d: string) => (one.data += d));
    s.once('end', () => {
      one.fin = true;
      s.end(`got:${one.data}`);
    });
  });
  /** "Speaks first": sends a greeting and FINs at once, then still reads the client. */
  const heard: Seen[] = [];
  const speaksFirst = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    const one: Seen = { data: '', fin: false };
    heard.push(one);
    s.end('hello');
    s.setEncoding('utf8');
    s.on('data', (d: string) => (one.data += d));
    s.once('end', () => (one.fin = true));
  });
  let afterFinPort = 0;
  let speaksFirstPort = 0;

  before(async () => {
    ca = await createFakeCa();
    afterFinPort = await listen(afterFin, SERVER);
    speaksFirstPort = await listen(speaksFirst, SERVER);
    const hbonePort = await freePort(SERVER);
    const mk = (node: string, over: Partial<ZtunnelConfig>, log: string[] = []) => {
      const identity = new IdentityManager({ fetch: (id) => ca.issue(id), log: quiet });
      ids.push(identity);
      return new Ztunnel(testZtunnelConfig(node, { hbonePort, ...over }), {
        identity,
        hboneClient: createHboneClient({ certificates: identity, log: quiet }),
        hboneServer: (o) => createHboneServer({ ...o, log: quiet }),
        accessLogSink: (l) => log.push(l),
        originalDst: () => dst,
        log: quiet,
      });
    };
    a = mk('worker2', {});
    b = mk(
      'worker',
      { inboundHost: SERVER, ports: { ...testZtunnelConfig('x').ports, inbound: hbonePort } },
      logB,
    );
    const state: Address[] = [
      { workload: workload('server', SERVER, 'worker') },
      { workload: workload('client', CLIENT, 'worker2') },
    ];
    for (const z of [a, b]) {
      z.applyDelta({
        typeUrl: 'test',
        version: '1',
        addresses: { added: state, removed: [] },
        authorizations: { added: [], removed: [] },
      });
      z.markSynced();
    }
    pa = await a.start();
    pb = await b.start();
  });

  after(async () => {
    await Promise.all([a.drain(100), b.drain(100)]);
    for (const i of ids) i.close();
    await Promise.all([
      new Promise((r) => afterFin.close(r)),
      new Promise((r) => speaksFirst.close(r)),
    ]);
  });

  const open = async (z: Ztunnel) =>
    ((await z.configDump()) as { connections: object[] }).connections.length;

  const hops = () => [
    { name: 'outbound 15001 → HBONE → inbound 15008', port: pa.outbound, from: CLIENT },
    { name: 'inbound passthrough 15006', port: pb.inboundPlaintext, from: OUTSIDER },
  ];

  void it("the client's FIN reaches the app while the app can still answer", async () => {
    dst = { ip: SERVER, port: afterFinPort };
    for (const hop of hops()) {
      const before = seen.length;
      const s = await dial(hop.port, hop.from);
      const reply = readToEnd(s);
      s.end('request');
      assert.equal(await reply, 'got:request', hop.name);
      assert.deepEqual(seen[before], { data: 'request', fin: true }, hop.name);
      s.destroy();
    }
  });

  void it("the app's FIN reaches the client, which can still send", async () => {
    dst = { ip: SERVER, port: speaksFirstPort };
    for (const hop of hops()) {
      const before = heard.length;
      const s = await dial(hop.port, hop.from);
      assert.equal(await readToEnd(s), 'hello', hop.name);
      // Our side is still open after the app's FIN: what we send now must reach it.
      s.end('late');
      await eventually(`${hop.name}: the app got the late bytes and FIN`, () =>
        Boolean(heard[before]?.fin),
      );
      assert.deepEqual(heard[before], { data: 'late', fin: true }, hop.name);
      s.destroy();
    }
  });

  void it('a FIN sent before the upstream is connected is not lost', async () => {
    dst = { ip: SERVER, port: afterFinPort };
    for (const hop of hops()) {
      const before = seen.length;
      // Data and FIN in the first packets, before ztunnel has even looked at the connection.
      const s = net.connect({
        host: '127.0.0.1',
        port: hop.port,
        localAddress: hop.from,
        allowHalfOpen: true,
      });
      const reply = readToEnd(s);
      s.end('early');
      assert.equal(await reply, 'got:early', hop.name);
      assert.deepEqual(seen[before], { data: 'early', fin: true }, hop.name);
      s.destroy();
    }
  });

  void it("a client's reset reaches the app as a reset and B's access log as the close reason", async () => {
    dst = { ip: SERVER, port: afterFinPort };
    const before = seen.length;
    const s = await dial(pa.outbound, CLIENT);
    s.write('partial');
    await eventually('the app got the bytes', () => seen[before]?.data === 'partial');
    const inbound = () => logB.filter((l) => l.includes('direction=inbound ')).length;
    const n = inbound();
    s.resetAndDestroy();
    await eventually('B logged the connection', () => inbound() > n);
    const line = logB.filter((l) => l.includes('direction=inbound ')).at(-1)!;
    assert.match(line, /error="[^"]*CONNECT_ERROR/, 'the stream reset is the close reason');
    assert.equal(seen[before]?.fin, false, 'a reset is not a FIN');
  });

  void it('afterwards neither connection table holds anything', async () => {
    await eventually('both tables empty', async () => {
      const [na, nb] = await Promise.all([open(a), open(b)]);
      return na === 0 && nb === 0;
    });
  });
});
