/**
 * The tunnel pair between the node and the ztunnel pod (istioin/istioout on the node,
 * pistioin/pistioout in the ztunnel netns) and the policy routing beside it: both halves of
 * the iptables backend set them up and tear them down the same way, each on its own side.
 */
import {
  addrReplace,
  linkDelete,
  linkUp,
  routeDelete,
  routeFlush,
  routeReplace,
  routeShow,
  ruleDeleteAll,
} from '../../sys/ip.js';
import { tunnelEnsure, type TunnelKind } from '../../sys/tunnel.js';
import { InboundTun, OutboundTun, RouteTable, TUN_PREFIX } from '../constants.js';

type Ns = string | undefined;

export interface NodeTunnels {
  kind: TunnelKind;
  port: number;
}

/** Which end of the pair a netns holds. */
export type TunnelSide = 'host' | 'ztunnel';

const TUNNELS = [InboundTun, OutboundTun] as const;

const devOf = (t: (typeof TUNNELS)[number], side: TunnelSide) =>
  side === 'host' ? t.hostDev : t.ztunnelDev;

/** The side's two tunnel devices: their names, for sysctls. */
export const tunnelDevs = (side: TunnelSide): string[] => TUNNELS.map((t) => devOf(t, side));

/** Both tunnels of `side` to `remote` (the other side's address), addressed and up. */
export async function ensureTunnels(
  ns: Ns,
  side: TunnelSide,
  remote: string,
  tun: NodeTunnels,
): Promise<void> {
  for (const t of TUNNELS) {
    const dev = devOf(t, side);
    await tunnelEnsure(ns, { kind: tun.kind, dev, vni: t.vni, remote, port: tun.port });
    await addrReplace(ns, dev, `${side === 'host' ? t.hostIp : t.ztunnelIp}/${TUN_PREFIX}`);
    await linkUp(ns, dev);
  }
}

/** Tables 100–102 flushed, the side's ip rules (by priority) deleted, both tunnels removed. */
export async function removeTunnels(
  ns: Ns,
  side: TunnelSide,
  ipRules: readonly { priority: number }[],
): Promise<void> {
  for (const t of Object.values(RouteTable)) await routeFlush(ns, t);
  for (const r of ipRules) await ruleDeleteAll(ns, r.priority);
  for (const t of TUNNELS) await linkDelete(ns, devOf(t, side));
}

/** Route types `ip route show` prints before the destination (unicast prints none). */
const ROUTE_TYPES = new Set([
  'unicast',
  'local',
  'broadcast',
  'multicast',
  'anycast',
  'throw',
  'unreachable',
  'prohibit',
  'blackhole',
  'nat',
]);

/** The destination and type of one `ip route show` line ("blackhole 10.0.0.1" → both). */
export function parseRouteLine(line: string): { dst: string; type: string } | undefined {
  const [first, second] = line.trim().split(/\s+/);
  if (!first) return undefined;
  if (!ROUTE_TYPES.has(first)) return { dst: first, type: 'unicast' };
  return second ? { dst: second, type: first } : undefined;
}

/**
 * Fails capture closed while a rewire replaces the tunnels: each route of tables 100–102
 * becomes a blackhole for the same destination. Deleting a tunnel deletes the routes through
 * it, and a marked packet whose table is empty falls through to the main table, around
 * ztunnel: a pod's connection opened in that window went direct for life, and inbound
 * plaintext reached an enrolled pod. A blackholed SYN is retransmitted a second later, by then
 * through the new ztunnel (as a SYN to a ztunnel that is not listening yet is).
 */
export async function holdRoutes(ns: Ns): Promise<void> {
  for (const t of Object.values(RouteTable)) {
    for (const line of await routeShow(ns, t)) {
      const r = parseRouteLine(line);
      if (r && r.type !== 'blackhole') await routeReplace(ns, t, ['blackhole', r.dst]);
    }
  }
}

/**
 * After a rewire: deletes what `holdRoutes` left that the new wiring did not replace (the old
 * ztunnel's address, pods no longer enrolled), so no blackhole outlives it. `keep`: table →
 * destinations the wiring installed.
 */
export async function pruneRoutes(ns: Ns, keep: Map<number, Set<string>>): Promise<void> {
  for (const t of Object.values(RouteTable)) {
    for (const line of await routeShow(ns, t)) {
      const r = parseRouteLine(line);
      if (r && (r.type === 'blackhole' || !keep.get(t)?.has(r.dst))) {
        await routeDelete(ns, t, r.dst);
      }
    }
  }
}
