/**
 * The eBPF backend's map layouts (bpf/ambient_redirect.bpf.c), as pure encoders and decoders:
 * what the agent writes into `app_info`, `ztunnel_info` and `host_ip_info`, and how
 * `ambit node rules` reads them and the per-program counters back. Little-endian host order
 * for integers (x86, arm64), network order for addresses, as the programs compare them.
 */

export const ProgNames = [
  'app_outbound',
  'app_inbound',
  'ztunnel_host_ingress',
  'ztunnel_tproxy',
  'ztunnel_ingress',
] as const;
export type ProgName = (typeof ProgNames)[number];
/** The kernel keeps 15 characters of a program's name (BPF_OBJ_NAME_LEN). */
export const progByKernelName = (name: string): ProgName | undefined =>
  ProgNames.find((n) => n.slice(0, 15) === name);

export const Verdicts = ['pass', 'redirect', 'drop', 'sk_assign', 'dns', 'mark'] as const;

/**
 * How a captured packet reaches ztunnel's socket inside its pod: `sk_assign` (ztunnel_tproxy,
 * bpf_sk_assign, Linux 5.7+) or `mark` (ztunnel_ingress marks it by direction and iptables
 * TPROXY rules in the ztunnel pod assign it: the fallback, object ambient_redirect_mark.bpf.o).
 */
export const TPROXY_MODES = ['sk_assign', 'mark'] as const;
export type TproxyMode = (typeof TPROXY_MODES)[number];

/** The program on ztunnel's eth0 in each mode. */
export const ztunnelProg = (m: TproxyMode): ProgName =>
  m === 'sk_assign' ? 'ztunnel_tproxy' : 'ztunnel_ingress';

/** The programs one mode's object holds (the other eth0 program is not in it). */
export const progsOf = (m: TproxyMode): ProgName[] => [
  'app_outbound',
  'app_inbound',
  'ztunnel_host_ingress',
  ztunnelProg(m),
];

/** The mark build's marks (Istio's values): ztunnel_ingress sets them, TPROXY rules match. */
export const MarkTproxy = { outbound: 8765, inbound: 5678 } as const;

export const MapNames = [
  'app_info',
  'ztunnel_info',
  'host_ip_info',
  'dns_nat',
  'counters',
  'events',
  'trace_ctl',
  'precapture',
] as const;

/** ztunnel_info.flag bits. */
export const ZtunnelFlag = { captureDns: 1 } as const;
/** The mark ztunnel_tproxy sets on assigned packets (Istio's 0x400), routed by rule 20000. */
export const TPROXY_MARK = '0x400/0xfff';
export const TPROXY_RULE_PRIORITY = 20000;
export const TPROXY_TABLE = 100;

export function ipBytes(ip: string): Uint8Array {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) {
    throw new RangeError(`not an IPv4 address: ${ip}`);
  }
  return Uint8Array.from(parts);
}

export const ipString = (b: Uint8Array, off = 0): string =>
  [b[off], b[off + 1], b[off + 2], b[off + 3]].join('.');

export function macBytes(mac: string | undefined): Uint8Array {
  if (!mac) return new Uint8Array(6);
  const parts = mac.split(':').map((x) => parseInt(x, 16));
  if (parts.length !== 6 || parts.some((n) => Number.isNaN(n))) {
    throw new RangeError(`not a MAC address: ${mac}`);
  }
  return Uint8Array.from(parts);
}

export const macString = (b: Uint8Array, off = 0): string =>
  [...b.subarray(off, off + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');

export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

const readU32 = (b: Uint8Array, off: number): number =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);

/** `struct app_info`: host veth ifindex, pod eth0 MAC, 2 bytes pad. */
/** A connection seen from its pod's side (the `precapture` key, struct flow_key). */
export interface Flow {
  podIp: string;
  podPort: number;
  peerIp: string;
  peerPort: number;
}

/** struct flow_key: pod IP, peer IP (network order), pod port, peer port (network order). */
export function flowKey(f: Flow): Uint8Array {
  const b = new Uint8Array(12);
  b.set(ipBytes(f.podIp), 0);
  b.set(ipBytes(f.peerIp), 4);
  const v = new DataView(b.buffer);
  v.setUint16(8, f.podPort, false);
  v.setUint16(10, f.peerPort, false);
  return b;
}

export function decodeFlowKey(b: Uint8Array): Flow {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    podIp: ipString(b, 0),
    peerIp: ipString(b, 4),
    podPort: v.getUint16(8, false),
    peerPort: v.getUint16(10, false),
  };
}

export function appInfoValue(ifindex: number, mac: string | undefined): Uint8Array {
  const v = new Uint8Array(12);
  v.set(u32(ifindex), 0);
  v.set(macBytes(mac), 4);
  return v;
}

export function decodeAppInfo(v: Uint8Array): { ifindex: number; mac: string } {
  return { ifindex: readU32(v, 0), mac: macString(v, 4) };
}

export interface ZtunnelInfo {
  ifindex: number;
  mac: string;
  flag: number;
  ip: string;
}

/** `struct ztunnel_info`: ztunnel veth ifindex, eth0 MAC, flag, pad, IPv4. */
export function ztunnelInfoValue(z: ZtunnelInfo): Uint8Array {
  const v = new Uint8Array(16);
  v.set(u32(z.ifindex), 0);
  v.set(macBytes(z.mac), 4);
  v[10] = z.flag;
  v.set(ipBytes(z.ip), 12);
  return v;
}

export function decodeZtunnelInfo(v: Uint8Array): ZtunnelInfo {
  return { ifindex: readU32(v, 0), mac: macString(v, 4), flag: v[10] ?? 0, ip: ipString(v, 12) };
}

/** Per-CPU u64 counters summed; key = program index × verdicts + verdict index. */
export function decodeCounters(
  entries: { key: Uint8Array; values: Uint8Array[] }[],
): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of entries) {
    const k = readU32(e.key, 0);
    const prog = ProgNames[Math.floor(k / Verdicts.length)];
    const verdict = Verdicts[k % Verdicts.length];
    if (!prog || !verdict) continue;
    let n = 0;
    for (const v of e.values)
      n += Number(new DataView(v.buffer, v.byteOffset).getBigUint64(0, true));
    if (n > 0) out.set(`${prog} ${verdict}`, n);
  }
  return out;
}

/** skb->cb[4] values the programs set (Istio's): which way a redirected packet goes. */
export const Cb = { outbound: 4321, inbound: 1234, bypass: 0xc001f00d } as const;
export const cbName = (cb: number): string | undefined =>
  cb === Cb.outbound
    ? 'OUTBOUND'
    : cb === Cb.inbound
      ? 'INBOUND'
      : cb === Cb.bypass
        ? 'BYPASS'
        : undefined;

export type Verdict = (typeof Verdicts)[number];

/** One `struct event` from the `events` ring buffer, decoded. */
export interface BpfEvent {
  /** bpf_ktime_get_ns(): one monotonic clock for every node of the machine. */
  ts: bigint;
  prog: ProgName;
  verdict: Verdict;
  proto: number;
  /** TCP flags as the trace prints them: SYN, ACK, FIN, RST, PSH, URG. */
  flags: string[];
  /** The device the program ran on (in the node's netns, or in ztunnel's for ztunnel_tproxy). */
  ifindex: number;
  /** redirect: the target ifindex; sk_assign / dns: the port. */
  target: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  ipId: number;
  /** sk_assign: what took the packet. */
  sock?: 'listener' | 'established';
  /** skb->cb[4] when the program ran. */
  cb: number;
}

export const EVENT_SIZE = 40;
const TCP_FLAGS: [number, string][] = [
  [0x02, 'SYN'],
  [0x10, 'ACK'],
  [0x01, 'FIN'],
  [0x04, 'RST'],
  [0x08, 'PSH'],
  [0x20, 'URG'],
];

/** `struct event` (bpf/ambient_redirect.bpf.c); undefined for a record of another layout. */
export function decodeEvent(b: Uint8Array): BpfEvent | undefined {
  if (b.byteLength < EVENT_SIZE) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const prog = ProgNames[v.getUint8(8)];
  const verdict = Verdicts[v.getUint8(9)];
  if (!prog || !verdict) return undefined;
  const f = v.getUint8(11);
  const proto = v.getUint8(10);
  const sock = v.getUint8(34);
  return {
    ts: v.getBigUint64(0, true),
    prog,
    verdict,
    proto,
    flags: proto === 6 ? TCP_FLAGS.filter(([bit]) => f & bit).map(([, n]) => n) : [],
    ifindex: v.getUint32(12, true),
    target: v.getUint32(16, true),
    src: ipString(b, 20),
    dst: ipString(b, 24),
    sport: v.getUint16(28, false),
    dport: v.getUint16(30, false),
    ipId: v.getUint16(32, false),
    ...(sock === 1
      ? { sock: 'listener' as const }
      : sock === 2
        ? { sock: 'established' as const }
        : {}),
    cb: v.getUint32(36, true),
  };
}
