/**
 * `ambit node rules`: a node's and its ztunnel pod's live capture state, printed the way the
 * seeds print it (`=== PREROUTING ===` / `--- mangle ---` / `-A` rules), then policy rules,
 * tables 100–102, the ipset and the tunnel links. Read from the kernel, never from our config.
 */
import { run } from '../sys/exec.js';
import { iptablesSave } from '../sys/iptables.js';
import { InboundTun, IPSET_NAME, OutboundTun, RouteTable } from './constants.js';

const TABLES = ['raw', 'mangle', 'nat', 'filter'] as const;
const BUILTIN = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'];

/** Groups `-A` lines of each table's iptables-save per chain, built-ins first, then ztunnel-*. */
export function formatChains(saved: Partial<Record<string, string>>): string {
  const byChain = new Map<string, Map<string, string[]>>();
  const custom: string[] = [];
  for (const t of TABLES) {
    for (const line of (saved[t] ?? '').split('\n')) {
      const m = /^-A (\S+) /.exec(line);
      if (!m) continue;
      const chain = m[1]!;
      if (!BUILTIN.includes(chain) && !chain.startsWith('ztunnel-')) continue;
      if (!BUILTIN.includes(chain) && !custom.includes(chain)) custom.push(chain);
      let per = byChain.get(chain);
      if (!per) byChain.set(chain, (per = new Map()));
      per.set(t, [...(per.get(t) ?? []), line]);
    }
  }
  const order = (c: string) => {
    const i = BUILTIN.indexOf(c.replace(/^ztunnel-/, ''));
    return i < 0 ? BUILTIN.length : i;
  };
  custom.sort((a, b) => order(a) - order(b));
  const out: string[] = [];
  for (const chain of [...BUILTIN, ...custom]) {
    const per = byChain.get(chain);
    if (!per && !BUILTIN.includes(chain)) continue;
    out.push(`=== ${chain} ===`);
    for (const t of TABLES) {
      out.push(`    --- ${t} ---`);
      for (const line of per?.get(t) ?? []) out.push(`        ${line}`);
    }
  }
  return out.join('\n');
}

async function section(title: string, cmd: string, args: string[], netns?: string) {
  const r = await run(cmd, args, { netns, allowFail: true });
  const body = (r.code === 0 ? r.stdout : r.stderr).trimEnd();
  return `=== ${title} ===\n${body}`;
}

async function savedTables(netns: string | undefined): Promise<Record<string, string>> {
  const saved: Record<string, string> = {};
  // Never create a table by looking (iptables -L would): only read the ones that exist.
  const all = await iptablesSave(netns);
  for (const t of TABLES) {
    if (new RegExp(`^\\*${t}$`, 'm').test(all)) saved[t] = await iptablesSave(netns, t);
  }
  return saved;
}

/** One netns's chains, policy rules, tables 100–102, then the named tunnel links. */
async function netnsSections(ns: string | undefined, extra: string[], devs: string[]) {
  const parts = [formatChains(await savedTables(ns))];
  parts.push(await section('ip rule', 'ip', ['rule'], ns));
  for (const t of Object.values(RouteTable).sort()) {
    const table = String(t);
    parts.push(
      await section(`ip route show table ${table}`, 'ip', ['route', 'show', 'table', table], ns),
    );
  }
  parts.push(...extra);
  for (const dev of devs) {
    parts.push(await section(`ip -d link show ${dev}`, 'ip', ['-d', 'link', 'show', dev], ns));
  }
  return parts;
}

/** The report for the node in `nodeNs` and, when known, its ztunnel pod in `ztunnelNs`. */
export async function nodeRulesReport(
  nodeNs: string | undefined,
  ztunnelNs?: string,
): Promise<string> {
  const ipset = await section(`ipset list ${IPSET_NAME}`, 'ipset', ['list', IPSET_NAME], nodeNs);
  const parts = [
    `##### node ${nodeNs ?? '(this netns)'} #####`,
    ...(await netnsSections(nodeNs, [ipset], [InboundTun.hostDev, OutboundTun.hostDev])),
  ];
  if (ztunnelNs) {
    parts.push(
      `##### ztunnel pod ${ztunnelNs} #####`,
      ...(await netnsSections(ztunnelNs, [], [InboundTun.ztunnelDev, OutboundTun.ztunnelDev])),
    );
  }
  return parts.join('\n') + '\n';
}
