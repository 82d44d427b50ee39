/**
 * The iptables backend's rules, rendered exactly as `iptables-save` prints them (so what we
 * apply reads back byte for byte, and the seeds' listings can be compared line by line).
 * Order and content follow Istio 1.20's `CreateRulesOnNode` / `CreateRulesWithinNodeProxyNS`.
 * Pure: no I/O here.
 */
import { Port } from '../../api/ports.js';
import {
  InboundTun,
  IPSET_NAME,
  Mark,
  OutboundTun,
  RouteTable,
  ZtunnelMark,
} from '../constants.js';

export type TableName = 'raw' | 'mangle' | 'nat' | 'filter';

export interface ChainRules {
  table: TableName;
  /** The custom chain, e.g. ztunnel-PREROUTING. */
  chain: string;
  /** The built-in chain whose top jumps to `chain`. */
  from: string;
  /** `-A <chain> ...` lines in iptables-save form. */
  rules: string[];
}

export interface HostParams {
  /** Host-side veth of the active ztunnel pod. */
  zveth: string;
  /** The ztunnel pod's IP. */
  zIp: string;
  /** The node's address inside its pod CIDR (kubelet probes come from it). */
  hostIp: string;
  /** UDP port of the tunnel devices (GENEVE or VXLAN). */
  tunnelPort: number;
  /** ISTIO_META_DNS_CAPTURE on the ztunnel: DNAT enrolled pods' UDP/53 to ztunnel:15053. */
  dnsCapture: boolean;
}

const markSet = (m: string): string => `-j MARK --set-xmark ${m}`;
const markIs = (m: string): string => `-m mark --mark ${m}`;

/** Every ztunnel-* chain on the node, in Istio's creation order, with its rules. */
export function hostChains(p: HostParams): ChainRules[] {
  const pre = (r: string): string => `-A ztunnel-PREROUTING ${r}`;
  const manglePre = [
    pre(`-i ${InboundTun.hostDev} ${markSet(Mark.skip)}`),
    pre(`-i ${InboundTun.hostDev} -j RETURN`),
    pre(`-i ${OutboundTun.hostDev} ${markSet(Mark.skip)}`),
    pre(`-i ${OutboundTun.hostDev} -j RETURN`),
    pre(`-p udp -m udp --dport ${p.tunnelPort} -j RETURN`),
    pre(`-m connmark --mark ${Mark.connSkip} ${markSet(Mark.skip)}`),
    pre(`${markIs(Mark.skip)} -j RETURN`),
    pre(`! -i ${p.zveth} -m connmark --mark ${Mark.proxy} ${markSet(Mark.proxyRet)}`),
    pre(`${markIs(Mark.proxyRet)} -j RETURN`),
    pre(`! -s ${p.zIp}/32 -i ${p.zveth} ${markSet(Mark.proxy)}`),
    pre(`${markIs(Mark.skip)} -j RETURN`),
    pre(`-i ${p.zveth} ${markSet(Mark.connSkip)}`),
    pre(`-p udp ${markSet(Mark.connSkip)}`),
    pre(`${markIs(Mark.skip)} -j RETURN`),
    // Not in Istio 1.20, which sends the next packets of a newly enrolled pod's open
    // connections to ztunnel, where no socket has them (the listener's RST goes to the pod, the
    // peer waits forever). What reaches here is pods' TCP, ztunnel's already returned: a
    // connection seen while neither end was captured keeps to the main table for its life; a
    // pod's new connections are captured. Istio's later in-pod rules do the same with
    // `--ctstate RELATED,ESTABLISHED -j ACCEPT` ahead of their TPROXY.
    pre(
      `-p tcp -m set ! --match-set ${IPSET_NAME} src -m set ! --match-set ${IPSET_NAME} dst ` +
        `-j CONNMARK --set-xmark ${Mark.preCapture}`,
    ),
    pre(`-m connmark --mark ${Mark.preCapture} ${markSet(Mark.skip)}`),
    pre(`${markIs(Mark.skip)} -j RETURN`),
    pre(`-p tcp -m set --match-set ${IPSET_NAME} src ${markSet(Mark.outbound)}`),
  ];
  const saveMarks = (chain: string): string[] => [
    `-A ${chain} ${markIs(Mark.connSkip)} -j CONNMARK --save-mark --nfmask 0x220 --ctmask 0x220`,
    `-A ${chain} ${markIs(Mark.proxy)} -j CONNMARK --save-mark --nfmask 0x210 --ctmask 0x210`,
  ];
  const natPre = [`-A ztunnel-PREROUTING ${markIs(Mark.outbound)} -j ACCEPT`];
  if (p.dnsCapture) {
    natPre.push(
      `-A ztunnel-PREROUTING -p udp -m set --match-set ${IPSET_NAME} src -m udp --dport 53 ` +
        `-j DNAT --to-destination ${p.zIp}:${Port.dns}`,
    );
  }
  return [
    { table: 'mangle', chain: 'ztunnel-PREROUTING', from: 'PREROUTING', rules: manglePre },
    { table: 'mangle', chain: 'ztunnel-POSTROUTING', from: 'POSTROUTING', rules: [] },
    {
      table: 'mangle',
      chain: 'ztunnel-OUTPUT',
      from: 'OUTPUT',
      // 1.20 (#46936): only the kubelet's probes (a local socket, TCP, to a captured pod).
      rules: [
        `-A ztunnel-OUTPUT -s ${p.hostIp}/32 -p tcp -m owner --socket-exists ` +
          `-m set --match-set ${IPSET_NAME} dst -j MARK --set-xmark 0x220/0xffffffff`,
      ],
    },
    { table: 'mangle', chain: 'ztunnel-INPUT', from: 'INPUT', rules: saveMarks('ztunnel-INPUT') },
    {
      table: 'mangle',
      chain: 'ztunnel-FORWARD',
      from: 'FORWARD',
      rules: saveMarks('ztunnel-FORWARD'),
    },
    { table: 'nat', chain: 'ztunnel-PREROUTING', from: 'PREROUTING', rules: natPre },
    {
      table: 'nat',
      chain: 'ztunnel-POSTROUTING',
      from: 'POSTROUTING',
      rules: [`-A ztunnel-POSTROUTING ${markIs(Mark.outbound)} -j ACCEPT`],
    },
    {
      table: 'filter',
      chain: 'ztunnel-FORWARD',
      from: 'FORWARD',
      rules: [`-A ztunnel-FORWARD ${markIs(Mark.outbound)} -j ACCEPT`],
    },
  ];
}

export const jumpRule = (c: Pick<ChainRules, 'from' | 'chain'>): string =>
  `-A ${c.from} -j ${c.chain}`;

/**
 * `iptables-restore --noflush` input that (re)writes every chain atomically: declaring a
 * user chain flushes it; each jump is deleted as many times as it exists now, then inserted
 * once at the top, so re-applying never duplicates and the jump stays first.
 */
export function renderInstall(chains: ChainRules[], jumpCounts: Map<string, number>): string {
  const out: string[] = [];
  for (const table of tablesOf(chains)) {
    const mine = chains.filter((c) => c.table === table);
    out.push(`*${table}`);
    for (const c of mine) out.push(`:${c.chain} - [0:0]`);
    for (const c of mine) {
      const n = jumpCounts.get(`${table} ${jumpRule(c)}`) ?? 0;
      for (let i = 0; i < n; i++) out.push(`-D ${c.from} -j ${c.chain}`);
      out.push(`-I ${c.from} 1 -j ${c.chain}`);
    }
    for (const c of mine) out.push(...c.rules);
    out.push('COMMIT');
  }
  return out.join('\n') + '\n';
}

/** Input that removes the jumps and chains that exist now (from `present`). */
export function renderUninstall(
  chains: Pick<ChainRules, 'table' | 'chain' | 'from'>[],
  jumpCounts: Map<string, number>,
  presentChains: Set<string>,
): string {
  const out: string[] = [];
  for (const table of tablesOf(chains)) {
    const mine = chains.filter(
      (c) => c.table === table && presentChains.has(`${table} ${c.chain}`),
    );
    if (mine.length === 0) continue;
    out.push(`*${table}`);
    for (const c of mine) {
      const n = jumpCounts.get(`${table} ${jumpRule(c)}`) ?? 0;
      for (let i = 0; i < n; i++) out.push(`-D ${c.from} -j ${c.chain}`);
    }
    for (const c of mine) out.push(`-F ${c.chain}`);
    for (const c of mine) out.push(`-X ${c.chain}`);
    out.push('COMMIT');
  }
  return out.length ? out.join('\n') + '\n' : '';
}

function tablesOf(chains: Pick<ChainRules, 'table'>[]): TableName[] {
  return [...new Set(chains.map((c) => c.table))];
}

/** The chain names the host side owns, for cleanup without knowing the ztunnel. */
export const HOST_CHAINS: Pick<ChainRules, 'table' | 'chain' | 'from'>[] = hostChains({
  zveth: 'x',
  zIp: '0.0.0.0',
  hostIp: '0.0.0.0',
  tunnelPort: 0,
  dnsCapture: false,
}).map(({ table, chain, from }) => ({ table, chain, from }));

/** mangle PREROUTING inside the ztunnel pod netns, in Istio's order. */
export function ztunnelRules(zIp: string): string[] {
  const tproxy = (port: number): string =>
    `-j TPROXY --on-port ${port} --on-ip 127.0.0.1 --tproxy-mark ${ZtunnelMark.tproxy}`;
  return [
    `-A PREROUTING -i ${InboundTun.ztunnelDev} -p tcp -m tcp --dport ${Port.inbound} ${tproxy(Port.inbound)}`,
    `-A PREROUTING -i ${OutboundTun.ztunnelDev} -p tcp ${tproxy(Port.outbound)}`,
    `-A PREROUTING -i ${InboundTun.ztunnelDev} -p tcp ${tproxy(Port.inboundPlaintext)}`,
    `-A PREROUTING ! -d ${zIp}/32 -i eth0 -p tcp -j MARK --set-xmark ${ZtunnelMark.origSrcReturn}`,
  ];
}

/** Istio flushes mangle PREROUTING and nat OUTPUT in the ztunnel netns before appending. */
export function renderZtunnelRestore(zIp: string): string {
  return ['*mangle', '-F PREROUTING', ...ztunnelRules(zIp), 'COMMIT', '*nat', '-F OUTPUT', 'COMMIT']
    .join('\n')
    .concat('\n');
}

export interface IpRule {
  priority: number;
  /** `ip rule add` arguments after the priority. */
  args: string[];
  /** The line `ip rule` prints for it. */
  listing: string;
}

function rule(priority: number, sel: string, action: string): IpRule {
  const args = [...(sel ? sel.split(' ') : []), ...action.split(' ')];
  return { priority, args, listing: `${priority}:\tfrom all ${sel ? sel + ' ' : ''}${action}` };
}

/** The node's policy rules 100–103. */
export function hostIpRules(): IpRule[] {
  return [
    rule(100, `fwmark ${Mark.skip}`, 'goto 32766'),
    rule(101, `fwmark ${Mark.outbound}`, `lookup ${RouteTable.outbound}`),
    rule(102, `fwmark ${Mark.proxyRet}`, `lookup ${RouteTable.proxy}`),
    rule(103, '', `lookup ${RouteTable.inbound}`),
  ];
}

/** The ztunnel netns's rules 20000 (TPROXY) and 20003 (original-source return). */
export function ztunnelIpRules(): IpRule[] {
  return [
    rule(20000, `fwmark ${ZtunnelMark.tproxy}`, `lookup ${RouteTable.inbound}`),
    rule(20003, `fwmark ${ZtunnelMark.origSrcReturn}`, `lookup ${RouteTable.inbound}`),
  ];
}

export interface Route {
  table: number;
  /** `ip route replace` arguments (without `table`). */
  args: string[];
  /** The line `ip route show table N` prints for it. */
  listing: string;
}

const route = (table: number, listing: string, args = listing.split(' ')): Route => ({
  table,
  args,
  listing,
});

/** Node tables 101, 102 and the ztunnel entry of 100, as `ip route show` lists them. */
export function hostRoutes(zveth: string, zIp: string): Route[] {
  const toZ = `${zIp} dev ${zveth} scope link`;
  return [
    route(RouteTable.outbound, `default via ${OutboundTun.ztunnelIp} dev ${OutboundTun.hostDev}`),
    route(RouteTable.outbound, toZ),
    route(RouteTable.proxy, `default via ${zIp} dev ${zveth} onlink`),
    route(RouteTable.proxy, toZ),
    route(RouteTable.inbound, toZ),
  ];
}

/** Table 100's route for one enrolled local pod (`buildRouteForPod`). */
export function podRoute(podIp: string, hostIp: string): Route {
  return route(
    RouteTable.inbound,
    `${podIp} via ${InboundTun.ztunnelIp} dev ${InboundTun.hostDev} src ${hostIp}`,
  );
}

/** ztunnel netns tables 100–102. */
export function ztunnelRoutes(hostIp: string): Route[] {
  return [
    route(RouteTable.inbound, 'local default dev lo scope host', [
      'local',
      '0.0.0.0/0',
      'dev',
      'lo',
      'scope',
      'host',
    ]),
    route(RouteTable.outbound, `default via ${OutboundTun.hostIp} dev ${OutboundTun.ztunnelDev}`),
    route(RouteTable.outbound, `${hostIp} dev eth0 scope link`),
    route(RouteTable.proxy, `default via ${InboundTun.hostIp} dev ${InboundTun.ztunnelDev}`),
    route(RouteTable.proxy, `${hostIp} dev eth0 scope link`),
  ];
}
