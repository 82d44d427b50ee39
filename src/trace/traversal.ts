/**
 * Groups trace events into traversals: one packet's pass through one network namespace, from
 * our arm chain (the first chain of prerouting/output) to the last chain it crossed there, with
 * the marks after each rule. Marks come from the kernel where it reported them (the first event
 * of each base chain and our end-of-hook chains) and are derived from the rule's target in
 * between (MARK / TPROXY set-xmark semantics); a mismatch with the kernel is reported.
 */
import { TRACE_CHAINS, TRACE_TABLE_PREFIX } from '../sys/nftrace.js';
import type { Hook, MatchedRule, PacketInfo, TproxyRedirect, TraceEvent } from './model.js';

export interface Traversal {
  netns: string;
  id: string;
  events: TraceEvent[];
  packet: PacketInfo;
  hooks: Hook[];
  rules: MatchedRule[];
  inDev?: string;
  outDev?: string;
  markIn: number;
  /** Mark when routing ran (end of prerouting, or of output for local packets). */
  markRoute: number;
  markOut: number;
  /** Destination/source as routed (after any DNAT in prerouting/output). */
  routeDst: string;
  routeSrc: string;
  tproxy?: TproxyRedirect;
  warnings: string[];
}

const BASE_HOOKS: Record<string, Hook> = {
  PREROUTING: 'prerouting',
  INPUT: 'input',
  FORWARD: 'forward',
  OUTPUT: 'output',
  POSTROUTING: 'postrouting',
  [TRACE_CHAINS.arm.prerouting]: 'prerouting',
  [TRACE_CHAINS.arm.output]: 'output',
  [TRACE_CHAINS.end.prerouting]: 'prerouting',
  [TRACE_CHAINS.end.output]: 'output',
};

const END_CHAINS = new Set<string>(Object.values(TRACE_CHAINS.end));
const ARM_CHAINS = new Set<string>(Object.values(TRACE_CHAINS.arm));

export function isTraceTable(table: string): boolean {
  return table.startsWith(TRACE_TABLE_PREFIX);
}

function num(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n >>> 0 : undefined;
}

/** The mark after `rule` given the mark before it; undefined when the rule makes it unknowable. */
export function markAfterRule(rule: string, before: number): number | undefined {
  const xmark = (spec: string) => {
    const [v, m] = spec.split('/');
    const value = num(v) ?? 0;
    const mask = m === undefined ? 0xffffffff : (num(m) ?? 0xffffffff);
    return ((before & ~mask) ^ value) >>> 0;
  };
  let m = /-j MARK --set-xmark (\S+)/.exec(rule);
  if (m) return xmark(m[1]!);
  m = /-j MARK --set-mark (\S+)/.exec(rule);
  if (m) {
    const [v, mask] = m[1]!.split('/');
    const value = num(v) ?? 0;
    const msk = mask === undefined ? 0xffffffff : (num(mask) ?? 0xffffffff);
    return ((before & ~msk) | value) >>> 0;
  }
  m = /-j MARK --or-mark (\S+)/.exec(rule);
  if (m) return (before | (num(m[1]) ?? 0)) >>> 0;
  m = /-j MARK --and-mark (\S+)/.exec(rule);
  if (m) return (before & (num(m[1]) ?? 0xffffffff)) >>> 0;
  m = /-j TPROXY .*--tproxy-mark (\S+)/.exec(rule);
  if (m) return xmark(m[1]!);
  if (/-j CONNMARK\b.*--restore-mark/.test(rule)) return undefined;
  return before;
}

export function parseTproxy(rule: string): TproxyRedirect | undefined {
  if (!/-j TPROXY\b/.test(rule)) return undefined;
  const port = /--on-port (\d+)/.exec(rule)?.[1];
  const ip = /--on-ip (\S+)/.exec(rule)?.[1] ?? '0.0.0.0';
  const mark = /--tproxy-mark (\S+)/.exec(rule)?.[1] ?? '';
  return { ip, port: Number(port ?? 0), mark };
}

function finish(t: Traversal): void {
  let mark = t.markIn;
  let known = true;
  let hook: Hook | undefined;
  for (const ev of t.events) {
    if (ev.packet) {
      const h = BASE_HOOKS[ev.chain];
      if (h) hook = h;
      if (hook && !t.hooks.includes(hook)) t.hooks.push(hook);
      if (ev.packet.iif && hook === 'prerouting' && !t.inDev) t.inDev = ev.packet.iif;
      if (ev.packet.oif) t.outDev = ev.packet.oif;
    }
    const ours = isTraceTable(ev.table);
    if (ev.kind === 'rule' && !ours && ev.rule) {
      let after = markAfterRule(ev.rule, mark);
      let k: boolean = known && after !== undefined;
      if (ev.packet) {
        // The kernel's own value for the mark right after this rule.
        after = ev.packet.mark;
        k = true;
      }
      mark = after ?? mark;
      known = k;
      t.rules.push({
        ...(hook ? { hook } : {}),
        table: ev.table,
        chain: ev.chain,
        rule: ev.rule,
        verdict: ev.target ? `${ev.verdict} ${ev.target}` : ev.verdict,
        markAfter: mark,
        markKnown: k,
      });
      const tp = parseTproxy(ev.rule);
      if (tp) t.tproxy = tp;
    } else if (ev.packet && ours && END_CHAINS.has(ev.chain)) {
      if (known && ev.packet.mark !== mark) {
        t.warnings.push(
          `${t.netns}: derived mark 0x${mark.toString(16)} but kernel reported 0x${ev.packet.mark.toString(16)} at ${ev.chain}`,
        );
      }
      mark = ev.packet.mark;
      known = true;
      if (ev.chain === TRACE_CHAINS.end.prerouting || ev.chain === TRACE_CHAINS.end.output) {
        t.markRoute = mark;
        t.routeDst = ev.packet.dst;
        t.routeSrc = ev.packet.src;
      }
    } else if (ev.packet && !ours) {
      mark = ev.packet.mark;
      known = true;
    }
  }
  t.markOut = mark;
}

/** Builds traversals from events (any order of namespaces; per-namespace order preserved). */
export function buildTraversals(events: readonly TraceEvent[]): Traversal[] {
  const out: Traversal[] = [];
  const open = new Map<string, Traversal>();
  const sorted = [...events].sort((a, b) => a.seq - b.seq);
  for (const ev of sorted) {
    const key = `${ev.netns}/${ev.id}`;
    const starts = isTraceTable(ev.table) && ARM_CHAINS.has(ev.chain) && ev.packet;
    let t = open.get(key);
    if (starts || !t) {
      const p = ev.packet ?? { src: '', dst: '', proto: '', flags: [], mark: 0 };
      t = {
        netns: ev.netns,
        id: ev.id,
        events: [],
        packet: p,
        hooks: [],
        rules: [],
        markIn: p.mark,
        markRoute: p.mark,
        markOut: p.mark,
        routeDst: p.dst,
        routeSrc: p.src,
        warnings: [],
      };
      open.set(key, t);
      out.push(t);
    }
    t.events.push(ev);
  }
  for (const t of out) finish(t);
  // Readiness probes are ours, not the user's traffic.
  return out.filter((t) => !(t.packet.proto === 'udp' && t.packet.dst === '127.0.0.1'));
}
