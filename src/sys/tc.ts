/**
 * tc: a clsact qdisc and direct-action bpf filters on a device (Istio's attachment: prio 1,
 * handle 1, all protocols), in the device's network namespace. `nsenter --net` (a path) keeps
 * the mount namespace, so pinned programs under /sys/fs/bpf stay visible to tc.
 */
import { netnsRefPath, out, run } from './exec.js';

type Hook = 'ingress' | 'egress';
/** tc runs with the caller's /sys: named netns go through their path, never `ip netns exec`. */
const ns = (netns: string | undefined) => (netns ? netnsRefPath(netns) : undefined);

export async function tcAttach(
  netns: string | undefined,
  dev: string,
  hook: Hook,
  pinnedProg: string,
): Promise<void> {
  await run('tc', ['qdisc', 'replace', 'dev', dev, 'clsact'], { netns: ns(netns) });
  await run(
    'tc',
    [
      'filter',
      'replace',
      'dev',
      dev,
      hook,
      'prio',
      '1',
      'handle',
      '1',
      'protocol',
      'all',
      'bpf',
      'da',
      'pinned',
      pinnedProg,
    ],
    { netns: ns(netns) },
  );
}

/** Removes the clsact qdisc (and with it every filter) from `dev`; a missing one is fine. */
export async function tcDetach(netns: string | undefined, dev: string): Promise<void> {
  await run('tc', ['qdisc', 'del', 'dev', dev, 'clsact'], { netns: ns(netns), allowFail: true });
}

export interface TcBpfFilter {
  hook: Hook;
  name: string;
  id: number;
  tag: string;
}

/** The bpf filters on `dev`, with the attached program's name, id and tag. */
export async function tcFilters(netns: string | undefined, dev: string): Promise<TcBpfFilter[]> {
  const found: TcBpfFilter[] = [];
  for (const hook of ['ingress', 'egress'] as const) {
    const r = await run('tc', ['-j', 'filter', 'show', 'dev', dev, hook], {
      netns: ns(netns),
      allowFail: true,
    });
    if (r.code !== 0) continue;
    const rows = JSON.parse(r.stdout || '[]') as {
      kind?: string;
      options?: { prog?: { id: number; name: string; tag: string } };
    }[];
    for (const row of rows) {
      const p = row.options?.prog;
      if (row.kind === 'bpf' && p) found.push({ hook, name: p.name, id: p.id, tag: p.tag });
    }
  }
  return found;
}

/** `ip -j link show dev <dev>`: ifindex and MAC. */
export async function linkInfo(
  netns: string | undefined,
  dev: string,
): Promise<{ ifindex: number; mac: string } | undefined> {
  const r = await run('ip', ['-j', 'link', 'show', 'dev', dev], {
    netns: ns(netns),
    allowFail: true,
  });
  if (r.code !== 0) return undefined;
  const [l] = JSON.parse(r.stdout) as { ifindex: number; address: string }[];
  return l ? { ifindex: l.ifindex, mac: l.address } : undefined;
}

/** The device holding `ip` (e.g. a pod's eth0), in `netns`. */
export async function devWithAddress(
  netns: string | undefined,
  ip: string,
): Promise<string | undefined> {
  const text = await out('ip', ['-j', '-4', 'addr', 'show'], { netns: ns(netns) });
  const links = JSON.parse(text) as { ifname: string; addr_info: { local: string }[] }[];
  return links.find((l) => l.addr_info.some((a) => a.local === ip))?.ifname;
}
