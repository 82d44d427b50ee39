/**
 * The eBPF backend's own evidence for a trace: while the traffic runs, each node's programs
 * write one event per packet they handle (program, device, 5-tuple, verdict) to the node's
 * `events` ring buffer; `trace_ctl[0]` switches that on and off. This file finds the nodes
 * whose programs are pinned (`/sys/fs/bpf/ambit-<lab>/<node>`), records their events around an
 * action, and resolves ifindexes to device and pod names from the kernel (`ip -j link`, the
 * `app_info` and `ztunnel_info` maps), so the path shows names, never bare numbers.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../errors.js';
import {
  decodeAppInfo,
  decodeEvent,
  decodeZtunnelInfo,
  ipString,
  u32,
  type BpfEvent,
} from '../redirect/ebpf/maps.js';
import { bpfMapDump, bpfMapUpdate, hostBpfPath } from '../sys/bpf.js';
import { RingbufReader } from '../sys/bpf-ringbuf.js';
import { run } from '../sys/exec.js';

/** One node on the eBPF backend: where its pins are and the namespaces its programs run in. */
export interface BpfNode {
  node: string;
  /** The node's netns (app_outbound, app_inbound, ztunnel_host_ingress run there). */
  netns: string;
  pinDir: string;
  /** The node's ztunnel pod (ztunnel_tproxy runs on its eth0). */
  ztunnel?: { name: string; netns: string };
}

/** One event with the names the kernel gives its numbers. */
export interface ResolvedBpfEvent extends BpfEvent {
  node: string;
  /** Where the program ran: the node, or the ztunnel pod's name for ztunnel_tproxy. */
  where: string;
  dev: string;
  /** A redirect's target device and what is behind it (a pod's name, `ztunnel`). */
  targetDev?: string;
  targetName?: string;
}

export interface BpfRecording<T> {
  result: T;
  events: ResolvedBpfEvent[];
  warnings: string[];
}

/** The lab's nodes whose eBPF programs are pinned (the nodes whose agent runs `--redirect ebpf`). */
export function bpfNodesOf(
  lab: string,
  nodeNetns: (node: string) => string,
  ztunnelOf: (node: string) => { name: string; netns: string } | undefined,
): BpfNode[] {
  const base = join('/sys/fs/bpf', `ambit-${lab}`);
  const root = hostBpfPath(base);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => existsSync(join(root, n, 'maps', 'events')))
    .sort()
    .map((node) => {
      const z = ztunnelOf(node);
      return {
        node,
        netns: nodeNetns(node),
        pinDir: join(base, node),
        ...(z ? { ztunnel: z } : {}),
      };
    });
}

const mapPin = (n: BpfNode, map: string) => join(hostBpfPath(n.pinDir), 'maps', map);

async function ifnames(netns: string): Promise<Map<number, string>> {
  const r = await run('ip', ['-j', 'link', 'show'], { netns, allowFail: true });
  const m = new Map<number, string>();
  if (r.code !== 0) return m;
  for (const l of JSON.parse(r.stdout || '[]') as { ifindex: number; ifname: string }[]) {
    m.set(l.ifindex, l.ifname);
  }
  return m;
}

/** ifindex → what is behind that host veth: a pod name (by app_info's IP) or `ztunnel`. */
async function behindVeths(n: BpfNode, podByIp: Map<string, string>): Promise<Map<number, string>> {
  const m = new Map<number, string>();
  for (const e of await bpfMapDump(mapPin(n, 'app_info')).catch(() => [])) {
    const ip = ipString(e.key);
    m.set(decodeAppInfo(e.values[0]!).ifindex, podByIp.get(ip) ?? ip);
  }
  for (const e of await bpfMapDump(mapPin(n, 'ztunnel_info')).catch(() => [])) {
    const z = decodeZtunnelInfo(e.values[0]!);
    if (z.ifindex) m.set(z.ifindex, n.ztunnel?.name ?? 'ztunnel');
  }
  return m;
}

async function setTracing(nodes: BpfNode[], on: boolean): Promise<void> {
  await Promise.all(
    nodes.map((n) => bpfMapUpdate(mapPin(n, 'trace_ctl'), u32(0), u32(on ? 1 : 0))),
  );
}

/**
 * Runs `action` with the programs of `nodes` emitting events, reading every node's ring buffer
 * while it runs; always switches the events off and unmaps the buffers.
 */
export async function recordBpf<T>(
  nodes: BpfNode[],
  action: () => Promise<T>,
  podByIp: Map<string, string> = new Map(),
): Promise<BpfRecording<T>> {
  const warnings: string[] = [];
  const raw: { node: BpfNode; ev: BpfEvent }[] = [];
  const readers: { node: BpfNode; r: RingbufReader }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const drain = () => {
    for (const { node, r } of readers) {
      r.drain((rec) => {
        const ev = decodeEvent(rec);
        if (ev) raw.push({ node, ev });
      });
    }
  };
  let result: T;
  try {
    for (const node of nodes)
      readers.push({ node, r: await RingbufReader.open(mapPin(node, 'events')) });
    drain(); // whatever an earlier run left: not this action's
    raw.length = 0;
    await setTracing(nodes, true);
    timer = setInterval(drain, 20);
    result = await action();
  } finally {
    if (timer) clearInterval(timer);
    await setTracing(nodes, false).catch((err: unknown) =>
      warnings.push(`eBPF trace switch left on: ${errorMessage(err)}; run ambit trace --cleanup`),
    );
    drain();
    for (const { r } of readers) r.close();
  }
  const names = new Map<
    string,
    { dev: Map<number, string>; zdev: Map<number, string>; behind: Map<number, string> }
  >();
  for (const n of nodes) {
    names.set(n.node, {
      dev: await ifnames(n.netns),
      zdev: n.ztunnel ? await ifnames(n.ztunnel.netns) : new Map(),
      behind: await behindVeths(n, podByIp),
    });
  }
  const events = raw
    .map(({ node, ev }): ResolvedBpfEvent => {
      const nm = names.get(node.node)!;
      const inZtunnel = ev.prog === 'ztunnel_tproxy' || ev.prog === 'ztunnel_ingress';
      const dev = (inZtunnel ? nm.zdev : nm.dev).get(ev.ifindex) ?? `ifindex ${ev.ifindex}`;
      const redirect = ev.verdict === 'redirect';
      const targetDev = redirect ? (nm.dev.get(ev.target) ?? `ifindex ${ev.target}`) : undefined;
      const targetName = redirect ? nm.behind.get(ev.target) : undefined;
      return {
        ...ev,
        node: node.node,
        where: inZtunnel ? (node.ztunnel?.name ?? `ztunnel-${node.node}`) : node.node,
        dev,
        ...(targetDev ? { targetDev } : {}),
        ...(targetName ? { targetName } : {}),
      };
    })
    .sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  const lost = readers.reduce((s, x) => s + x.r.discarded, 0);
  if (lost) warnings.push(`eBPF ring buffers: ${lost} discarded records`);
  return { result, events, warnings };
}

/** Switches the events off on every node of the lab (after a killed trace). */
export async function stopBpfTracing(nodes: BpfNode[]): Promise<void> {
  await setTracing(nodes, false);
}
