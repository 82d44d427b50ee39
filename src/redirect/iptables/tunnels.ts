/**
 * The tunnel pair between the node and the ztunnel pod (istioin/istioout on the node,
 * pistioin/pistioout in the ztunnel netns) and the policy routing beside it: both halves of
 * the iptables backend set them up and tear them down the same way, each on its own side.
 */
import { addrReplace, linkDelete, linkUp, routeFlush, ruleDeleteAll } from '../../sys/ip.js';
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
