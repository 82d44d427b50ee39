import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  appInfoValue,
  decodeAppInfo,
  decodeCounters,
  decodeFlowKey,
  decodeZtunnelInfo,
  flowKey,
  ipBytes,
  ipString,
  progByKernelName,
  u32,
  ztunnelInfoValue,
} from '../../src/redirect/ebpf/maps.js';
import { parseSsTcp } from '../../src/sys/netns-probe.js';

void test('app_info: ifindex little-endian, then the pod MAC, 12 bytes as struct app_info', () => {
  const v = appInfoValue(7, '7e:cd:91:55:ca:f9');
  assert.deepEqual([...v], [7, 0, 0, 0, 0x7e, 0xcd, 0x91, 0x55, 0xca, 0xf9, 0, 0]);
  assert.deepEqual(decodeAppInfo(v), { ifindex: 7, mac: '7e:cd:91:55:ca:f9' });
  assert.deepEqual([...appInfoValue(1, undefined).subarray(4, 10)], [0, 0, 0, 0, 0, 0]);
});

void test('ztunnel_info: ifindex, MAC, flag byte, pad, IPv4 in network order (16 bytes)', () => {
  const z = { ifindex: 260, mac: 'f6:43:56:2a:6d:ff', flag: 3, ip: '10.244.2.3' };
  const v = ztunnelInfoValue(z);
  assert.equal(v.length, 16);
  assert.deepEqual([...v.subarray(0, 4)], [4, 1, 0, 0]);
  assert.deepEqual([...v.subarray(12)], [10, 244, 2, 3]);
  assert.deepEqual(decodeZtunnelInfo(v), z);
});

void test('addresses: network order keys; bad input is refused with the value', () => {
  assert.deepEqual([...ipBytes('10.244.2.8')], [10, 244, 2, 8]);
  assert.equal(ipString(ipBytes('172.18.0.3')), '172.18.0.3');
  assert.throws(() => ipBytes('10.244.2'), /10\.244\.2/);
  assert.throws(() => ipBytes('10.244.2.256'), /256/);
  assert.throws(() => appInfoValue(1, 'zz:00'), /zz:00/);
});

void test('counters: per-CPU values summed, keyed program × verdict; kernel names map back', () => {
  const cpu = (n: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
    return b;
  };
  // key = prog × 6 verdicts + verdict: 1 = app_outbound redirect, 3*6+3 = ztunnel_tproxy
  // sk_assign, 4*6+5 = ztunnel_ingress mark (the fallback); zero counts are left out
  const got = decodeCounters([
    { key: u32(1), values: [cpu(2), cpu(3)] },
    { key: u32(21), values: [cpu(4)] },
    { key: u32(29), values: [cpu(7)] },
    { key: u32(0), values: [cpu(0)] },
  ]);
  assert.deepEqual(
    [...got],
    [
      ['app_outbound redirect', 5],
      ['ztunnel_tproxy sk_assign', 4],
      ['ztunnel_ingress mark', 7],
    ],
  );
  assert.equal(progByKernelName('ztunnel_ingress'), 'ztunnel_ingress');
  assert.equal(progByKernelName('ztunnel_host_in'), 'ztunnel_host_ingress');
  assert.equal(progByKernelName('app_outbound'), 'app_outbound');
  assert.equal(progByKernelName('other'), undefined);
});

void test('precapture: struct flow_key is pod IP, peer IP, pod port, peer port, all network order', () => {
  const f = { podIp: '10.244.1.4', podPort: 9080, peerIp: '10.244.2.7', peerPort: 43210 };
  const k = flowKey(f);
  assert.deepEqual([...k], [10, 244, 1, 4, 10, 244, 2, 7, 0x23, 0x78, 0xa8, 0xca]);
  assert.deepEqual(decodeFlowKey(k), f);
});

void test('open connections: ss lines with IPv4 and IPv4-mapped sockets; IPv6 proper is left out', () => {
  const text = [
    'ESTAB     0 0 10.244.1.4:9080 10.244.2.7:43210',
    'SYN-SENT  0 1 10.244.1.4:50000 10.96.0.10:80',
    'ESTAB     0 0 [::ffff:10.244.1.4]:9000 [::ffff:10.244.0.3]:40000',
    'ESTAB     0 0 [fd00::4]:80 [fd00::9]:5000',
    '',
  ].join('\n');
  assert.deepEqual(parseSsTcp(text), [
    { local: { ip: '10.244.1.4', port: 9080 }, peer: { ip: '10.244.2.7', port: 43210 } },
    { local: { ip: '10.244.1.4', port: 50000 }, peer: { ip: '10.96.0.10', port: 80 } },
    { local: { ip: '10.244.1.4', port: 9000 }, peer: { ip: '10.244.0.3', port: 40000 } },
  ]);
});
