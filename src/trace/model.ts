/** The trace's data model: raw kernel events, per-namespace traversals, and the rendered path. */

/** Packet header fields the kernel attached to a trace event (first event of each base chain). */
export interface PacketInfo {
  iif?: string;
  oif?: string;
  src: string;
  dst: string;
  proto: string;
  sport?: number;
  dport?: number;
  ipId?: number;
  len?: number;
  /** TCP flags as printed: SYN, ACK, FIN, RST, PSH, URG. */
  flags: string[];
  /** skb->mark when this event was emitted (0 when the kernel left the attribute out). */
  mark: number;
}

/** One NFNLGRP_NFTRACE event, as reported by `xtables-monitor --trace`. */
export interface TraceEvent {
  /** Receipt order across all monitors of one capture. */
  seq: number;
  netns: string;
  /** The kernel's per-skb trace id (hex). */
  id: string;
  table: string;
  chain: string;
  kind: 'rule' | 'policy' | 'return';
  handle?: number;
  /** ACCEPT, DROP, CONTINUE, JUMP, GOTO, RETURN, ... */
  verdict: string;
  /** Chain a JUMP/GOTO verdict went to. */
  target?: string;
  /** The rule in iptables syntax (`-A <chain> ...`), for rule events. */
  rule?: string;
  packet?: PacketInfo;
}

export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';

/** A rule that matched, with the packet mark after it. */
export interface MatchedRule {
  /** The netfilter hook it ran in (routing happens after prerouting/output). */
  hook?: Hook;
  table: string;
  chain: string;
  rule: string;
  verdict: string;
  markAfter: number;
  /** False when the mark after it could not be derived from the rule and the kernel's marks. */
  markKnown: boolean;
}

export interface TproxyRedirect {
  ip: string;
  port: number;
  mark: string;
}

/** One packet's pass through one network namespace. */
export interface Hop {
  /** The connection part this packet belongs to (1, 2, 3) or 0 when unclassified. */
  part: number;
  netns: string;
  /** Display name (node or pod) of the namespace. */
  name: string;
  /** Device it entered by; undefined when a local process sent it. */
  inDev?: string;
  /** Device it left by; undefined when it was delivered to a local socket. */
  outDev?: string;
  hooks: Hook[];
  rules: MatchedRule[];
  markIn: number;
  markOut: number;
  /** The ip rule that chose the table, as printed by `ip rule` (e.g. `101: from all ...`). */
  ipRule?: string;
  routeTable?: string;
  /** The kernel's route lookup result (`ip route get ...` first line). */
  route?: string;
  routeQuery?: string;
  tproxy?: TproxyRedirect;
  /** True when the kernel's route lookup delivered it locally (a `local` route). */
  delivered?: boolean;
  /** True when the packet came in on a bridge device: switched (br_netfilter), not routed. */
  bridged?: boolean;
  /** True when the packet reached an underlay bridge between the previous hop and this one. */
  viaBridge?: string;
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  flags: string[];
  ipId?: number;
  /** Seq of the first event, for --raw cross-reference. */
  firstSeq: number;
  eventSeqs: number[];
}

export type PacketKind = 'first' | 'first-reply' | 'later' | 'later-reply';

/** One packet followed across namespaces. */
export interface PacketPath {
  kind: PacketKind;
  hops: Hop[];
}

/** One TCP connection seen in the trace. */
export interface ConnectionPath {
  part: number;
  title: string;
  client: string;
  server: string;
  packets: PacketPath[];
  /** Conntrack lines (with marks) for this connection, from each namespace. */
  conntrack: { netns: string; line: string }[];
}

export interface TracePath {
  connections: ConnectionPath[];
  /** Namespaces armed and how many events each reported. */
  namespaces: { netns: string; name: string; events: number }[];
  warnings: string[];
}
