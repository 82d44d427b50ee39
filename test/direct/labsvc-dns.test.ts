import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, before, test } from 'node:test';
import * as dnsPacket from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';
import { ServiceIndex } from '../../src/lab/dns/answer.js';
import { startDnsServer, type DnsServer } from '../../src/lab/dns/server.js';

let srv: DnsServer;
let index = new ServiceIndex([
  {
    name: 'httpbin',
    namespace: 'default',
    clusterIP: '10.96.0.105',
    ports: [{ name: 'http', port: 8000 }],
  },
]);

before(async () => {
  srv = await startDnsServer({ host: '127.0.0.1', port: 0, index: () => index });
});
after(() => srv.close());

type Resp = DecodedPacket & { rcode: string };

function query(name: string, type: 'A' | 'AAAA' = 'A', id = 7): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
  });
}

function udp(msg: Buffer, timeoutMs = 3000): Promise<Resp | undefined> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(dnsPacket.decode(m) as Resp);
    });
    s.on('error', reject);
    s.send(msg, srv.port, '127.0.0.1');
  });
}

function tcp(msgs: Buffer[]): Promise<Resp[]> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(srv.port, '127.0.0.1');
    const out: Resp[] = [];
    let buf = Buffer.alloc(0);
    sock.setTimeout(5000, () => sock.destroy(new Error('tcp dns timeout')));
    sock.on('connect', () => {
      // both queries in one write: the server must split the length-prefixed stream
      sock.write(
        Buffer.concat(
          msgs.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 255]), m])),
        ),
      );
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        out.push(dnsPacket.decode(buf.subarray(2, 2 + len)) as Resp);
        buf = buf.subarray(2 + len);
      }
      if (out.length === msgs.length) {
        sock.end();
        resolve(out);
      }
    });
    sock.on('error', reject);
  });
}

void test('UDP: A record for a service, NXDOMAIN for unknown, REFUSED outside', async () => {
  const r = await udp(query('httpbin.default.svc.cluster.local', 'A', 99));
  assert.equal(r?.id, 99);
  assert.equal(r?.rcode, 'NOERROR');
  assert.equal((r?.answers?.[0] as { data: string }).data, '10.96.0.105');
  assert.equal((await udp(query('nope.default.svc.cluster.local')))?.rcode, 'NXDOMAIN');
  assert.equal((await udp(query('example.com')))?.rcode, 'REFUSED');
});

void test('TCP: two pipelined queries answered in order', async () => {
  const [a, b] = await tcp([
    query('httpbin.default.svc.cluster.local', 'A', 1),
    query('httpbin.default.svc.cluster.local', 'AAAA', 2),
  ]);
  assert.equal(a?.id, 1);
  assert.equal((a?.answers?.[0] as { data: string }).data, '10.96.0.105');
  assert.equal(b?.id, 2);
  assert.equal(b?.rcode, 'NOERROR');
  assert.equal(b?.answers?.length, 0);
});

void test('garbage gets FORMERR or nothing, the server keeps answering; the index is read per query', async () => {
  // a readable header: FORMERR with its id (RFC 1035 §4.1.1); shorter than one: dropped
  const fe = await udp(Buffer.from('not a dns packet'));
  assert.equal(fe?.rcode, 'FORMERR');
  assert.equal(fe?.id, Buffer.from('no').readUInt16BE(0));
  assert.equal(await udp(Buffer.alloc(0), 500), undefined);
  assert.ok(srv.bad >= 2, `bad messages counted: ${srv.bad}`);
  index = new ServiceIndex([{ name: 'web', namespace: 'shop', clusterIP: '10.96.7.7', ports: [] }]);
  const r = await udp(query('web.shop.svc.cluster.local'));
  assert.equal((r?.answers?.[0] as { data: string }).data, '10.96.7.7');
  assert.equal((await udp(query('httpbin.default.svc.cluster.local')))?.rcode, 'NXDOMAIN');
});

void test('TCP: a client that half-closes after its queries still gets every answer', async () => {
  const msgs = [1, 2, 3].map((id) => query('httpbin.default.svc.cluster.local', 'A', id));
  const got = await new Promise<Buffer>((resolve, reject) => {
    const sock = net.connect(srv.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.setTimeout(5000, () => sock.destroy(new Error('tcp dns timeout')));
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('close', () => resolve(Buffer.concat(chunks)));
    sock.on('error', reject);
    sock.end(Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from([0, m.length]), m]))));
  });
  const ids: number[] = [];
  for (let at = 0; at < got.length; at += 2 + got.readUInt16BE(at)) {
    ids.push(dnsPacket.decode(got.subarray(at + 2, at + 2 + got.readUInt16BE(at))).id ?? -1);
  }
  assert.deepEqual(ids, [1, 2, 3]);
});
