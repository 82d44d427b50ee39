/**
 * The ztunnel pod half of the iptables backend: Istio's `CreateRulesWithinNodeProxyNS`, run
 * inside the ztunnel pod's network namespace.
 */
import { iptablesRestore, iptablesSave } from '../../sys/iptables.js';
import {
  addrReplace,
  linkDelete,
  linkUp,
  routeFlush,
  routeReplace,
  ruleDeleteAll,
  ruleEnsure,
  sysctlSet,
} from '../../sys/ip.js';
import { tunnelEnsure } from '../../sys/tunnel.js';
import { InboundTun, OutboundTun, RouteTable, TUN_PREFIX } from '../constants.js';
import type { NodeTunnels } from './node-side.js';
import { renderZtunnelRestore, ztunnelIpRules, ztunnelRoutes, ztunnelRules } from './render.js';

/** Removes what a previous setup left in the ztunnel netns (Istio does this first). */
export async function cleanupZtunnel(zns: string, zIp?: string): Promise<void> {
  for (const t of Object.values(RouteTable)) await routeFlush(zns, t);
  for (const r of ztunnelIpRules()) await ruleDeleteAll(zns, r.priority);
  await linkDelete(zns, InboundTun.ztunnelDev);
  await linkDelete(zns, OutboundTun.ztunnelDev);
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
  for (const t of [InboundTun, OutboundTun]) {
    await tunnelEnsure(zns, {
      kind: tun.kind,
      dev: t.ztunnelDev,
      vni: t.vni,
      remote: hostIp,
      port: tun.port,
    });
    await addrReplace(zns, t.ztunnelDev, `${t.ztunnelIp}/${TUN_PREFIX}`);
    await linkUp(zns, t.ztunnelDev);
  }
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
