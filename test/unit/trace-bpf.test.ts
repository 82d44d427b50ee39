import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeEvent, type BpfEvent } from '../../src/redirect/ebpf/maps.js';
import { bpfConnections, renderBpfConnections } from '../../src/trace/bpf-path.js';
import type { ResolvedBpfEvent } from '../../src/trace/bpf-record.js';

void test('struct event: a record read from the kernel ring buffer decodes field by field', () => {
  // app_outbound dropping a SYN (no ztunnel) 10.9.0.2:47688 → 10.9.0.1:9, IP id 0xa3ef.
  const hex = 'e5d48350950a00000002060202000000000000000a0900020a090001ba480009a3ef000000000000';
  const e = decodeEvent(Buffer.from(hex, 'hex'));
  assert.ok(e);
  assert.equal(e.ts, 0x0a955083d4e5n);
  assert.equal(e.prog, 'app_outbound');
  assert.equal(e.verdict, 'drop');
  assert.equal(e.proto, 6);
  assert.deepEqual(e.flags, ['SYN']);
  assert.equal(e.ifindex, 2);
  assert.equal(e.src, '10.9.0.2');
  assert.equal(e.dst, '10.9.0.1');
  assert.equal(e.sport, 0xba48);
  assert.equal(e.dport, 9);
  assert.equal(e.ipId, 0xa3ef);
  assert.equal(e.sock, undefined);
  assert.equal(e.cb, 0);
  assert.equal(decodeEvent(new Uint8Array(12)), undefined, 'short record');
  const bad = Buffer.from(hex, 'hex');
  bad[8] = 9; // no such program
  assert.equal(decodeEvent(bad), undefined);
});

let ts = 1000n;
function ev(
  prog: BpfEvent['prog'],
  verdict: BpfEvent['verdict'],
  where: string,
  dev: string,
  tuple: string,
  flags: string[],
  ipId: number,
  extra: Partial<ResolvedBpfEvent> = {},
): ResolvedBpfEvent {
  const [s, d] = tuple.split(' ');
  const [src, sport] = s!.split(':');
  const [dst, dport] = d!.split(':');
  ts += 10n;
  return {
    ts,
    prog,
    verdict,
    proto: 6,
    flags,
    ifindex: 5,
    target: 0,
    src: src!,
    dst: dst!,
    sport: Number(sport),
    dport: Number(dport),
    ipId,
    cb: 0,
    node: where.replace(/^ztunnel-/, ''),
    where,
    dev,
    ...extra,
  };
}

void test('events → the three connections, packets matched by IP id, hops in clock order', () => {
  const c1 = '10.244.2.8:41000 10.96.0.105:8000';
  const r1 = '10.96.0.105:8000 10.244.2.8:41000';
  const hb = '10.244.2.3:50000 10.244.1.7:15008';
  const c3 = '10.244.2.8:52000 10.244.1.7:80';
  const redirZ = { targetDev: 'vethz', targetName: 'ztunnel-worker2', target: 7 };
  const events = [
    ev('app_outbound', 'pass', 'worker2', 'veth1', '10.244.2.8:5353 10.244.2.1:53', [], 1),
    ev('app_outbound', 'redirect', 'worker2', 'veth1', c1, ['SYN'], 11, redirZ),
    ev('ztunnel_tproxy', 'sk_assign', 'ztunnel-worker2', 'eth0', c1, ['SYN'], 11, {
      target: 15001,
      sock: 'listener',
      cb: 4321,
    }),
    ev('ztunnel_host_ingress', 'redirect', 'worker2', 'vethz', r1, ['SYN', 'ACK'], 0, {
      targetDev: 'veth1',
      targetName: 'sleep',
    }),
    ev('app_inbound', 'pass', 'worker2', 'veth1', r1, ['SYN', 'ACK'], 0, { cb: 0xc001f00d }),
    // A retransmitted SYN-ACK repeats the programs: not the same pass.
    ev('ztunnel_host_ingress', 'redirect', 'worker2', 'vethz', r1, ['SYN', 'ACK'], 0),
    ev('app_outbound', 'redirect', 'worker2', 'veth1', c1, ['ACK'], 12, redirZ),
    ev('ztunnel_host_ingress', 'pass', 'worker2', 'vethz', hb, ['SYN'], 21),
    ev('app_inbound', 'redirect', 'worker', 'vethh', hb, ['SYN'], 21, {
      targetDev: 'vethzb',
      targetName: 'ztunnel-worker',
    }),
    ev('ztunnel_tproxy', 'sk_assign', 'ztunnel-worker', 'eth0', hb, ['SYN'], 21, {
      target: 15008,
      sock: 'listener',
    }),
    ev('ztunnel_host_ingress', 'redirect', 'worker', 'vethzb', c3, ['SYN'], 31, {
      targetDev: 'vethh',
      targetName: 'httpbin',
    }),
    ev('app_outbound', 'redirect', 'worker2', 'veth1', c1, ['ACK', 'FIN'], 13, redirZ),
  ];
  // Arrival order across nodes is not clock order: the grouping sorts by nothing but ts.
  const conns = bpfConnections(events, {
    clientIp: '10.244.2.8',
    clientPort: 41000,
    hbonePort: 15008,
  });
  assert.deepEqual(
    conns.map((c) => [c.part, c.client, c.server]),
    [
      [1, '10.244.2.8:41000', '10.96.0.105:8000'],
      [2, '10.244.2.3:50000', '10.244.1.7:15008'],
      [3, '10.244.2.8:52000', '10.244.1.7:80'],
    ],
  );
  const p1 = conns[0]!;
  assert.deepEqual(
    p1.packets.map((p) => [p.kind, p.hops.map((h) => `${h.where} ${h.hook} ${h.prog}`)]),
    [
      ['first', ['worker2 ingress app_outbound', 'ztunnel-worker2 ingress ztunnel_tproxy']],
      ['first-reply', ['worker2 ingress ztunnel_host_ingress', 'worker2 egress app_inbound']],
      ['later', ['worker2 ingress app_outbound']],
    ],
  );
  const text = renderBpfConnections(conns).join('\n');
  assert.match(
    text,
    /\[worker2\] tc ingress veth1 app_outbound → redirect to vethz \(ztunnel-worker2\), cb=OUTBOUND/,
  );
  assert.match(
    text,
    /\[ztunnel-worker2\] tc ingress eth0 ztunnel_tproxy → sk_assign → 127\.0\.0\.1:15001 \(listener\), mark 0x400/,
  );
  assert.match(text, /\[worker2\] tc egress veth1 app_inbound → pass \(cb=BYPASS\)/);
  assert.match(
    text,
    /\[worker\] tc egress vethh app_inbound → redirect to vethzb \(ztunnel-worker\), cb=INBOUND/,
  );
  assert.match(
    text,
    /\[ztunnel-worker\] tc ingress eth0 ztunnel_tproxy → sk_assign → 127\.0\.0\.1:15008/,
  );
  assert.match(
    text,
    /\[worker\] tc ingress vethzb ztunnel_host_ingress → redirect to vethh \(httpbin\), cb=BYPASS/,
  );
  assert.deepEqual(renderBpfConnections([]), ['eBPF: (no events of the traced connection)']);
  // Without the client's own connection there is nothing to tell.
  assert.deepEqual(
    bpfConnections(events.slice(7, 11), {
      clientIp: '10.244.2.8',
      clientPort: 41000,
      hbonePort: 15008,
    }),
    [],
  );
});
