/**
 * The DNS wire module (src/dns/message.ts) and `exchange()` (src/dns/server.ts) without sockets:
 * what each kind of query or malformed message gets back, byte for byte where RFC 1035 and RFC
 * 6891 say what it must be.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, OptAnswer, Packet } from 'dns-packet';
import { isCode } from '../../src/errors.js';
import { encodeResponse, RCODE, readQuery, respond } from '../../src/dns/message.js';
import { BadMessages, exchange, type DnsAnswerer, type DnsClient } from '../../src/dns/server.js';
import { createLogger } from '../../src/log.js';

type Decoded = DecodedPacket & { rcode: string; opcode: string };

// dns-packet fills the OPT fields left out (flags 0, no options).
const opt = (over: Partial<OptAnswer> = {}): OptAnswer =>
  ({ name: '.', type: 'OPT', udpPayloadSize: 4096, ednsVersion: 0, ...over }) as OptAnswer;

function query(p: Partial<Packet> = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name: 'httpbin.default.svc.cluster.local', type: 'A', class: 'IN' }],
    ...p,
  });
}

/** The reply readQuery gives for `msg`, through the wire. */
function replyTo(msg: Buffer): { code: string; reply?: Decoded } {
  const r = readQuery(msg);
  assert.equal(r.ok, false, 'expected a refusal');
  if (r.ok) throw new Error('unreachable');
  return {
    code: r.error.code,
    reply: r.reply ? (dnsPacket.decode(dnsPacket.encode(r.reply)) as Decoded) : undefined,
  };
}

void test('a standard query with one question reads as that question', () => {
  const r = readQuery(query());
  assert.ok(r.ok);
  assert.equal(r.query.packet.id, 4242);
  assert.deepEqual(r.query.question, {
    name: 'httpbin.default.svc.cluster.local',
    type: 'A',
    class: 'IN',
  });
});

void test('shorter than a header, or a response: dropped (no reply), with the reason', () => {
  for (const n of [0, 1, 11]) {
    const r = replyTo(Buffer.alloc(n));
    assert.equal(r.code, 'DNS_MALFORMED');
    assert.equal(r.reply, undefined);
  }
  const resp = dnsPacket.encode({ type: 'response', id: 3, questions: [] });
  assert.deepEqual(replyTo(resp), { code: 'DNS_NOT_A_QUERY', reply: undefined });
});

void test('a readable header with an unreadable rest is FORMERR: its id, RD, no question, no larger', () => {
  const cases = [
    Buffer.from('not a dns packet'),
    // qdcount 1, name = a pointer to itself (compression loop)
    Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]),
    // qdcount 65535 with one question present
    Buffer.from([0, 2, 1, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]),
    // a question cut in its type
    query().subarray(0, 20),
  ];
  for (const msg of cases) {
    const r = readQuery(msg);
    assert.equal(r.ok, false);
    if (r.ok) continue;
    assert.ok(isCode(r.error, 'DNS_MALFORMED'), r.error.message);
    assert.match(r.error.message, /cannot be decoded/);
    const bytes = dnsPacket.encode(r.reply!);
    assert.ok(bytes.length <= Math.max(msg.length, 12), 'a FORMERR never amplifies');
    const d = dnsPacket.decode(bytes) as Decoded;
    assert.equal(d.type, 'response');
    assert.equal(d.id, msg.readUInt16BE(0));
    assert.equal(d.rcode, 'FORMERR');
    assert.equal(d.flag_rd, (msg.readUInt16BE(2) & 0x100) !== 0);
    assert.equal(d.questions?.length, 0);
  }
});

void test('not one question, or two OPT records, is FORMERR with the questions echoed', () => {
  const two = replyTo(
    query({
      questions: [
        { name: 'a.default.svc.cluster.local', type: 'A', class: 'IN' },
        { name: 'b.default.svc.cluster.local', type: 'A', class: 'IN' },
      ],
    }),
  );
  assert.equal(two.code, 'DNS_MALFORMED');
  assert.equal(two.reply?.rcode, 'FORMERR');
  assert.equal(two.reply?.questions?.length, 2);
  assert.equal(replyTo(query({ questions: [] })).reply?.rcode, 'FORMERR');
  const opts = replyTo(query({ additionals: [opt(), opt()] }));
  assert.equal(opts.reply?.rcode, 'FORMERR');
  assert.equal(opts.reply?.additionals?.filter((a) => a.type === 'OPT').length, 1);
});

void test('an opcode other than QUERY is NOTIMP with the opcode copied', () => {
  const notify = 4 << 11;
  const r = replyTo(query({ flags: notify }));
  assert.equal(r.code, 'DNS_UNSUPPORTED');
  assert.equal(r.reply?.rcode, 'NOTIMP');
  assert.equal(r.reply?.opcode, 'NOTIFY');
  assert.equal(r.reply?.id, 4242);
});

void test('EDNS version 1 is BADVERS: header rcode 0, upper bits in the OPT (RFC 6891 §6.1.3)', () => {
  const r = replyTo(query({ additionals: [opt({ ednsVersion: 1 })] }));
  assert.equal(r.code, 'DNS_UNSUPPORTED');
  assert.equal(r.reply?.rcode, 'NOERROR');
  const o = r.reply?.additionals?.find((a): a is OptAnswer => a.type === 'OPT');
  assert.equal(o?.extendedRcode, 1);
  assert.equal(o?.ednsVersion, 0);
});

void test('respond: id and question echoed, RD and CD copied, RA set, AA as asked, OPT only when asked', () => {
  const read = (b: Buffer) => {
    const r = readQuery(b);
    assert.ok(r.ok);
    return r.query.packet;
  };
  const wire = (p: Packet) => dnsPacket.decode(dnsPacket.encode(p)) as Decoded;
  const plain = wire(respond(read(query()), RCODE.NXDOMAIN));
  assert.equal(plain.id, 4242);
  assert.equal(plain.rcode, 'NXDOMAIN');
  assert.deepEqual(plain.questions, [
    { name: 'httpbin.default.svc.cluster.local', type: 'A', class: 'IN' },
  ]);
  assert.equal(plain.flag_rd, true);
  assert.equal(plain.flag_ra, true);
  assert.equal(plain.flag_aa, false);
  assert.equal(plain.flag_cd, false);
  assert.equal(plain.additionals?.length, 0, 'no OPT for a query without one');

  const noRd = wire(
    respond(read(query({ flags: dnsPacket.CHECKING_DISABLED })), 0, { authoritative: true }),
  );
  assert.equal(noRd.flag_rd, false);
  assert.equal(noRd.flag_cd, true);
  assert.equal(noRd.flag_aa, true);

  const edns = wire(respond(read(query({ additionals: [opt()] })), 0));
  const o = edns.additionals?.find((a): a is OptAnswer => a.type === 'OPT');
  assert.equal(o?.udpPayloadSize, 1232);
  assert.equal(o?.ednsVersion, 0);
});

const many = (n: number): Answer[] =>
  Array.from({ length: n }, (_, i) => ({
    type: 'A' as const,
    name: 'httpbin.default.svc.cluster.local',
    ttl: 5,
    data: `10.0.${i >> 8}.${i & 255}`,
  }));

void test('encodeResponse: over the UDP limit is truncated (TC, no records); EDNS raises it; TCP is whole', () => {
  const q = readQuery(query());
  assert.ok(q.ok);
  const big = respond(q.query.packet, 0, { answers: many(40) }); // ~ 690 bytes
  const udp = dnsPacket.decode(encodeResponse(q.query.packet, big, 'udp'));
  assert.equal(udp.flag_tc, true);
  assert.equal(udp.answers?.length, 0);
  assert.equal(udp.questions?.length, 1);
  assert.equal(dnsPacket.decode(encodeResponse(q.query.packet, big, 'tcp')).answers?.length, 40);

  const qe = readQuery(query({ additionals: [opt({ udpPayloadSize: 4096 })] }));
  assert.ok(qe.ok);
  const bigE = respond(qe.query.packet, 0, { answers: many(40) });
  const withEdns = dnsPacket.decode(encodeResponse(qe.query.packet, bigE, 'udp'));
  assert.equal(withEdns.flag_tc, false);
  assert.equal(withEdns.answers?.length, 40);
  const truncE = dnsPacket.decode(
    encodeResponse(qe.query.packet, respond(qe.query.packet, 0, { answers: many(300) }), 'udp'),
  );
  assert.equal(truncE.flag_tc, true);
  assert.equal(truncE.additionals?.[0]?.type, 'OPT', 'a truncated answer keeps its OPT');
});

const client: DnsClient = { address: '127.0.0.1', port: 5353, transport: 'udp' };

void test('exchange: answers, passes raw bytes through, SERVFAILs a throwing answerer, counts the bad', async () => {
  const lines: string[] = [];
  const bad = new BadMessages(createLogger('test', (l) => lines.push(l)));
  const ok: DnsAnswerer = (q) => respond(q.packet, RCODE.NOERROR, { answers: many(1) });
  const a = dnsPacket.decode((await exchange(query(), client, ok, bad))!);
  assert.equal(a.answers?.length, 1);

  const raw = Buffer.from('upstream bytes');
  assert.equal(await exchange(query(), client, () => Promise.resolve(raw), bad), raw);

  const boom: DnsAnswerer = () => {
    throw new Error('index not ready');
  };
  const sf = dnsPacket.decode((await exchange(query(), client, boom, bad))!) as Decoded;
  assert.equal(sf.rcode, 'SERVFAIL');
  assert.equal(sf.id, 4242);

  assert.equal(await exchange(Buffer.alloc(3), client, ok, bad), undefined);
  const fe = dnsPacket.decode(
    (await exchange(Buffer.from('not a dns packet'), client, ok, bad))!,
  ) as Decoded;
  assert.equal(fe.rcode, 'FORMERR');
  // An answer that cannot be encoded (an SRV record without its target) is dropped, not thrown.
  const unencodable: DnsAnswerer = (q) =>
    respond(q.packet, 0, { answers: [{ type: 'SRV', name: 'a.local', data: {} as never }] });
  assert.equal(await exchange(query(), client, unencodable, bad), undefined);

  assert.equal(bad.count, 4);
  assert.equal(lines.length, 4);
  assert.match(
    lines[0]!,
    /bad DNS message .*error="Error: index not ready"|error="index not ready"/,
  );
  assert.match(lines[1]!, /DNS_MALFORMED/);
});
