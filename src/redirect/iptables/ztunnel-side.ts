/**
 * The ztunnel pod half of the iptables backend: Istio's `CreateRulesWithinNodeProxyNS`, run
 * inside the ztunnel pod's network namespace.
 */
import { iptablesRestore, iptablesSave } from '../../sys/iptables.js';
import { routeReplace, ruleEnsure, sysctlSet } from '../../sys/ip.js';
import { InboundTun, OutboundTun } from '../constants.js';
import { renderZtunnelRestore, ztunnelIpRules, ztunnelRoutes, ztunnelRules } from './render.js';
import { ensureTunnels, removeTunnels, type NodeTunnels } from './tunnels.js';

/** Removes what a previous setup left in the ztunnel netns (Istio does this first). */
export async function cleanupZtunnel(zns: string, zIp?: string): Promise<void> {
  await removeTunnels(zns, 'ztunnel', ztunnelIpRules());
  if (zIp) {
    // Only our rules: the flush Istio does would also take a ztunnel's own rules, if any.
    const saved = await iptablesSave(zns, 'mangle');
    const mine = new Set(ztunnelRules(zIp));
    const del = saved
      .split('\n')
      .filter((l) => mine.has(l))
      .map((l) => l.replace(/^-A /, '-D '));
    if (del.length) await iptablesRestore(zns, ['*mangle', ...del, 'COMMIT', ''].join('\n'));
  }
}

/** Tunnels (remote = the node's host IP), TPROXY rules, rules 20000/20003, tables 100–102. */
export async function createZtunnelRules(
  zns: string,
  zIp: string,
  hostIp: string,
  tun: NodeTunnels,
  rewire: boolean,
): Promise<void> {
  if (rewire) await cleanupZtunnel(zns);
  await ensureTunnels(zns, 'ztunnel', hostIp, tun);
  await sysctlSet(
    zns,
    {
      'net.ipv4.conf.all.rp_filter': '0',
      'net.ipv4.conf.default.rp_filter': '0',
      'net.ipv4.conf.eth0.rp_filter': '0',
      [`net.ipv4.conf.${InboundTun.ztunnelDev}.rp_filter`]: '0',
      [`net.ipv4.conf.${OutboundTun.ztunnelDev}.rp_filter`]: '0',
    },
    { allowFail: true },
  );
  const saved = await iptablesSave(zns, 'mangle');
  const have = saved.split('\n').filter((l) => l.startsWith('-A PREROUTING '));
  if (have.join('\n') !== ztunnelRules(zIp).join('\n')) {
    await iptablesRestore(zns, renderZtunnelRestore(zIp));
  }
  for (const r of ztunnelIpRules()) await ruleEnsure(zns, r.priority, r.args, r.listing);
  for (const r of ztunnelRoutes(hostIp)) await routeReplace(zns, r.table, r.args);
}
