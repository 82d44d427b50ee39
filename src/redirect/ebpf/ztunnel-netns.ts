/**
 * The ztunnel pod's side of the eBPF backend (Istio: only rule 20000 and table 100 there):
 * packets ztunnel_tproxy assigned to a socket carry mark 0x400, and rule 20000 sends them to
 * table 100's `local default dev lo` so the stack delivers them locally (to that socket)
 * instead of forwarding them to their original destination. rp_filter off, as Istio does.
 */
import { routeFlush, routeReplace, ruleDeleteAll, ruleEnsure, sysctlSet } from '../../sys/ip.js';
import { devWithAddress, tcDetach } from '../../sys/tc.js';
import { TPROXY_MARK, TPROXY_RULE_PRIORITY, TPROXY_TABLE } from './maps.js';

export async function setupZtunnelNetns(zns: string, eth0: string): Promise<void> {
  await sysctlSet(zns, {
    'net.ipv4.conf.all.rp_filter': '0',
    'net.ipv4.conf.default.rp_filter': '0',
    [`net.ipv4.conf.${eth0}.rp_filter`]: '0',
  });
  await ruleEnsure(
    zns,
    TPROXY_RULE_PRIORITY,
    ['fwmark', TPROXY_MARK, 'lookup', String(TPROXY_TABLE)],
    `${TPROXY_RULE_PRIORITY}:\tfrom all fwmark ${TPROXY_MARK} lookup ${TPROXY_TABLE}`,
  );
  await routeReplace(zns, TPROXY_TABLE, ['local', '0.0.0.0/0', 'dev', 'lo']);
}

export async function cleanupZtunnelNetns(zns: string, zIp: string): Promise<void> {
  const eth0 = await devWithAddress(zns, zIp);
  if (eth0) await tcDetach(zns, eth0);
  await ruleDeleteAll(zns, TPROXY_RULE_PRIORITY);
  await routeFlush(zns, TPROXY_TABLE);
}
