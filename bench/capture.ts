/**
 * Proof of the capture path (issue 12): before and after each run of a mesh mode the bench reads
 * the kernel's counters of the redirection the mode is meant to use — the iptables rules'
 * packet counters (`iptables-save -c`) on `mesh` (and `mesh-baseline`), the eBPF programs'
 * per-verdict counters (the pinned `counters` map, as `ambit node rules` prints them) on
 * `mesh-ebpf` — and fails the run when an expected counter did not move. The deltas go into
 * the report (report.ts, "Capture evidence").
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Port } from '../src/api/ports.js';
import { AmbitError } from '../src/errors.js';
import { ebpfPinDir } from '../src/redirect/backends.js';
import { IPSET_NAME, Mark } from '../src/redirect/constants.js';
import { decodeCounters } from '../src/redirect/ebpf/maps.js';
import { nodeNetns } from '../src/redirect/paths.js';
import { bpfMapDump, hostBpfPath } from '../src/sys/bpf.js';
import { iptablesSave } from '../src/sys/iptables.js';

export type Backend = 'iptables' | 'ebpf';

export interface CaptureNode {
  node: string;
  /** The node's ztunnel pod netns (its TPROXY rules live there on iptables). */
  ztunnelNetns: string;
  side: 'client' | 'server';
}

export interface CaptureSpec {
  lab: string;
  backend: Backend;
  nodes: CaptureNode[];
}

export type Counters = Record<string, number>;

/** `[packets:bytes] -A …` lines of `iptables-save -c`: packets per rule matching `pick`. */
export function iptablesPackets(saved: string, pick: (rule: string) => boolean): number {
  let n = 0;
  for (const line of saved.split('\n')) {
    const m = /^\[(\d+):\d+\] (-A .*)$/.exec(line);
    if (m && pick(m[2]!)) n += Number(m[1]);
  }
  return n;
}

/*
 * What each counter counts (src/redirect/iptables/render.ts): the TPROXY rules in the ztunnel
 * pod and the node's pod→istioout mark see a connection's first packets only (later ones
 * take an established socket, or their connmark returns earlier), so they move with new
 * connections — and an HBONE connection is pooled: on the server node a run over an
 * existing pooled connection never touches TPROXY :15008. The node's mark on ztunnel's
 * spoofed-source packets to the app (0x210, what routes the app's replies back through
 * ztunnel) is taken by every packet: that is the server side's proof.
 */
const tproxyTo = (port: number) => (r: string) => r.includes(`TPROXY --on-port ${port} `);
const podOutbound = (r: string) =>
  r.startsWith('-A ztunnel-PREROUTING') && r.includes(`--match-set ${IPSET_NAME} src`);
const spoofedToApp = (r: string) =>
  r.startsWith('-A ztunnel-PREROUTING ! -s ') && r.includes(`--set-xmark ${Mark.proxy}`);

/** The counters of one mode's nodes now, keyed `<node> <what>`. */
export async function readCounters(spec: CaptureSpec): Promise<Counters> {
  const out: Counters = {};
  for (const n of spec.nodes) {
    if (spec.backend === 'iptables') {
      const node = await iptablesSave(nodeNetns(spec.lab, n.node), 'mangle', true);
      out[`${n.node} iptables pod→istioout mark`] = iptablesPackets(node, podOutbound);
      out[`${n.node} iptables ztunnel→app spoofed mark`] = iptablesPackets(node, spoofedToApp);
      const z = await iptablesSave(n.ztunnelNetns, 'mangle', true);
      for (const port of [Port.outbound, Port.inbound, Port.inboundPlaintext]) {
        out[`${n.node} iptables TPROXY :${port}`] = iptablesPackets(z, tproxyTo(port));
      }
    } else {
      const pin = join(hostBpfPath(ebpfPinDir(spec.lab, n.node)), 'maps', 'counters');
      if (!existsSync(pin)) continue;
      for (const [k, v] of decodeCounters(await bpfMapDump(pin))) out[`${n.node} ebpf ${k}`] = v;
    }
  }
  return out;
}

export function delta(before: Counters, after: Counters): Counters {
  const d: Counters = {};
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    d[k] = (after[k] ?? 0) - (before[k] ?? 0);
  }
  return d;
}

/**
 * What must have moved for traffic from the client node's pod to the server node's pod to have
 * gone through the backend: each entry is a list of alternatives, one of which must be > 0.
 */
export function expected(spec: CaptureSpec): string[][] {
  const out: string[][] = [];
  for (const n of spec.nodes) {
    if (spec.backend === 'iptables') {
      if (n.side === 'client') {
        out.push([`${n.node} iptables pod→istioout mark`]);
        out.push([`${n.node} iptables TPROXY :${Port.outbound}`]);
      } else {
        out.push([`${n.node} iptables ztunnel→app spoofed mark`]);
      }
    } else {
      out.push([`${n.node} ebpf ${n.side === 'client' ? 'app_outbound' : 'app_inbound'} redirect`]);
      // sk_assign to the listener, or (the fallback object) the mark for the TPROXY rules.
      out.push([`${n.node} ebpf ztunnel_tproxy sk_assign`, `${n.node} ebpf ztunnel_ingress mark`]);
    }
  }
  return out;
}

/** Throws BENCH_CAPTURE_UNPROVEN naming the counters that did not move. */
export function checkMoved(spec: CaptureSpec, d: Counters, mode: string): void {
  const missing = expected(spec).filter((alts) => !alts.some((k) => (d[k] ?? 0) > 0));
  if (missing.length === 0) return;
  const names = missing.map((alts) => alts.join(' or ')).join('; ');
  throw new AmbitError(
    'BENCH_CAPTURE_UNPROVEN',
    `${mode}: the ${spec.backend} counters did not move during the run: ${names}`,
    {
      value: d,
      hint: `the traffic did not go through the ${spec.backend} redirection of its nodes: see \`ambit node rules <node> --lab ${spec.lab}\``,
    },
  );
}

/** Only the counters that moved (for the report). */
export const moved = (d: Counters): Counters =>
  Object.fromEntries(Object.entries(d).filter(([, v]) => v !== 0));
