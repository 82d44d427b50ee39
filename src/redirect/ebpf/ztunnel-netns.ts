/**
 * The ztunnel pod's side of the eBPF backend (Istio: only rule 20000 and table 100 there):
 * packets ztunnel_tproxy assigned to a socket carry mark 0x400, and rule 20000 sends them to
 * table 100's `local default dev lo` so the stack delivers them locally (to that socket)
 * instead of forwarding them to their original destination. rp_filter off, as Istio does.
 *
 * The mark fallback (no bpf_sk_assign) adds Istio's legacy rules: ztunnel_ingress marks
 * captured packets 8765 (outbound) or 5678 (inbound), and mangle PREROUTING TPROXYs them to
 * 127.0.0.1:15001, :15008 (dport 15008) or :15006, setting 0x400 for rule 20000. TPROXY takes
 * an established socket first and drops what no socket takes; rules 20001/20002 blackhole a
 * marked packet no TPROXY rule took (fail closed even with the chain gone).
 */
import { dropEmptyTable, iptablesRestore, iptablesSave } from '../../sys/iptables.js';
import { routeFlush, routeReplace, ruleDeleteAll, ruleEnsure, sysctlSet } from '../../sys/ip.js';
import { devWithAddress, tcDetach } from '../../sys/tc.js';
import {
  MarkTproxy,
  TPROXY_MARK,
  TPROXY_RULE_PRIORITY,
  TPROXY_TABLE,
  type TproxyMode,
} from './maps.js';
import { noTproxyError } from './tproxy-mode.js';

export const MARK_CHAIN = 'ztunnel-EBPF-TPROXY';
const BLACKHOLE_RULES = [
  { priority: TPROXY_RULE_PRIORITY + 1, mark: MarkTproxy.outbound },
  { priority: TPROXY_RULE_PRIORITY + 2, mark: MarkTproxy.inbound },
];

/** The fallback's rules as iptables-save prints them (marks in hex). */
export function markTproxyRules(): string[] {
  const hex = (n: number) => `0x${n.toString(16)}`;
  const to = (port: number) =>
    `-j TPROXY --on-port ${port} --on-ip 127.0.0.1 --tproxy-mark ${TPROXY_MARK}`;
  const inb = `-A ${MARK_CHAIN} -p tcp -m mark --mark ${hex(MarkTproxy.inbound)}`;
  return [
    `${inb} -m tcp --dport 15008 ${to(15008)}`,
    `${inb} ${to(15006)}`,
    `-A ${MARK_CHAIN} -p tcp -m mark --mark ${hex(MarkTproxy.outbound)} ${to(15001)}`,
  ];
}

const JUMP = `-A PREROUTING -j ${MARK_CHAIN}`;

async function ensureMarkTproxy(zns: string): Promise<void> {
  const saved = await iptablesSave(zns, 'mangle');
  const have = saved.split('\n');
  const want = markTproxyRules();
  const jumps = have.filter((l) => l === JUMP).length;
  if (jumps === 1 && want.every((r) => have.includes(r))) return;
  // Declaring the chain flushes it: the rules are replaced in one transaction.
  const lines = ['*mangle', `:${MARK_CHAIN} - [0:0]`];
  if (jumps === 0) lines.push(JUMP);
  for (let i = 1; i < jumps; i++) lines.push(JUMP.replace(/^-A /, '-D '));
  lines.push(...want, 'COMMIT', '');
  try {
    await iptablesRestore(zns, lines.join('\n'));
  } catch (err) {
    throw noTproxyError(err instanceof Error ? err.message : String(err));
  }
}

async function removeMarkTproxy(zns: string): Promise<void> {
  const saved = await iptablesSave(zns, 'mangle').catch(() => '');
  if (saved.includes(`:${MARK_CHAIN} `)) {
    const del = saved
      .split('\n')
      .filter((l) => l === JUMP)
      .map((l) => l.replace(/^-A /, '-D '));
    await iptablesRestore(
      zns,
      ['*mangle', ...del, `-F ${MARK_CHAIN}`, `-X ${MARK_CHAIN}`, 'COMMIT', ''].join('\n'),
    );
    await dropEmptyTable(zns, 'mangle');
  }
  for (const r of BLACKHOLE_RULES) await ruleDeleteAll(zns, r.priority);
}

export async function setupZtunnelNetns(
  zns: string,
  eth0: string,
  mode: TproxyMode,
): Promise<void> {
  await sysctlSet(zns, {
    'net.ipv4.conf.all.rp_filter': '0',
    'net.ipv4.conf.default.rp_filter': '0',
    [`net.ipv4.conf.${eth0}.rp_filter`]: '0',
  });
  await ruleEnsure(
    zns,
    TPROXY_RULE_PRIORITY,
    ['fwmark', TPROXY_MARK, 'lookup', String(TPROXY_TABLE)],
    `${TPROXY_RULE_PRIORITY}:\tfrom all fwmark ${TPROXY_MARK} lookup ${TPROXY_TABLE}`,
  );
  await routeReplace(zns, TPROXY_TABLE, ['local', '0.0.0.0/0', 'dev', 'lo']);
  if (mode === 'sk_assign') {
    // A node switched from the fallback: its rules go.
    await removeMarkTproxy(zns);
    return;
  }
  for (const r of BLACKHOLE_RULES) {
    await ruleEnsure(
      zns,
      r.priority,
      ['fwmark', String(r.mark), 'blackhole'],
      `${r.priority}:\tfrom all fwmark 0x${r.mark.toString(16)} blackhole`,
    );
  }
  await ensureMarkTproxy(zns);
}

export async function cleanupZtunnelNetns(zns: string, zIp: string): Promise<void> {
  const eth0 = await devWithAddress(zns, zIp);
  if (eth0) await tcDetach(zns, eth0);
  await removeMarkTproxy(zns);
  await ruleDeleteAll(zns, TPROXY_RULE_PRIORITY);
  await routeFlush(zns, TPROXY_TABLE);
}
