/**
 * The capture conformance suite, eBPF half: the four programs attached where Istio attaches
 * them (pod host veth ingress/egress, ztunnel host veth ingress, ztunnel eth0 ingress), the
 * maps' contents (app_info, ztunnel_info, host_ip_info), the per-program counters moving for
 * one connection, rule 20000 / table 100 in the ztunnel netns, and no pin left after uninstall.
 * In the mark+TPROXY fallback (`mode` mark) ztunnel's eth0 runs ztunnel_ingress, and the
 * ztunnel netns holds the TPROXY chain and the blackhole rules 20001/20002 instead.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  decodeAppInfo,
  decodeCounters,
  decodeZtunnelInfo,
  ipString,
  progByKernelName,
  ztunnelProg,
  type TproxyMode,
} from '../../src/redirect/ebpf/maps.js';
import { MARK_CHAIN, markTproxyRules } from '../../src/redirect/ebpf/ztunnel-netns.js';
import { bpfMapDump } from '../../src/sys/bpf.js';
import { run } from '../../src/sys/exec.js';
import { linkInfo, tcFilters } from '../../src/sys/tc.js';
import type { CaptureContext } from './redirect-behaviour.js';
import { curlFrom } from './redirect-probe.js';
import type { TopoNode } from './redirect-topology.js';

/** /sys/fs/bpf/ambit-<lab>/<node>: the fixture's and the lab's netns are `<lab>-<node>`. */
export function pinDirOf(node: TopoNode): string {
  const lab = node.netns.slice(0, -(node.name.length + 1));
  return join('/sys/fs/bpf', `ambit-${lab}`, node.name);
}

const filters = async (netns: string, dev: string) =>
  (await tcFilters(netns, dev))
    .map((f) => `${f.hook} ${progByKernelName(f.name) ?? f.name}`)
    .sort();

const mangle = async (netns: string) =>
  (await run('iptables-save', ['-t', 'mangle'], { netns })).stdout.split('\n');

/** The fallback's rules in a ztunnel netns: all of them, or (after cleanup) none. */
async function assertMarkRules(netns: string, present: boolean): Promise<void> {
  const saved = await mangle(netns);
  const rules = (await run('ip', ['rule'], { netns })).stdout;
  if (present) {
    for (const r of [`-A PREROUTING -j ${MARK_CHAIN}`, ...markTproxyRules()])
      assert.ok(saved.includes(r), `missing: ${r}\n${saved.join('\n')}`);
    assert.match(rules, /^20001:\tfrom all fwmark 0x223d blackhole$/m);
    assert.match(rules, /^20002:\tfrom all fwmark 0x162e blackhole$/m);
  } else {
    assert.ok(!saved.some((l) => l.includes(MARK_CHAIN)), saved.join('\n'));
    assert.doesNotMatch(rules, /^2000[12]:/m);
  }
}

export const ebpfListings =
  (mode: TproxyMode) =>
  (ctx: () => CaptureContext): void =>
    ebpfListingsOf(mode, ctx);

function ebpfListingsOf(mode: TproxyMode, ctx: () => CaptureContext): void {
  const opts = { timeout: 60_000 };
  const zprog = ztunnelProg(mode);
  const counters = async (node: TopoNode) =>
    decodeCounters(await bpfMapDump(join(pinDirOf(node), 'maps', 'counters')));

  void test('ebpf: the four programs sit on the devices Istio uses', opts, async () => {
    const { t } = ctx();
    assert.deepEqual(await filters(t.worker2.netns, t.sleep.hostVeth), [
      'egress app_inbound',
      'ingress app_outbound',
    ]);
    assert.deepEqual(await filters(t.worker2.netns, t.ztunnelA.hostVeth), [
      'ingress ztunnel_host_ingress',
    ]);
    assert.deepEqual(await filters(t.ztunnelA.netns, 'eth0'), [`ingress ${zprog}`]);
    assert.deepEqual(await filters(t.worker2.netns, t.other.hostVeth), [], 'unenrolled: none');
    const rules = (await run('ip', ['rule'], { netns: t.ztunnelA.netns })).stdout;
    assert.match(rules, /^20000:\tfrom all fwmark 0x400\/0xfff lookup 100$/m);
    const table = (await run('ip', ['route', 'show', 'table', '100'], { netns: t.ztunnelA.netns }))
      .stdout;
    assert.match(table, /^local default dev lo/m);
    for (const d of ['progs/app_outbound', `progs/${zprog}`, 'maps/app_info']) {
      assert.ok(existsSync(join(pinDirOf(t.worker2), d)), `pinned: ${d}`);
    }
    await assertMarkRules(t.ztunnelA.netns, mode === 'mark');
    // The object of one mode only: the other eth0 program is not even loaded.
    const other = zprog === 'ztunnel_tproxy' ? 'ztunnel_ingress' : 'ztunnel_tproxy';
    assert.ok(!existsSync(join(pinDirOf(t.worker2), 'progs', other)), `not pinned: ${other}`);
  });

  void test(
    'ebpf: app_info, ztunnel_info and host_ip_info hold the node’s pods and ztunnel',
    opts,
    async () => {
      const { t } = ctx();
      const maps = join(pinDirOf(t.worker2), 'maps');
      const apps = (await bpfMapDump(join(maps, 'app_info'))).map((e) => ({
        ip: ipString(e.key),
        ...decodeAppInfo(e.values[0]!),
      }));
      const veth = await linkInfo(t.worker2.netns, t.sleep.hostVeth);
      const eth0 = await linkInfo(t.sleep.netns, 'eth0');
      assert.deepEqual(apps, [{ ip: t.sleep.ip, ifindex: veth!.ifindex, mac: eth0!.mac }]);
      const [z] = await bpfMapDump(join(maps, 'ztunnel_info'));
      const zveth = await linkInfo(t.worker2.netns, t.ztunnelA.hostVeth);
      const zeth0 = await linkInfo(t.ztunnelA.netns, 'eth0');
      assert.deepEqual(decodeZtunnelInfo(z!.values[0]!), {
        ifindex: zveth!.ifindex,
        mac: zeth0!.mac,
        flag: 0,
        ip: t.ztunnelA.ip,
      });
      const [h] = await bpfMapDump(join(maps, 'host_ip_info'));
      assert.equal(ipString(h!.values[0]!), t.worker2.hostIp);
    },
  );

  void test(
    `ebpf: one connection moves app_outbound → redirect, ${zprog} → ${mode === 'mark' ? 'mark' : 'sk_assign'}, ztunnel_host_ingress → redirect`,
    opts,
    async () => {
      const { t } = ctx();
      const b = await counters(t.worker2);
      assert.equal((await curlFrom(t.sleep.netns, ctx().url()))?.label, 'ztunnel-a');
      const a = await counters(t.worker2);
      const delta = (k: string) => (a.get(k) ?? 0) - (b.get(k) ?? 0);
      assert.ok(delta('app_outbound redirect') >= 3, 'SYN, ACK, request, FIN … to ztunnel');
      if (mode === 'mark') assert.ok(delta('ztunnel_ingress mark') >= 3, 'each marked for TPROXY');
      else assert.ok(delta('ztunnel_tproxy sk_assign') >= 3, 'each assigned to the 15001 socket');
      assert.ok(delta('ztunnel_host_ingress redirect') >= 2, 'replies straight to the pod veth');
      assert.equal(delta('app_outbound drop') + delta(`${zprog} drop`), 0);
    },
  );
}

export function ebpfAfterRewire(ctx: () => CaptureContext): void {
  void test(
    'ebpf: the rewire moved the ztunnel programs, pods kept theirs',
    { timeout: 60_000 },
    async () => {
      const { t } = ctx();
      assert.deepEqual(await filters(t.worker2.netns, t.ztunnelA.hostVeth), []);
      assert.deepEqual(await filters(t.ztunnelA.netns, 'eth0'), []);
      const rules = (await run('ip', ['rule'], { netns: t.ztunnelA.netns })).stdout;
      assert.doesNotMatch(rules, /^20000:/m, 'the old ztunnel netns was cleaned');
      await assertMarkRules(t.ztunnelA.netns, false);
      assert.deepEqual(await filters(t.worker2.netns, t.sleep.hostVeth), [
        'egress app_inbound',
        'ingress app_outbound',
      ]);
    },
  );
}

export function ebpfAfterUninstall(ctx: () => CaptureContext): void {
  void test(
    'ebpf: uninstall leaves no pinned program or map, no rule in ztunnel',
    { timeout: 60_000 },
    async () => {
      const { t } = ctx();
      assert.ok(!existsSync(pinDirOf(t.worker2)), pinDirOf(t.worker2));
      assert.ok(!existsSync(pinDirOf(t.worker)), pinDirOf(t.worker));
      assert.ok(!existsSync(join(pinDirOf(t.worker), '..')), 'the lab directory too');
      // ztunnel B's netns (A's was checked after the rewire) holds nothing of ours.
      await assertMarkRules(t.ztunnelB.netns, false);
      const rules = (await run('ip', ['rule'], { netns: t.ztunnelB.netns })).stdout;
      assert.doesNotMatch(rules, /^20000:/m);
    },
  );
}
