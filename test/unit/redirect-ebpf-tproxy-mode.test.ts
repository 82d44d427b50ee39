import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AmbitError } from '../../src/errors.js';
import { progsOf, ztunnelProg } from '../../src/redirect/ebpf/maps.js';
import {
  chooseTproxyMode,
  noTproxyError,
  parseTproxySetting,
} from '../../src/redirect/ebpf/tproxy-mode.js';
import { markTproxyRules } from '../../src/redirect/ebpf/ztunnel-netns.js';

const both = new Set(['bpf_redirect', 'bpf_sk_assign', 'bpf_skc_lookup_tcp']);
const old = new Set(['bpf_redirect', 'bpf_skc_lookup_tcp']);

test('auto picks sk_assign where tc programs may call it, else the mark fallback', () => {
  assert.equal(chooseTproxyMode('auto', both), 'sk_assign');
  assert.equal(chooseTproxyMode('auto', old), 'mark');
  // An unknown kernel (the probe failed): sk_assign is tried, the backend falls back on failure.
  assert.equal(chooseTproxyMode('auto', new Set()), 'sk_assign');
});

test('the switch forces either mode; a forced sk_assign the kernel lacks is refused by name', () => {
  assert.equal(chooseTproxyMode('mark', both), 'mark');
  assert.equal(chooseTproxyMode('sk_assign', both), 'sk_assign');
  assert.throws(
    () => chooseTproxyMode('sk_assign', old),
    (e: unknown) =>
      e instanceof AmbitError &&
      e.code === 'BPF_NO_SK_ASSIGN' &&
      e.message.includes('bpf_sk_assign') &&
      !e.message.includes('bpf_skc_lookup_tcp'),
  );
});

test('--ebpf-tproxy: the three settings; anything else is refused naming the value', () => {
  assert.equal(parseTproxySetting(undefined), 'auto');
  assert.equal(parseTproxySetting('mark'), 'mark');
  assert.throws(
    () => parseTproxySetting('tproxy'),
    (e: unknown) =>
      e instanceof AmbitError && e.code === 'REDIRECT_BAD_TPROXY' && e.message.includes('tproxy'),
  );
});

test('neither way: the error names bpf_sk_assign and the TPROXY target', () => {
  const e = noTproxyError('iptables-restore: No chain/target/match by that name');
  assert.equal(e.code, 'REDIRECT_EBPF_NO_TPROXY');
  assert.match(e.message, /bpf_sk_assign/);
  assert.match(e.message, /No chain\/target\/match/);
  assert.match(e.hint ?? '', /TPROXY/);
});

test("each mode's object holds its own eth0 program; the fallback's TPROXY rules", () => {
  assert.equal(ztunnelProg('sk_assign'), 'ztunnel_tproxy');
  assert.deepEqual(progsOf('mark'), [
    'app_outbound',
    'app_inbound',
    'ztunnel_host_ingress',
    'ztunnel_ingress',
  ]);
  // Istio's legacy marks: 5678 inbound (15008 for HBONE, else 15006), 8765 outbound (15001).
  assert.deepEqual(markTproxyRules(), [
    '-A ztunnel-EBPF-TPROXY -p tcp -m mark --mark 0x162e -m tcp --dport 15008 -j TPROXY --on-port 15008 --on-ip 127.0.0.1 --tproxy-mark 0x400/0xfff',
    '-A ztunnel-EBPF-TPROXY -p tcp -m mark --mark 0x162e -j TPROXY --on-port 15006 --on-ip 127.0.0.1 --tproxy-mark 0x400/0xfff',
    '-A ztunnel-EBPF-TPROXY -p tcp -m mark --mark 0x223d -j TPROXY --on-port 15001 --on-ip 127.0.0.1 --tproxy-mark 0x400/0xfff',
  ]);
});
