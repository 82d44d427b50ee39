/**
 * Fuzzing DNS (issue #10): the lab's cluster DNS (answerQuery behind its UDP/TCP server) and
 * ztunnel's DNS proxy (DnsProxy.handle, with a loopback upstream that echoes). Inputs are
 * random bytes, valid queries with bytes flipped or cut, and the classic malformed packets
 * (truncated header, compression-pointer loop, qdcount 65535, EDNS0 payload 65535, empty name).
 * Property: an answer or a drop, never a throw out of the handler (that would take down the
 * socket's 'message' listener and the process), and the servers answer a good query afterwards.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, before, test } from 'node:test';
import * as dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { readQuery } from '../../src/dns/message.js';
import { answerQuery, ServiceIndex } from '../../src/lab/dns/answer.js';
import { startDnsServer, type DnsServer } from '../../src/lab/dns/server.js';
import { createLogger } from '../../src/log.js';
import { ZtunnelState } from '../../src/state/store.js';
import { DnsProxy } from '../../src/ztunnel/dns/server.js';
import { service, workload, selectedBy } from '../../src/ztunnel/testing.js';
import { cleanOrCatalogued, cleanOrCataloguedAsync, fuzzParams } from '../helpers/fuzz.js';

const quiet = createLogger('test', () => undefined);
const idx = new ServiceIndex([
  { name: 'httpbin', namespace: 'default', clusterIP: '10.96.0.105', ports: [{ port: 8000 }] },
  { name: 'db', namespace: 'default', clusterIP: 'None', endpointIPs: ['10.244.1.20'], ports: [] },
]);
const TYPES = ['A', 'AAAA', 'SRV', 'PTR', 'TXT', 'MX', 'CNAME', 'NS', 'SOA'] as const;

const query = fc
  .record({
    id: fc.integer({ min: 0, max: 65535 }),
    name: fc.oneof(
      fc.domain(),
      fc.constantFrom(
        'httpbin.default.svc.cluster.local',
        '_http._tcp.httpbin.default.svc.cluster.local',
        '105.0.96.10.in-addr.arpa',
        'db.default',
        '',
        '.',
      ),
      fc.string({ maxLength: 70 }),
    ),
    type: fc.constantFrom(...TYPES),
    edns: fc.option(fc.integer({ min: 0, max: 65535 })),
  })
  .map(({ id, name, type, edns }) => {
    try {
      return dnsPacket.encode({
        type: 'query',
        id,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ name, type, class: 'IN' }],
        ...(edns === null
          ? {}
          : {
              additionals: [{ type: 'OPT', name: '.', udpPayloadSize: edns } as dnsPacket.Answer],
            }),
      });
    } catch {
      return Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
    }
  });

const classics = [
  Buffer.from([0x12]), // truncated header
  // qdcount 1, name = a pointer to itself (compression loop)
  Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]),
  // qdcount 65535 with one question present
  Buffer.from([0, 2, 1, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]),
  // a response, not a query
  Buffer.from([0, 3, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]),
];

const packet = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
  fc.constantFrom(...classics),
  fc
    .tuple(
      query,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.option(fc.nat()),
    )
    .map(([q, flips, cut]) => {
      const b = Buffer.from(q);
      for (const [at, v] of flips) b[at % b.length] = v;
      return cut === null ? b : b.subarray(0, cut % (b.length + 1));
    }),
);

void test(
  'fuzz: readQuery and the cluster DNS answer or refuse every packet, never throw',
  { timeout: 60_000 },
  () => {
    fc.assert(
      fc.property(packet, (b) => {
        const read = readQuery(b); // never throws: a refusal is a value
        // Refused messages get a fixed reply or none; the server counts and logs them.
        if (!read.ok) return;
        const resp = cleanOrCatalogued(() => answerQuery(read.query, idx), b.toString('hex'));
        assert.ok(resp, 'answerQuery returned nothing');
      }),
      fuzzParams(1000),
    );
  },
);

let labDns: DnsServer;
let proxy: DnsProxy;
const upstream = dgram.createSocket('udp4');

before(async () => {
  labDns = await startDnsServer({ host: '127.0.0.1', port: 0, index: () => idx, log: quiet });
  // The proxy's upstream: echoes each query back (a "crafted upstream answer" of any shape).
  upstream.on('message', (m, r) => upstream.send(m, r.port, r.address));
  await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', () => r()));
  const state = new ZtunnelState();
  const svc = service('httpbin', '10.96.0.105', [[8000, 80]]);
  state.replaceAll(
    [{ service: svc }, { workload: selectedBy(workload('sleep', '127.0.0.1', 'worker'), svc) }],
    [],
  );
  proxy = new DnsProxy({
    state,
    host: '127.0.0.1',
    port: 0,
    upstream: `127.0.0.1:${upstream.address().port}`,
    log: quiet,
    timeoutMs: 2000,
  });
});

after(async () => {
  await labDns?.close();
  upstream.close();
});

void test(
  "fuzz: ztunnel's DNS proxy answers, forwards or drops; never rejects",
  { timeout: 120_000 },
  async () => {
    await fc.assert(
      fc.asyncProperty(packet, async (b) => {
        await cleanOrCataloguedAsync(() => proxy.handle(b, '127.0.0.1'), b.toString('hex'));
      }),
      fuzzParams(300),
    );
    const ok = await proxy.handle(
      dnsPacket.encode({
        type: 'query',
        id: 7,
        questions: [{ name: 'httpbin.default.svc.cluster.local', type: 'A' }],
      }),
      '127.0.0.1',
    );
    const a = dnsPacket.decode(ok!);
    assert.deepEqual(
      a.answers?.map((x) => ('data' in x ? x.data : undefined)),
      ['10.96.0.105'],
    );
  },
);

void test(
  'fuzz: the cluster DNS server survives garbage over UDP and TCP, then answers',
  { timeout: 120_000 },
  async () => {
    const sock = dgram.createSocket('udp4');
    await fc.assert(
      fc.asyncProperty(packet, async (b) => {
        await new Promise<void>((r) => sock.send(b, labDns.port, '127.0.0.1', () => r()));
        // TCP: a length prefix that may lie, then the bytes.
        const c = net.connect(labDns.port, '127.0.0.1');
        c.on('error', () => undefined);
        c.resume(); // read the answer, or 'close' waits for the server's idle timeout
        const len = Buffer.alloc(2);
        len.writeUInt16BE(b.length);
        c.end(Buffer.concat([len, b]));
        const closed = await Promise.race([
          new Promise((r) => c.once('close', () => r(true))),
          new Promise((r) => setTimeout(() => r(false), 5000)),
        ]);
        assert.ok(closed, `connection not closed for ${b.toString('hex')}`);
      }),
      fuzzParams(200),
    );
    const answer = await new Promise<dnsPacket.DecodedPacket>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no answer after the fuzz run')), 10_000);
      sock.once('message', (m) => {
        clearTimeout(t);
        resolve(dnsPacket.decode(m));
      });
      sock.send(
        dnsPacket.encode({
          type: 'query',
          id: 9,
          questions: [{ name: 'httpbin.default.svc.cluster.local', type: 'A' }],
        }),
        labDns.port,
        '127.0.0.1',
      );
    });
    sock.close();
    assert.equal(answer.id, 9);
    assert.deepEqual(
      answer.answers?.map((x) => ('data' in x ? x.data : undefined)),
      ['10.96.0.105'],
    );
  },
);
