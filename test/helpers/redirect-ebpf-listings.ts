/**
 * The capture conformance suite, eBPF half: the four programs attached where Istio attaches
 * them (pod host veth ingress/egress, ztunnel host veth ingress, ztunnel eth0 ingress), the
 * maps' contents (app_info, ztunnel_info, host_ip_info), the per-program counters moving for
 * one connection, rule 20000 / table 100 in the ztunnel netns, and no pin left after uninstall.
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
} from '../../src/redirect/ebpf/maps.js';
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

export function ebpfListings(ctx: () => CaptureContext): void {
  const opts = { timeout: 60_000 };
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
    assert.deepEqual(await filters(t.ztunnelA.netns, 'eth0'), ['ingress ztunnel_tproxy']);
    assert.deepEqual(await filters(t.worker2.netns, t.other.hostVeth), [], 'unenrolled: none');
    const rules = (await run('ip', ['rule'], { netns: t.ztunnelA.netns })).stdout;
    assert.match(rules, /^20000:\tfrom all fwmark 0x400\/0xfff lookup 100$/m);
    const table = (await run('ip', ['route', 'show', 'table', '100'], { netns: t.ztunnelA.netns }))
      .stdout;
    assert.match(table, /^local default dev lo/m);
    for (const d of ['progs/app_outbound', 'progs/ztunnel_tproxy', 'maps/app_info']) {
      assert.ok(existsSync(join(pinDirOf(t.worker2), d)), `pinned: ${d}`);
    }
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
    'ebpf: one connection moves app_outbound → redirect, ztunnel_tproxy → sk_assign, ztunnel_host_ingress → redirect',
    opts,
    async () => {
      const { t } = ctx();
      const b = await counters(t.worker2);
      assert.equal((await curlFrom(t.sleep.netns, ctx().url()))?.label, 'ztunnel-a');
      const a = await counters(t.worker2);
      const delta = (k: string) => (a.get(k) ?? 0) - (b.get(k) ?? 0);
      assert.ok(delta('app_outbound redirect') >= 3, 'SYN, ACK, request, FIN … to ztunnel');
      assert.ok(delta('ztunnel_tproxy sk_assign') >= 3, 'each assigned to the 15001 socket');
      assert.ok(delta('ztunnel_host_ingress redirect') >= 2, 'replies straight to the pod veth');
      assert.equal(delta('app_outbound drop') + delta('ztunnel_tproxy drop'), 0);
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
      assert.deepEqual(await filters(t.worker2.netns, t.sleep.hostVeth), [
        'egress app_inbound',
        'ingress app_outbound',
      ]);
    },
  );
}

export function ebpfAfterUninstall(ctx: () => CaptureContext): void {
  void test('ebpf: uninstall leaves no pinned program or map', { timeout: 60_000 }, () => {
    const { t } = ctx();
    assert.ok(!existsSync(pinDirOf(t.worker2)), pinDirOf(t.worker2));
    assert.ok(!existsSync(pinDirOf(t.worker)), pinDirOf(t.worker));
    assert.ok(!existsSync(join(pinDirOf(t.worker), '..')), 'the lab directory too');
    return Promise.resolve();
  });
}
