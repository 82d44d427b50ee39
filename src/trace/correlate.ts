/**
 * From traversals to the path: which TCP connection each packet belongs to, which part of the
 * journey that connection is (1: client → its ztunnel, 2: HBONE between ztunnels, 3: ztunnel →
 * server), which packets to show (first packet, first reply, a later packet each way), and the
 * order of the namespaces each packet crossed, following device links (veth peers, tunnel
 * pairs, bridges) rather than arrival time, since monitors of different namespaces race.
 */
import type { ConnectionPath, Hop, PacketKind, PacketPath } from './model.js';
import type { Traversal } from './traversal.js';
import { HBONE_PORT } from '../api/ports.js';

export interface LinkPeer {
  netns: string;
  dev: string;
}

/** Topology: `${netns}/${dev}` → its peer; namespaces that bridge their ports (the underlay). */
export interface Topology {
  peers: Map<string, LinkPeer>;
  bridges: Set<string>;
  /** `${netns}/${dev}` of bridge devices: a packet in on one is switched, not routed. */
  bridgeDevs?: Set<string>;
}

export interface CorrelateOptions {
  clientIp?: string;
  clientPort?: number;
  hbonePort?: number;
  names?: Map<string, string>;
  topology?: Topology;
}

interface Endpoint {
  ip: string;
  port: number;
}

const key = (e: Endpoint) => `${e.ip}:${e.port}`;

function isSyn(t: Traversal): boolean {
  return t.packet.flags.includes('SYN') && !t.packet.flags.includes('ACK');
}
function isSynAck(t: Traversal): boolean {
  return t.packet.flags.includes('SYN') && t.packet.flags.includes('ACK');
}

interface Conn {
  client: Endpoint;
  server: Endpoint;
  up: Traversal[];
  down: Traversal[];
}

function ends(t: Traversal): [Endpoint, Endpoint] {
  return [
    { ip: t.packet.src, port: t.packet.sport ?? 0 },
    { ip: t.packet.dst, port: t.packet.dport ?? 0 },
  ];
}

function groupConnections(ts: readonly Traversal[], hbonePort: number): Conn[] {
  const clients = new Map<string, Endpoint>();
  // The server as the client addressed it: from the SYN where it was sent (before any DNAT).
  for (const t of ts) {
    if (!isSyn(t)) continue;
    const k = key(ends(t)[0]);
    if (local(t) || !clients.has(k)) clients.set(k, ends(t)[1]);
  }
  const conns = new Map<string, Conn>();
  for (const t of ts) {
    if (t.packet.proto !== 'tcp') continue;
    const [a, b] = ends(t);
    let up: boolean;
    if (clients.has(key(a))) up = true;
    else if (clients.has(key(b))) up = false;
    else if (b.port === hbonePort) up = true;
    else if (a.port === hbonePort) up = false;
    else up = a.port > b.port;
    const client = up ? a : b;
    const server = up ? b : a;
    let c = conns.get(key(client));
    if (!c) {
      c = { client, server: clients.get(key(client)) ?? server, up: [], down: [] };
      conns.set(key(client), c);
    }
    (up ? c.up : c.down).push(t);
  }
  return [...conns.values()];
}

function partOf(c: Conn, o: CorrelateOptions, hbonePort: number): number {
  if (c.server.port === hbonePort) return 2;
  if (o.clientIp && c.client.ip === o.clientIp) {
    if (o.clientPort === undefined || c.client.port === o.clientPort) return 1;
    return 3;
  }
  return 0;
}

function local(t: Traversal): boolean {
  return t.hooks.includes('output') && !t.hooks.includes('prerouting');
}

function firstSeq(t: Traversal): number {
  return t.events[0]?.seq ?? 0;
}

/** The traversals (one per namespace) of one packet of `kind`, led by its origin. */
function selectPacket(list: readonly Traversal[], pred: (t: Traversal) => boolean): Traversal[] {
  const cands = list.filter(pred).sort((a, b) => firstSeq(a) - firstSeq(b));
  const lead = cands.find(local) ?? cands[0];
  if (!lead) return [];
  const picked = new Map<string, Traversal>([[lead.netns, lead]]);
  const id = lead.packet.ipId;
  for (const t of cands) {
    if (picked.has(t.netns)) continue;
    if (id && t.packet.ipId !== undefined && t.packet.ipId !== id) continue;
    picked.set(t.netns, t);
  }
  // With a zero IP id (SYN-ACKs), fall back to the first such packet per namespace.
  if (!id) for (const t of cands) if (!picked.has(t.netns)) picked.set(t.netns, t);
  return [...picked.values()];
}

/** Orders one packet's traversals along device links, starting at its origin. */
export function orderHops(
  ts: readonly Traversal[],
  topo?: Topology,
): { t: Traversal; viaBridge?: string }[] {
  const rest = [...ts].sort((a, b) => firstSeq(a) - firstSeq(b));
  const out: { t: Traversal; viaBridge?: string }[] = [];
  const peerNs = (t: Traversal) =>
    t.inDev ? topo?.peers.get(`${t.netns}/${t.inDev}`)?.netns : undefined;
  const nextOf = (cur: Traversal): { t: Traversal; viaBridge?: string } | undefined => {
    const peer = cur.outDev ? topo?.peers.get(`${cur.netns}/${cur.outDev}`) : undefined;
    if (peer) {
      const exact = rest.find((t) => t.netns === peer.netns && t.inDev === peer.dev);
      if (exact) return { t: exact };
      const same = rest.find((t) => t.netns === peer.netns);
      if (same) return { t: same };
      if (topo?.bridges.has(peer.netns)) {
        const b = rest.find((t) => peerNs(t) === peer.netns);
        if (b) return { t: b, viaBridge: peer.netns };
      }
    }
    if (topo?.bridges.has(cur.netns)) {
      const b = rest.find((t) => peerNs(t) === cur.netns);
      if (b) return { t: b };
    }
    if (cur.outDev) {
      const any = rest.find((t) => !local(t));
      if (any) return { t: any };
    }
    return undefined;
  };
  let step: { t: Traversal; viaBridge?: string } | undefined;
  const origin = rest.find(local) ?? rest[0];
  if (origin) step = { t: origin };
  while (step) {
    rest.splice(rest.indexOf(step.t), 1);
    out.push(step);
    step = nextOf(step.t);
    // Whatever is not linked (no topology, retransmits) still shows, in arrival order.
    if (!step && rest[0]) step = { t: rest[0] };
  }
  return out;
}

function toHop(
  t: Traversal,
  part: number,
  names: Map<string, string> | undefined,
  topo?: Topology,
): Hop {
  const h: Hop = {
    part,
    netns: t.netns,
    name: names?.get(t.netns) ?? t.netns,
    hooks: t.hooks,
    rules: t.rules,
    markIn: t.markIn,
    markOut: t.markOut,
    src: t.packet.src,
    dst: t.packet.dst,
    flags: t.packet.flags,
    firstSeq: firstSeq(t),
    eventSeqs: t.events.map((e) => e.seq),
  };
  if (t.inDev) h.inDev = t.inDev;
  if (t.outDev) h.outDev = t.outDev;
  if (t.packet.sport !== undefined) h.sport = t.packet.sport;
  if (t.packet.dport !== undefined) h.dport = t.packet.dport;
  if (t.packet.ipId !== undefined) h.ipId = t.packet.ipId;
  if (t.tproxy) h.tproxy = t.tproxy;
  if (t.inDev && topo?.bridgeDevs?.has(`${t.netns}/${t.inDev}`)) h.bridged = true;
  return h;
}

const KINDS: { kind: PacketKind; up: boolean; pred: (t: Traversal) => boolean }[] = [
  { kind: 'first', up: true, pred: isSyn },
  { kind: 'first-reply', up: false, pred: isSynAck },
  { kind: 'later', up: true, pred: (t) => !t.packet.flags.includes('SYN') },
  { kind: 'later-reply', up: false, pred: (t) => !t.packet.flags.includes('SYN') },
];

export interface Correlated {
  connections: ConnectionPath[];
  /** The traversal behind each hop, for route lookups (same order as the hops). */
  traversals: Map<Hop, Traversal>;
}

export function correlate(ts: readonly Traversal[], o: CorrelateOptions = {}): Correlated {
  const hbonePort = o.hbonePort ?? HBONE_PORT;
  const traversals = new Map<Hop, Traversal>();
  const conns = groupConnections(ts, hbonePort)
    .map((c) => ({ c, part: partOf(c, o, hbonePort) }))
    .sort((a, b) => (a.part || 9) - (b.part || 9) || firstSeq(a.c.up[0]!) - firstSeq(b.c.up[0]!));
  const connections: ConnectionPath[] = [];
  for (const { c, part } of conns) {
    const packets: PacketPath[] = [];
    for (const k of KINDS) {
      const picked = selectPacket(k.up ? c.up : c.down, k.pred);
      if (picked.length === 0) continue;
      const hops = orderHops(picked, o.topology).map(({ t, viaBridge }) => {
        const h = toHop(t, part, o.names, o.topology);
        if (viaBridge) h.viaBridge = o.names?.get(viaBridge) ?? viaBridge;
        traversals.set(h, t);
        return h;
      });
      packets.push({ kind: k.kind, hops });
    }
    if (packets.length === 0) continue;
    const first = packets[0]!.hops;
    const from = first[0]?.name ?? '?';
    const to = first[first.length - 1]?.name ?? '?';
    connections.push({
      part,
      title: part ? `Part ${part} — ${from} → ${to}` : `Other connection — ${from} → ${to}`,
      client: key(c.client),
      server: key(c.server),
      packets,
      conntrack: [],
    });
  }
  return { connections, traversals };
}

/** Orders each packet's hops again, once route lookups filled in devices no chain reported. */
export function reorder(c: Correlated, topo?: Topology, names?: Map<string, string>): void {
  for (const conn of c.connections) {
    for (const p of conn.packets) {
      const byT = new Map<Traversal, Hop>();
      for (const h of p.hops) {
        const t = c.traversals.get(h);
        if (t) byT.set(t, h);
      }
      if (byT.size !== p.hops.length) continue;
      p.hops = orderHops([...byT.keys()], topo).map(({ t, viaBridge }) => {
        const h = byT.get(t)!;
        if (viaBridge) h.viaBridge = names?.get(viaBridge) ?? viaBridge;
        else delete h.viaBridge;
        return h;
      });
    }
  }
}
