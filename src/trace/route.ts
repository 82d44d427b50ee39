/**
 * Routing decisions: the kernel answers `ip route get` (which table, which route); the ip rule
 * that led there is the first rule, in priority order, whose selector matches the packet and
 * whose lookup lands in the table the kernel reported (following `goto`s).
 */

export interface IpRule {
  prio: number;
  text: string;
  not: boolean;
  from?: string;
  to?: string;
  iif?: string;
  oif?: string;
  fwmark?: { value: number; mask: number };
  action: { kind: 'lookup'; table: number } | { kind: 'goto'; prio: number } | { kind: 'other' };
}

const TABLE_IDS: Record<string, number> = { local: 255, main: 254, default: 253 };

export function tableId(name: string): number {
  return TABLE_IDS[name] ?? Number(name);
}

export function tableName(id: number): string {
  for (const [n, v] of Object.entries(TABLE_IDS)) if (v === id) return n;
  return String(id);
}

export function parseIpRules(text: string): IpRule[] {
  const rules: IpRule[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const toks = m[2]!.trim().split(/\s+/);
    const r: IpRule = {
      prio: Number(m[1]),
      text: `${m[1]}: ${toks.join(' ')}`,
      not: false,
      action: { kind: 'other' },
    };
    for (let i = 0; i < toks.length; i++) {
      const t = toks[i]!;
      const v = toks[i + 1];
      if (t === 'not') r.not = true;
      else if (t === 'from' && v) {
        r.from = v;
        i++;
      } else if (t === 'to' && v) {
        r.to = v;
        i++;
      } else if (t === 'iif' && v) {
        r.iif = v;
        i++;
      } else if (t === 'oif' && v) {
        r.oif = v;
        i++;
      } else if (t === 'fwmark' && v) {
        const [val, mask] = v.split('/');
        r.fwmark = { value: Number(val), mask: mask ? Number(mask) : 0xffffffff };
        i++;
      } else if ((t === 'lookup' || t === 'table') && v) {
        r.action = { kind: 'lookup', table: tableId(v) };
        i++;
      } else if (t === 'goto' && v) {
        r.action = { kind: 'goto', prio: Number(v) };
        i++;
      }
    }
    rules.push(r);
  }
  return rules.sort((a, b) => a.prio - b.prio);
}

function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  return (((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0) as number;
}

function inPrefix(ip: string, prefix: string): boolean {
  if (prefix === 'all' || prefix === 'default') return true;
  const [net, len] = prefix.split('/');
  const bits = len === undefined ? 32 : Number(len);
  if (bits === 0) return true;
  const mask = bits >= 32 ? 0xffffffff : ((~((1 << (32 - bits)) - 1) >>> 0) as number);
  return (ipToInt(ip) & mask) >>> 0 === (ipToInt(net!) & mask) >>> 0;
}

export interface RulePacket {
  src: string;
  dst: string;
  iif?: string;
  mark: number;
}

function selects(r: IpRule, p: RulePacket): boolean {
  let ok = true;
  if (r.from && !inPrefix(p.src, r.from)) ok = false;
  if (r.to && !inPrefix(p.dst, r.to)) ok = false;
  if (r.iif && r.iif !== (p.iif ?? 'lo')) ok = false;
  if (r.fwmark && (p.mark & r.fwmark.mask) >>> 0 !== r.fwmark.value >>> 0) ok = false;
  return r.not ? !ok : ok;
}

/** The rule (and any goto that led to it) that sent `p` to `table`; undefined if none fits. */
export function ruleForTable(
  rules: readonly IpRule[],
  p: RulePacket,
  table: number,
): { rule: IpRule; via?: IpRule } | undefined {
  let via: IpRule | undefined;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    if (!selects(r, p)) continue;
    if (r.action.kind === 'lookup' && r.action.table === table)
      return via ? { rule: r, via } : { rule: r };
    if (r.action.kind === 'goto') {
      const target = r.action.prio;
      via = r;
      const j = rules.findIndex((x) => x.prio >= target);
      if (j < 0) return undefined;
      i = j - 1;
    }
  }
  return undefined;
}

export interface RouteResult {
  /** First line of `ip route get` output. */
  line: string;
  table: number;
  dev?: string;
  via?: string;
  local: boolean;
}

export function parseRouteGet(text: string): RouteResult | undefined {
  const line = text.split('\n')[0]?.trim();
  if (!line) return undefined;
  const table = /\btable (\S+)/.exec(line)?.[1];
  const local = line.startsWith('local ');
  const r: RouteResult = {
    line,
    table: table ? tableId(table) : local ? 255 : 254,
    local,
  };
  const dev = /\bdev (\S+)/.exec(line)?.[1];
  const via = /\bvia (\S+)/.exec(line)?.[1];
  if (dev) r.dev = dev;
  if (via) r.via = via;
  return r;
}
