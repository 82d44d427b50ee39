/**
 * Adds the kernel's routing decision to every hop: `ip route get <dst> from <src> iif <dev>
 * mark <mark>` in the hop's namespace with the mark the packet carried when routing ran, and
 * the ip rule that selected the table the kernel answered from.
 */
import type { Correlated } from './correlate.js';
import { parseIpRules, parseRouteGet, ruleForTable, tableName, type IpRule } from './route.js';

export interface RouteOracle {
  routeGet(
    netns: string,
    q: { dst: string; src?: string; iif?: string; mark?: number },
  ): Promise<{ ok: boolean; text: string }>;
  rules(netns: string): Promise<string>;
}

function queryText(q: { dst: string; src?: string; iif?: string; mark?: number }): string {
  let s = `ip route get ${q.dst}`;
  if (q.src) s += ` from ${q.src}`;
  if (q.iif) s += ` iif ${q.iif}`;
  if (q.mark) s += ` mark 0x${q.mark.toString(16)}`;
  return s;
}

export async function addRoutes(c: Correlated, oracle: RouteOracle): Promise<string[]> {
  const warnings: string[] = [];
  const rulesCache = new Map<string, IpRule[]>();
  for (const [hop, t] of c.traversals) {
    const routed = t.hooks.includes('prerouting') || t.hooks.includes('output');
    // A bridged packet (in and out the same bridge) is switched, not routed.
    if (!routed || !t.routeDst || hop.bridged || (t.inDev !== undefined && t.inDev === t.outDev)) {
      continue;
    }
    const fromOutside = t.hooks.includes('prerouting');
    let q: { dst: string; src?: string; iif?: string; mark?: number } = {
      dst: t.routeDst,
      src: t.routeSrc,
      mark: t.markRoute,
    };
    if (fromOutside && t.inDev) q.iif = t.inDev;
    let r = await oracle.routeGet(t.netns, q);
    if (!r.ok && !fromOutside) {
      // A spoofed (IP_TRANSPARENT) source is not local: ask as the socket's route lookup would.
      q = { dst: t.routeDst, mark: t.markRoute };
      r = await oracle.routeGet(t.netns, q);
    }
    hop.routeQuery = queryText(q);
    if (!r.ok) {
      hop.route = `(kernel: ${r.text})`;
      warnings.push(`${t.netns}: ${hop.routeQuery}: ${r.text}`);
      continue;
    }
    const res = parseRouteGet(r.text);
    if (!res) continue;
    hop.route = res.line;
    if (res.local) hop.delivered = true;
    // No chain after routing reported the device: the kernel's route names it.
    if (!hop.outDev && !res.local && res.dev) {
      hop.outDev = res.dev;
      t.outDev = res.dev;
    }
    hop.routeTable = tableName(res.table);
    let rules = rulesCache.get(t.netns);
    if (!rules) {
      rules = parseIpRules(await oracle.rules(t.netns));
      rulesCache.set(t.netns, rules);
    }
    const pkt: { src: string; dst: string; iif?: string; mark: number } = {
      src: t.routeSrc,
      dst: t.routeDst,
      mark: t.markRoute,
    };
    if (fromOutside && t.inDev) pkt.iif = t.inDev;
    const m = ruleForTable(rules, pkt, res.table);
    if (m) hop.ipRule = m.via ? `${m.via.text} ⇒ ${m.rule.text}` : m.rule.text;
  }
  return warnings;
}
