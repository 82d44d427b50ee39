/**
 * The node (host netns) half of the iptables backend: Istio's `CreateRulesOnNode` and
 * `cleanupNode`, on the named netns `ns` (undefined = this process's).
 */
import { iptablesRestore, iptablesSave, countRules, declaredChains } from '../../sys/iptables.js';
import { ipsetCreate, ipsetDestroy } from '../../sys/ipset.js';
import { routeReplace, ruleEnsure, sysctlSet } from '../../sys/ip.js';
import { IPSET_NAME } from '../constants.js';
import {
  HOST_CHAINS,
  hostChains,
  hostIpRules,
  hostRoutes,
  jumpRule,
  renderInstall,
  renderUninstall,
  type ChainRules,
  type HostParams,
} from './render.js';
import { ensureTunnels, removeTunnels, tunnelDevs, type NodeTunnels } from './tunnels.js';

type Ns = string | undefined;

/** Reads the live jump counts and our chains' rules of every table we touch. */
async function liveTables(ns: Ns, tables: string[]) {
  const jumps = new Map<string, number>();
  const chains = new Set<string>();
  const lines = new Map<string, string[]>();
  for (const t of tables) {
    const saved = await iptablesSave(ns, t);
    for (const [k, v] of countRules(t, saved)) jumps.set(k, v);
    for (const c of declaredChains(t, saved)) chains.add(c);
    lines.set(t, saved.split('\n'));
  }
  return { jumps, chains, lines };
}

/** True when every chain holds exactly the wanted rules and each jump sits once, on top. */
function upToDate(want: ChainRules[], live: Awaited<ReturnType<typeof liveTables>>): boolean {
  for (const c of want) {
    const all = live.lines.get(c.table) ?? [];
    const have = all.filter((l) => l.startsWith(`-A ${c.chain} `));
    if (have.join('\n') !== c.rules.join('\n')) return false;
    if (!live.chains.has(`${c.table} ${c.chain}`)) return false;
    const first = all.find((l) => l.startsWith(`-A ${c.from} `));
    if (first !== jumpRule(c) || live.jumps.get(`${c.table} ${jumpRule(c)}`) !== 1) return false;
  }
  return true;
}

export async function applyNodeIptables(ns: Ns, p: HostParams): Promise<boolean> {
  const want = hostChains(p);
  const live = await liveTables(ns, [...new Set(want.map((c) => c.table))]);
  if (upToDate(want, live)) return false;
  await iptablesRestore(ns, renderInstall(want, live.jumps));
  return true;
}

/** `CreateRulesOnNode`: ipset, tunnels, sysctls, chains, ip rules, tables 100–102. */
export async function createNodeRules(ns: Ns, p: HostParams, tun: NodeTunnels): Promise<void> {
  await ipsetCreate(ns, IPSET_NAME);
  await ensureTunnels(ns, 'host', p.zIp, tun);
  const sys: Record<string, string> = {
    'net.ipv4.conf.default.rp_filter': '0',
    'net.ipv4.conf.all.rp_filter': '0',
    [`net.ipv4.conf.${p.zveth}.rp_filter`]: '0',
    [`net.ipv4.conf.${p.zveth}.accept_local`]: '1',
  };
  for (const dev of tunnelDevs('host')) {
    sys[`net.ipv4.conf.${dev}.rp_filter`] = '0';
    sys[`net.ipv4.conf.${dev}.accept_local`] = '1';
  }
  await sysctlSet(ns, sys, { allowFail: true });
  await applyNodeIptables(ns, p);
  for (const r of hostIpRules()) await ruleEnsure(ns, r.priority, r.args, r.listing);
  for (const r of hostRoutes(p.zveth, p.zIp)) await routeReplace(ns, r.table, r.args);
}

/** `cleanupNode`: chains, tables 100–102, rules 100–103, tunnels, ipset. */
export async function cleanupNode(ns: Ns): Promise<void> {
  const live = await liveTables(ns, [...new Set(HOST_CHAINS.map((c) => c.table))]);
  await iptablesRestore(ns, renderUninstall(HOST_CHAINS, live.jumps, live.chains));
  await removeTunnels(ns, 'host', hostIpRules());
  await ipsetDestroy(ns, IPSET_NAME);
}
