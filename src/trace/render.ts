/**
 * Text rendering of a traced path, the way seed 000 tells it: three parts (one per TCP
 * connection), and within each the first packet, the first reply and later packets, hop by
 * hop: namespace, in/out device, the netfilter rules that matched with the marks they set,
 * the ip rule and route table the kernel used, and the TPROXY redirect.
 */
import type { ConnectionPath, Hop, PacketKind, TracePath } from './model.js';

const KIND_TITLE: Record<PacketKind, string> = {
  first: 'first packet (SYN) →',
  'first-reply': 'first reply (SYN-ACK) ←',
  later: 'later packet →',
  'later-reply': 'later reply ←',
};

const hex = (n: number) => `0x${n.toString(16)}`;

function ruleSpec(rule: string): string {
  return rule.replace(/^-A\s+\S+\s*/, '');
}

export function renderHop(h: Hop): string[] {
  const lines: string[] = [];
  if (h.viaBridge) lines.push(`    ~ across ${h.viaBridge} (bridge)`);
  const from = h.inDev ? `in ${h.inDev}` : 'from a local socket';
  const to = h.bridged
    ? `bridged${h.outDev && h.outDev !== h.inDev ? ` out ${h.outDev}` : ''}`
    : h.outDev
      ? `out ${h.outDev}`
      : h.tproxy
        ? `to local socket ${h.tproxy.ip}:${h.tproxy.port}`
        : h.delivered || h.hooks.includes('input')
          ? 'to a local socket'
          : 'out ? (no chain or route reported it)';
  const tuple = `${h.src}:${h.sport ?? ''} → ${h.dst}:${h.dport ?? ''} ${h.flags.join(',')}`;
  lines.push(`    [${h.name}] ${from} → ${to}   (${tuple})`);
  const routeLines: string[] = [];
  if (h.tproxy) {
    routeLines.push(
      `      TPROXY → ${h.tproxy.ip}:${h.tproxy.port} (original destination ${h.dst}:${h.dport ?? ''} kept) mark ${h.tproxy.mark}`,
    );
  }
  if (h.route) {
    const rule = h.ipRule ? `rule ${h.ipRule}` : `table ${h.routeTable ?? '?'}`;
    routeLines.push(`      ${rule} → ${h.route}`);
  }
  // Routing runs after prerouting (or output): print it where the kernel made the decision.
  let routed = false;
  let prev = h.markIn;
  for (const r of h.rules) {
    if (!routed && r.hook && r.hook !== 'prerouting' && r.hook !== 'output') {
      lines.push(...routeLines);
      routed = true;
    }
    let s = `      ${r.table} ${r.chain}: ${ruleSpec(r.rule)}`;
    if (r.markAfter !== prev) s += r.markKnown ? ` → mark ${hex(r.markAfter)}` : ' → mark ?';
    prev = r.markAfter;
    lines.push(s);
  }
  if (!routed) lines.push(...routeLines);
  return lines;
}

export function renderConnection(c: ConnectionPath): string[] {
  const lines = [`${c.title}   [${c.client} → ${c.server}]`];
  for (const p of c.packets) {
    lines.push(`  ${KIND_TITLE[p.kind]}`);
    for (const h of p.hops) lines.push(...renderHop(h));
  }
  for (const ct of c.conntrack) {
    // conntrack prints the connection mark in decimal; the rules speak hex.
    const line = ct.line.replace(
      /\bmark=(\d+)/,
      (_m, d: string) => `mark=${d} (0x${Number(d).toString(16)})`,
    );
    lines.push(`  conntrack [${ct.netns}] ${line}`);
  }
  return lines;
}

export function renderPath(p: TracePath): string {
  const lines: string[] = [];
  if (p.connections.length === 0) lines.push('(no traced packets)');
  for (const c of p.connections) lines.push(...renderConnection(c), '');
  for (const w of p.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}
