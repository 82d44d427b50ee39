/**
 * iptables through its save/restore tools, the way kube-proxy and istio-cni drive it:
 * whole transactions with `iptables-restore --noflush`, state read back with `iptables-save`.
 */
import { out, run } from './exec.js';

/** `iptables-save -t <table>` (or all tables), in `netns`. */
export async function iptablesSave(
  netns: string | undefined,
  table?: string,
  counters = false,
): Promise<string> {
  const args = [...(table ? ['-t', table] : []), ...(counters ? ['-c'] : [])];
  return out('iptables-save', args, { netns });
}

/** Applies `input` as one atomic transaction without flushing what it does not name. */
export async function iptablesRestore(netns: string | undefined, input: string): Promise<void> {
  if (!input.trim()) return;
  await run('iptables-restore', ['--noflush', '-w', '5'], { netns, input });
}

/** Tables that exist now (iptables-nft only lists tables someone created). */
export async function iptablesTables(netns: string | undefined): Promise<string[]> {
  const text = await iptablesSave(netns);
  return [...text.matchAll(/^\*(\w+)$/gm)].map((m) => m[1]!);
}

/** Removes an iptables-nft table that exists but holds nothing of anyone's. */
export async function dropEmptyTable(netns: string | undefined, table: string): Promise<boolean> {
  const text = await iptablesSave(netns, table);
  if (/^-A /m.test(text) || /^:(?!(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) )/m.test(text))
    return false;
  if (!/^\*/m.test(text)) return false;
  // A concurrent ruleset change (kube-proxy's restore) can make one attempt fail: retry a little.
  for (let i = 0; i < 5; i++) {
    const r = await run('nft', ['delete', 'table', 'ip', table], { netns, allowFail: true });
    if (r.code === 0 || /No such file/.test(r.stderr)) return r.code === 0;
    await new Promise((res) => setTimeout(res, 100));
  }
  return false;
}

/** Counts `-A` lines per `<table> <rule>` key, e.g. how often a jump exists. */
export function countRules(table: string, saved: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of saved.split('\n')) {
    if (!line.startsWith('-A ')) continue;
    const k = `${table} ${line}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

/** `<table> <chain>` for every chain declared in `saved`. */
export function declaredChains(table: string, saved: string): Set<string> {
  return new Set([...saved.matchAll(/^:(\S+) /gm)].map((m) => `${table} ${m[1]!}`));
}
