/** Parsing recorded `xtables-monitor --trace` output into events and per-namespace traversals. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { traceTableScript } from '../../src/sys/nftrace.js';
import { buildTraversals, markAfterRule, parseTproxy } from '../../src/trace/traversal.js';
import { parseMonitorLines, parsePacketLine } from '../../src/trace/xtmonitor.js';
import { sampleLines } from '../helpers/trace-samples.js';

void test('a PACKET line gives devices, tuple, IP id, flags and mark', () => {
  const p = parsePacketLine(
    'IN=eth0 OUT=veth1 MACSRC=a MACPROTO=0800 SRC=10.244.2.8 DST=10.96.0.105 LEN=52 TOS=0x0 TTL=63 ID=60204 DF SPORT=41234 DPORT=8000 ACK PSH MARK=0x4d3',
  );
  assert.deepEqual(p, {
    iif: 'eth0',
    oif: 'veth1',
    src: '10.244.2.8',
    dst: '10.96.0.105',
    len: 52,
    ipId: 60204,
    sport: 41234,
    dport: 8000,
    flags: ['ACK', 'PSH'],
    mark: 0x4d3,
    proto: 'tcp',
  });
});

void test('TRACE lines become events with table, chain, verdict, handle, rule and packet', () => {
  const events = parseMonitorLines(sampleLines());
  assert.ok(events.length > 40, `only ${events.length} events`);
  const mark = events.find((e) => e.rule?.includes('--match-set ztunnel-pods-ips src'));
  assert.ok(mark, 'the 0x100 capture rule is in the sample');
  assert.equal(mark.table, 'mangle');
  assert.equal(mark.chain, 'ztunnel-PREROUTING');
  assert.equal(mark.kind, 'rule');
  assert.equal(mark.verdict, 'CONTINUE');
  assert.ok(mark.handle! > 0);
  assert.match(mark.rule!, /^-A ztunnel-PREROUTING -p tcp -m set/);
  const jump = events.find((e) => e.target === 'ztunnel-PREROUTING');
  assert.equal(jump?.verdict, 'JUMP');
  assert.equal(jump?.packet?.iif, 'vethbda3de4b', 'the PACKET line belongs to the next event');
  assert.ok(events.some((e) => e.kind === 'policy' && e.verdict === 'ACCEPT'));
  const tproxy = events.find((e) => e.rule?.includes('TPROXY'));
  assert.equal(tproxy?.netns, 'tr0000-zA');
  assert.equal(tproxy?.verdict, 'ACCEPT');
});

void test('traversals: one per packet per namespace, with the marks the rules set', () => {
  const ts = buildTraversals(parseMonitorLines(sampleLines()));
  const syn = ts.filter(
    (t) => t.packet.flags.join() === 'SYN' && t.packet.sport === 41234 && t.packet.dport === 8000,
  );
  assert.deepEqual(syn.map((t) => t.netns).sort(), ['tr0000-sl', 'tr0000-w2', 'tr0000-zA']);
  const node = syn.find((t) => t.netns === 'tr0000-w2')!;
  assert.equal(node.inDev, 'vethbda3de4b');
  assert.equal(node.outDev, 'istioout');
  assert.equal(node.markRoute, 0x100, 'kernel-reported mark at the end of prerouting');
  assert.ok(node.hooks.includes('prerouting') && node.hooks.includes('forward'));
  const r = node.rules.find((x) => x.rule.includes('ztunnel-pods-ips'))!;
  assert.equal(r.markAfter, 0x100);
  assert.equal(node.warnings.length, 0, node.warnings.join('; '));
  const z = syn.find((t) => t.netns === 'tr0000-zA')!;
  assert.deepEqual(z.tproxy, { ip: '127.0.0.1', port: 15001, mark: '0x400/0xfff' });
  assert.equal(z.markRoute, 0x400);
});

void test('mark arithmetic follows the targets (xmark, TPROXY, restore-mark unknown)', () => {
  assert.equal(markAfterRule('-A c -j MARK --set-xmark 0x100/0x100', 0x40), 0x140);
  assert.equal(markAfterRule('-A c -j MARK --set-xmark 0x4d3/0xfff', 0x1000), 0x14d3);
  assert.equal(markAfterRule('-A c -j TPROXY --on-port 1 --tproxy-mark 0x400/0xfff', 0x210), 0x400);
  assert.equal(
    markAfterRule('-A c -j CONNMARK --restore-mark --nfmask 0x1 --ctmask 0x1', 0),
    undefined,
  );
  assert.equal(markAfterRule('-A c -m mark --mark 0x200/0x200 -j RETURN', 0x210), 0x210);
  assert.equal(parseTproxy('-A c -j MARK --set-xmark 1/1'), undefined);
});

void test('the trace table traces both directions of each flow, rate limited, plus the probe', () => {
  const s = traceTableScript('ambit_trace_x', [
    { proto: 'tcp', src: '10.0.0.1', sport: 4000 },
    { proto: 'tcp', src: '10.0.0.1', exceptSport: 4000 },
  ]);
  assert.match(s, /ip saddr 10\.0\.0\.1 meta l4proto tcp tcp sport 4000 limit rate/);
  assert.match(s, /ip daddr 10\.0\.0\.1 meta l4proto tcp tcp dport 4000 limit rate/);
  assert.match(s, /ip saddr 10\.0\.0\.1 meta l4proto tcp tcp sport != 4000/);
  assert.match(s, /ip daddr 10\.0\.0\.1 meta l4proto tcp tcp dport != 4000/);
  assert.match(s, /hook prerouting priority -350/);
  assert.match(s, /hook output priority -350/);
  assert.match(s, /udp dport 9 meta nftrace set 1/);
  assert.throws(() => traceTableScript('bad name;', []), /TRACE_BAD_TABLE|bad trace table/);
});
