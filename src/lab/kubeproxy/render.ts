/**
 * kube-proxy's iptables mode as a pure function: Services + Endpoints → the KUBE-* chains of the
 * nat and filter tables, named and laid out exactly as kube-proxy writes them (chain names are
 * kube-proxy's sha256/base32 hashes, so they match what `iptables-save` shows on a kind node).
 */
import { createHash } from 'node:crypto';
import type { Endpoints, Service } from '../../k8s/types.js';

export const MASQ_MARK = '0x4000';
/** Chains we own whose names carry a hash: any not rendered any more is stale and deleted. */
export const HASHED_PREFIXES = ['KUBE-SVC-', 'KUBE-SEP-', 'KUBE-SVL-', 'KUBE-EXT-', 'KUBE-FW-'];

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 with padding, as Go's base32.StdEncoding. */
export function base32(buf: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31]!;
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31]!;
  while (out.length % 8 !== 0) out += '=';
  return out;
}

function hash16(text: string): string {
  return base32(createHash('sha256').update(text).digest()).slice(0, 16);
}

/** `ns/name:port` (or `ns/name` for an unnamed port), kube-proxy's ServicePortName.String(). */
export function servicePortName(ns: string, name: string, port: string | undefined): string {
  return `${ns}/${name}${port ? `:${port}` : ''}`;
}

export function serviceChain(spn: string, protocol: string): string {
  return `KUBE-SVC-${hash16(spn + protocol.toLowerCase())}`;
}

export function endpointChain(spn: string, protocol: string, endpoint: string): string {
  return `KUBE-SEP-${hash16(spn + protocol.toLowerCase() + endpoint)}`;
}

/** kube-proxy's `%0.10f` probability of picking endpoint i of n given the earlier ones were not. */
export function probability(i: number, n: number): string {
  return (1 / (n - i)).toFixed(10);
}

export interface ServicePortRules {
  spn: string;
  protocol: 'TCP' | 'UDP';
  clusterIP: string;
  port: number;
  /** `ip:port`, sorted. */
  endpoints: string[];
}

export interface TableRules {
  /** Chains to declare (and so flush) in iptables-restore order. */
  chains: string[];
  rules: string[];
}

export interface ProxyRules {
  nat: TableRules;
  filter: TableRules;
  /** What each service port resolved to (for conntrack clean-up and logs). */
  ports: ServicePortRules[];
}

export interface RenderOptions {
  /** The pod network; traffic to a ClusterIP from outside it is masqueraded (kube-proxy --cluster-cidr). */
  clusterCIDR?: string;
}

function ipKey(ep: string): string {
  const [ip = '', port = '0'] = ep.split(':');
  return (
    ip
      .split('.')
      .map((o) => o.padStart(3, '0'))
      .join('.') + `:${port.padStart(5, '0')}`
  );
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

function q(comment: string): string {
  return `"${comment.replace(/"/g, '')}"`;
}

/** The service ports with a ClusterIP and their ready endpoints, in a stable order. */
export function servicePorts(
  services: readonly Service[],
  endpoints: readonly Endpoints[],
): ServicePortRules[] {
  const eps = new Map(endpoints.map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e]));
  const out: ServicePortRules[] = [];
  for (const svc of services) {
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === 'None' || !IPV4.test(ip)) continue;
    const ns = svc.metadata.namespace ?? 'default';
    const ep = eps.get(`${ns}/${svc.metadata.name}`);
    for (const sp of svc.spec?.ports ?? []) {
      const protocol = sp.protocol ?? 'TCP';
      if (protocol !== 'TCP' && protocol !== 'UDP') continue;
      const list = new Set<string>();
      for (const subset of ep?.subsets ?? []) {
        const port = (subset.ports ?? []).find(
          (p) => (p.name ?? '') === (sp.name ?? '') && (p.protocol ?? 'TCP') === protocol,
        );
        if (!port) continue;
        for (const a of subset.addresses ?? [])
          if (IPV4.test(a.ip)) list.add(`${a.ip}:${port.port}`);
      }
      out.push({
        spn: servicePortName(ns, svc.metadata.name, sp.name),
        protocol,
        clusterIP: ip,
        port: sp.port,
        endpoints: [...list].sort((a, b) => (ipKey(a) < ipKey(b) ? -1 : 1)),
      });
    }
  }
  return out.sort((a, b) =>
    a.spn === b.spn ? a.protocol.localeCompare(b.protocol) : a.spn < b.spn ? -1 : 1,
  );
}

export function renderProxyRules(
  services: readonly Service[],
  endpoints: readonly Endpoints[],
  opts: RenderOptions = {},
): ProxyRules {
  const clusterCIDR = opts.clusterCIDR ?? '10.244.0.0/16';
  const ports = servicePorts(services, endpoints);
  const natChains = ['KUBE-SERVICES', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ'];
  const svcRules: string[] = [];
  const chainRules: string[] = [];
  const filterRules: string[] = [];
  for (const p of ports) {
    const proto = p.protocol.toLowerCase();
    const match = `-d ${p.clusterIP}/32 -p ${proto} -m comment --comment ${q(`${p.spn} cluster IP`)} -m ${proto} --dport ${p.port}`;
    if (p.endpoints.length === 0) {
      filterRules.push(
        `-A KUBE-SERVICES -d ${p.clusterIP}/32 -p ${proto} -m comment --comment ${q(`${p.spn} has no endpoints`)} -m ${proto} --dport ${p.port} -j REJECT --reject-with icmp-port-unreachable`,
      );
      continue;
    }
    const svcChain = serviceChain(p.spn, p.protocol);
    natChains.push(svcChain);
    svcRules.push(`-A KUBE-SERVICES ${match} -j ${svcChain}`);
    chainRules.push(`-A ${svcChain} ! -s ${clusterCIDR} ${match} -j KUBE-MARK-MASQ`);
    const n = p.endpoints.length;
    const sepRules: string[] = [];
    p.endpoints.forEach((ep, i) => {
      const sep = endpointChain(p.spn, p.protocol, ep);
      natChains.push(sep);
      const stat =
        i < n - 1 ? ` -m statistic --mode random --probability ${probability(i, n)}` : '';
      chainRules.push(
        `-A ${svcChain} -m comment --comment ${q(`${p.spn} -> ${ep}`)}${stat} -j ${sep}`,
      );
      const epIP = ep.slice(0, ep.lastIndexOf(':'));
      sepRules.push(
        `-A ${sep} -s ${epIP}/32 -m comment --comment ${q(p.spn)} -j KUBE-MARK-MASQ`,
        `-A ${sep} -p ${proto} -m comment --comment ${q(p.spn)} -m ${proto} -j DNAT --to-destination ${ep}`,
      );
    });
    chainRules.push(...sepRules);
  }
  const natRules = [
    `-A KUBE-POSTROUTING -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
    `-A KUBE-POSTROUTING -j MARK --xor-mark ${MASQ_MARK}`,
    `-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`,
    `-A KUBE-MARK-MASQ -j MARK --or-mark ${MASQ_MARK}`,
    ...svcRules,
    ...chainRules,
  ];
  return {
    nat: { chains: natChains, rules: natRules },
    filter: { chains: ['KUBE-SERVICES'], rules: filterRules },
    ports,
  };
}

/** The jumps from built-in chains into ours; appended when missing, never inserted on top. */
export const JUMPS: Record<'nat' | 'filter', string[]> = {
  nat: [
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
  ],
  filter: [
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  ],
};

/** What `iptables-save` shows of one table: its chains and its rule lines. */
export interface SavedTable {
  chains: Set<string>;
  rules: Set<string>;
}

/** Parses `iptables-save` output into tables. */
export function parseSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let cur: SavedTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      cur = { chains: new Set(), rules: new Set() };
      tables.set(line.slice(1), cur);
    } else if (line.startsWith(':') && cur) cur.chains.add(line.slice(1).split(' ')[0]!);
    else if (line.startsWith('-A ') && cur) cur.rules.add(line);
  }
  return tables;
}

export interface RestorePlan {
  text: string;
  /** Jumps from built-in chains that were missing and are appended. */
  jumpsAdded: string[];
  /** Hashed chains no longer rendered, flushed and deleted. */
  stale: string[];
  /** Rendered chains absent from the kernel (someone removed them): a reason to re-apply. */
  missing: string[];
}

/**
 * The `iptables-restore --noflush` input that turns the current state into `rules`: our chains
 * declared (which flushes them) and rewritten, missing jumps appended, stale hashed chains
 * flushed and deleted. Everything else in the tables is left alone.
 */
export function planRestore(rules: ProxyRules, current: Map<string, SavedTable>): RestorePlan {
  const out: string[] = [];
  const jumpsAdded: string[] = [];
  const allStale: string[] = [];
  const missing: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const want = rules[table];
    const saved = current.get(table) ?? { chains: new Set<string>(), rules: new Set<string>() };
    const stale = [...saved.chains].filter(
      (c) => HASHED_PREFIXES.some((p) => c.startsWith(p)) && !want.chains.includes(c),
    );
    out.push(`*${table}`);
    for (const c of [...want.chains, ...stale]) out.push(`:${c} - [0:0]`);
    for (const j of JUMPS[table]) {
      if (saved.rules.has(j)) continue;
      out.push(j);
      jumpsAdded.push(`${table}: ${j}`);
    }
    out.push(...want.rules);
    for (const c of stale) out.push(`-X ${c}`);
    out.push('COMMIT');
    allStale.push(...stale.map((c) => `${table}/${c}`));
    missing.push(...want.chains.filter((c) => !saved.chains.has(c)).map((c) => `${table}/${c}`));
  }
  return { text: out.join('\n') + '\n', jumpsAdded, stale: allStale, missing };
}
