import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkMoved,
  delta,
  expected,
  iptablesPackets,
  moved,
  type CaptureSpec,
} from '../../bench/capture.js';
import { AmbitError } from '../../src/errors.js';

const nodes: CaptureSpec['nodes'] = [
  { node: 'worker2', ztunnelNetns: 'z2', side: 'client' },
  { node: 'worker', ztunnelNetns: 'z1', side: 'server' },
];
const ipt: CaptureSpec = { lab: 'b', backend: 'iptables', nodes };
const ebpf: CaptureSpec = { lab: 'b', backend: 'ebpf', nodes };

describe('bench capture check (issue 12)', () => {
  it('iptablesPackets sums the packet counters of the rules picked', () => {
    // The node's spoofed-source mark rule as iptables-save -c prints it.
    const node =
      '[42:4200] -A ztunnel-PREROUTING ! -s 10.244.1.3/32 -i veth1a2b3c4d -j MARK --set-xmark 0x210/0x210';
    assert.equal(
      iptablesPackets(node, (r) => r.startsWith('-A ztunnel-PREROUTING ! -s ')),
      42,
    );
    const saved = [
      '*mangle',
      ':PREROUTING ACCEPT [10:100]',
      '[5:300] -A PREROUTING -i pistioout -p tcp -j TPROXY --on-port 15001 --on-ip 127.0.0.1 --tproxy-mark 0x111/0xfff',
      '[7:420] -A PREROUTING -i pistioin -p tcp -m tcp --dport 15008 -j TPROXY --on-port 15008 --on-ip 127.0.0.1 --tproxy-mark 0x111/0xfff',
      '[2:100] -A PREROUTING -i pistioout -p tcp -j TPROXY --on-port 15001 --on-ip 127.0.0.1 --tproxy-mark 0x111/0xfff',
      'COMMIT',
    ].join('\n');
    assert.equal(
      iptablesPackets(saved, (r) => r.includes('--on-port 15001 ')),
      7,
    );
    assert.equal(
      iptablesPackets(saved, (r) => r.includes('--on-port 15006 ')),
      0,
    );
  });

  it('delta and moved: after − before, keys from either side, zeros left out', () => {
    const d = delta({ a: 1, b: 5 }, { a: 4, b: 5, c: 2 });
    assert.deepEqual(d, { a: 3, b: 0, c: 2 });
    assert.deepEqual(moved(d), { a: 3, c: 2 });
  });

  it('iptables: the client node marks and TPROXYs to 15001, the server marks the spoofed packets', () => {
    assert.deepEqual(expected(ipt), [
      ['worker2 iptables pod→istioout mark'],
      ['worker2 iptables TPROXY :15001'],
      ['worker iptables ztunnel→app spoofed mark'],
    ]);
    const ok = {
      'worker2 iptables pod→istioout mark': 10,
      'worker2 iptables TPROXY :15001': 10,
      'worker iptables ztunnel→app spoofed mark': 12,
    };
    checkMoved(ipt, ok, 'mesh');
    assert.throws(
      () =>
        checkMoved(
          ipt,
          // TPROXY :15008 moves only with a new HBONE connection: not a proof either way.
          {
            ...ok,
            'worker iptables ztunnel→app spoofed mark': 0,
            'worker iptables TPROXY :15008': 3,
          },
          'mesh',
        ),
      (e: unknown) =>
        e instanceof AmbitError &&
        e.code === 'BENCH_CAPTURE_UNPROVEN' &&
        /mesh: the iptables counters did not move during the run: worker iptables ztunnel→app spoofed mark \(/.test(
          e.message,
        ),
    );
  });

  it('ebpf: app_outbound/app_inbound redirect and sk_assign (or the fallback mark) per node', () => {
    const ok = {
      'worker2 ebpf app_outbound redirect': 3,
      'worker2 ebpf ztunnel_tproxy sk_assign': 3,
      'worker ebpf app_inbound redirect': 4,
      'worker ebpf ztunnel_ingress mark': 4,
    };
    checkMoved(ebpf, ok, 'mesh-ebpf');
    // The iptables counters of the same nodes do not prove an eBPF run.
    assert.throws(
      () =>
        checkMoved(
          ebpf,
          { 'worker2 iptables TPROXY :15001': 9, 'worker iptables TPROXY :15008': 9 },
          'mesh-ebpf',
        ),
      /app_outbound redirect; worker2 ebpf ztunnel_tproxy sk_assign or worker2 ebpf ztunnel_ingress mark; worker ebpf app_inbound redirect/,
    );
  });
});
