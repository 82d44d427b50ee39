/**
 * The eBPF programs' events of one traced request, told as seed 000 tells the path: the three
 * TCP connections (1: the client's own, by its fixed source port; 2: HBONE, port 15008; 3: the
 * other connections from the client's address, ztunnel's spoofed one to the server), and in
 * each the first packet, the first reply and a later packet each way, hop by hop in the kernel's
 * clock order: where the program ran, its tc hook and device, its name and its verdict.
 * Pure: the events come from bpf-record.ts.
 */
import { cbName, type ProgName } from '../redirect/ebpf/maps.js';
import type { ResolvedBpfEvent } from './bpf-record.js';
import type { PacketKind } from './model.js';

export interface BpfHop {
  where: string;
  hook: 'ingress' | 'egress';
  dev: string;
  prog: ProgName;
  /** What the program did, e.g. `redirect to veth3a38 (ztunnel-worker2), cb=OUTBOUND`. */
  action: string;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: string[];
}

export interface BpfPacket {
  kind: PacketKind;
  hops: BpfHop[];
}

export interface BpfConnection {
  part: number;
  client: string;
  server: string;
  packets: BpfPacket[];
}

export interface BpfPathOptions {
  clientIp: string;
  clientPort: number;
  hbonePort: number;
}

const HOOK: Record<ProgName, 'ingress' | 'egress'> = {
  app_outbound: 'ingress',
  app_inbound: 'egress',
  ztunnel_host_ingress: 'ingress',
  ztunnel_tproxy: 'ingress',
  ztunnel_ingress: 'ingress',
};

/** The cb a program's redirect sets (the programs' constants, Istio's). */
const SETS_CB: Partial<Record<ProgName, string>> = {
  app_outbound: 'OUTBOUND',
  app_inbound: 'INBOUND',
  ztunnel_host_ingress: 'BYPASS',
};

/** Why each program passes a packet it does not redirect (its code's conditions). */
const PASS_WHY: Record<ProgName, string> = {
  app_outbound: 'to the host IP, or not captured: the normal stack',
  app_inbound: "from ztunnel's veth or the host IP, or not TCP",
  ztunnel_host_ingress: 'destination is no pod of this node: the node routes it',
  ztunnel_tproxy: "to ztunnel's own address, or not captured: the normal stack",
  ztunnel_ingress: "to ztunnel's own address, or not captured: the normal stack",
};

export function describeAction(e: ResolvedBpfEvent): string {
  switch (e.verdict) {
    case 'redirect': {
      const to = `${e.targetDev ?? `ifindex ${e.target}`}${e.targetName ? ` (${e.targetName})` : ''}`;
      const cb = SETS_CB[e.prog];
      return `redirect to ${to}${cb ? `, cb=${cb}` : ''}`;
    }
    case 'sk_assign':
      return e.sock === 'established'
        ? `sk_assign → ztunnel's established socket (port ${e.target}), mark 0x400`
        : `sk_assign → 127.0.0.1:${e.target} (listener), mark 0x400`;
    case 'drop':
      return e.target ? `drop (no socket on :${e.target}: fail closed)` : 'drop (fail closed)';
    case 'dns':
      return `DNS rewrite (port ${e.target})`;
    case 'mark':
      return `mark ${e.target} for iptables TPROXY`;
    case 'pass': {
      const cb = cbName(e.cb);
      return cb ? `pass (cb=${cb})` : `pass (${PASS_WHY[e.prog]})`;
    }
  }
}

const ep = (ip: string, port: number) => `${ip}:${port}`;

interface Conn {
  key: string;
  a: string;
  b: string;
  events: ResolvedBpfEvent[];
}

function partOf(c: Conn, client: string, o: BpfPathOptions): number {
  if (c.a === client || c.b === client) return 1;
  const port = (s: string) => Number(s.slice(s.lastIndexOf(':') + 1));
  if (port(c.a) === o.hbonePort || port(c.b) === o.hbonePort) return 2;
  const ip = (s: string) => s.slice(0, s.lastIndexOf(':'));
  if (ip(c.a) === o.clientIp || ip(c.b) === o.clientIp) return 3;
  return 0;
}

/** The first packet of a kind and the same packet at every later program (by flags and IP id). */
function packetHops(
  events: ResolvedBpfEvent[],
  from: string,
  want: (e: ResolvedBpfEvent) => boolean,
): BpfHop[] {
  const dir = (e: ResolvedBpfEvent) => ep(e.src, e.sport) === from;
  const first = events.find((e) => dir(e) && want(e));
  if (!first) return [];
  const seen = new Set<string>();
  const hops: BpfHop[] = [];
  for (const e of events) {
    if (e.ts < first.ts || !dir(e) || e.ipId !== first.ipId) continue;
    if (e.flags.join() !== first.flags.join()) continue;
    // One pass per program and device: a retransmission would repeat them.
    const k = `${e.node} ${e.prog} ${e.ifindex}`;
    if (seen.has(k)) break;
    seen.add(k);
    hops.push({
      where: e.where,
      hook: HOOK[e.prog],
      dev: e.dev,
      prog: e.prog,
      action: describeAction(e),
      src: e.src,
      dst: e.dst,
      sport: e.sport,
      dport: e.dport,
      flags: e.flags,
    });
  }
  return hops;
}

/** Groups the events into the request's TCP connections (parts 1–3), in time order. */
export function bpfConnections(
  events: readonly ResolvedBpfEvent[],
  o: BpfPathOptions,
): BpfConnection[] {
  const conns = new Map<string, Conn>();
  for (const e of events) {
    if (e.proto !== 6) continue;
    const [a, b] = [ep(e.src, e.sport), ep(e.dst, e.dport)].sort();
    const key = `${a} ${b}`;
    let c = conns.get(key);
    if (!c) conns.set(key, (c = { key, a: a!, b: b!, events: [] }));
    c.events.push(e);
  }
  const client = ep(o.clientIp, o.clientPort);
  const mine = [...conns.values()].filter((c) => partOf(c, client, o) === 1);
  if (mine.length === 0) return [];
  // The request's other connections are the ones its own connection was open around.
  const t0 = mine[0]!.events[0]!.ts;
  const t1 = mine[0]!.events.at(-1)!.ts;
  const out: BpfConnection[] = [];
  for (const c of conns.values()) {
    const part = partOf(c, client, o);
    if (part === 0) continue;
    if (part !== 1 && (c.events.at(-1)!.ts < t0 || c.events[0]!.ts > t1)) continue;
    const syn = c.events.find((e) => e.flags.includes('SYN') && !e.flags.includes('ACK'));
    const from = syn
      ? ep(syn.src, syn.sport)
      : part === 1
        ? client
        : part === 2
          ? c.a.endsWith(`:${o.hbonePort}`)
            ? c.b
            : c.a
          : c.a.startsWith(`${o.clientIp}:`)
            ? c.a
            : c.b;
    const to = from === c.a ? c.b : c.a;
    const isSyn = (e: ResolvedBpfEvent) => e.flags.includes('SYN');
    const kinds: [PacketKind, string, (e: ResolvedBpfEvent) => boolean][] = [
      ['first', from, (e) => isSyn(e) && !e.flags.includes('ACK')],
      ['first-reply', to, (e) => isSyn(e) && e.flags.includes('ACK')],
      ['later', from, (e) => !isSyn(e)],
      ['later-reply', to, (e) => !isSyn(e)],
    ];
    const packets = kinds
      .map(([kind, src, want]) => ({ kind, hops: packetHops(c.events, src, want) }))
      .filter((p) => p.hops.length > 0);
    out.push({ part, client: from, server: to, packets });
  }
  return out.sort((x, y) => x.part - y.part);
}

const KIND_TITLE: Record<PacketKind, string> = {
  first: 'first packet (SYN) →',
  'first-reply': 'first reply (SYN-ACK) ←',
  later: 'later packet →',
  'later-reply': 'later reply ←',
};

export function renderBpfConnections(conns: readonly BpfConnection[]): string[] {
  if (conns.length === 0) return ['eBPF: (no events of the traced connection)'];
  const lines: string[] = [];
  for (const c of conns) {
    lines.push(`eBPF Part ${c.part}   [${c.client} → ${c.server}]`);
    for (const p of c.packets) {
      lines.push(`  ${KIND_TITLE[p.kind]}`);
      for (const h of p.hops) {
        const tuple = `${h.src}:${h.sport} → ${h.dst}:${h.dport} ${h.flags.join(',')}`;
        lines.push(`    [${h.where}] tc ${h.hook} ${h.dev} ${h.prog} → ${h.action}   (${tuple})`);
      }
    }
    lines.push('');
  }
  return lines;
}
