/**
 * Which device is connected to which, across namespaces: veth peers (each end names the
 * other's ifindex), tunnel pairs by Istio's naming (`istioout` ↔ `pistioout`), and bridges
 * (a namespace holding a bridge, like the lab's underlay, joins all its ports).
 */
import type { LinkPeer, Topology } from './correlate.js';

interface Link {
  ifname: string;
  ifindex: number;
  link_index?: number;
  link_netnsid?: number;
  master?: string;
  kind?: string;
}

function toLinks(raw: unknown[]): Link[] {
  const out: Link[] = [];
  for (const r of raw) {
    if (!r || typeof r !== 'object') continue;
    const o = r as Record<string, unknown>;
    if (typeof o.ifname !== 'string' || typeof o.ifindex !== 'number') continue;
    const info = o.linkinfo as { info_kind?: string } | undefined;
    const l: Link = { ifname: o.ifname, ifindex: o.ifindex };
    if (typeof o.link_index === 'number') l.link_index = o.link_index;
    if (typeof o.link_netnsid === 'number') l.link_netnsid = o.link_netnsid;
    if (typeof o.master === 'string') l.master = o.master;
    if (info?.info_kind) l.kind = info.info_kind;
    out.push(l);
  }
  return out;
}

export interface NetnsLinks {
  /** `ip -j -d link show` output. */
  links: unknown[];
  /** `ip netns list-id`: how this namespace numbers the others. */
  nsids: Map<number, string>;
}

/** Builds the topology from each namespace's links and namespace ids. */
export function buildTopology(byNetns: Map<string, NetnsLinks>): Topology {
  const peers = new Map<string, LinkPeer>();
  const bridges = new Set<string>();
  const bridgeDevs = new Set<string>();
  const all: { netns: string; l: Link }[] = [];
  for (const [netns, { links }] of byNetns) {
    for (const l of toLinks(links)) {
      all.push({ netns, l });
      if (l.kind === 'bridge') {
        bridges.add(netns);
        bridgeDevs.add(`${netns}/${l.ifname}`);
      }
    }
  }
  for (const a of all) {
    if (a.l.kind === 'veth' && a.l.link_index !== undefined) {
      const peerNs =
        a.l.link_netnsid !== undefined
          ? byNetns.get(a.netns)?.nsids.get(a.l.link_netnsid)
          : undefined;
      const b = all.find(
        (x) =>
          x.netns !== a.netns &&
          (peerNs === undefined || x.netns === peerNs) &&
          x.l.kind === 'veth' &&
          x.l.ifindex === a.l.link_index &&
          x.l.link_index === a.l.ifindex,
      );
      if (b) peers.set(`${a.netns}/${a.l.ifname}`, { netns: b.netns, dev: b.l.ifname });
    }
    if (a.l.kind === 'vxlan' || a.l.kind === 'geneve') {
      const want = a.l.ifname.startsWith('p') ? a.l.ifname.slice(1) : `p${a.l.ifname}`;
      const b = all.find(
        (x) => x.netns !== a.netns && x.l.ifname === want && x.l.kind === a.l.kind,
      );
      if (b) peers.set(`${a.netns}/${a.l.ifname}`, { netns: b.netns, dev: b.l.ifname });
    }
  }
  return { peers, bridges, bridgeDevs };
}
