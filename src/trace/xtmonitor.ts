/**
 * Parser for `xtables-monitor --trace` output. Each kernel event is one `TRACE:` line; the
 * first event of each base chain traversal is preceded by a `PACKET:` line with the headers,
 * devices and mark the kernel attached to that event.
 *
 *   PACKET: 2 93e8d214 IN=veth1 MACSRC=.. SRC=10.9.0.2 DST=10.9.0.1 LEN=60 .. ID=39009 DF SPORT=40001 DPORT=8080 SYN MARK=0x100
 *    TRACE: 2 93e8d214 mangle:ztunnel-PREROUTING:rule:0x4:CONTINUE  -4 -t mangle -A ztunnel-PREROUTING -p tcp ...
 *    TRACE: 2 93e8d214 mangle:PREROUTING:rule:0x3:JUMP:ztunnel-PREROUTING  -4 -t mangle -A PREROUTING -j ztunnel-PREROUTING
 *    TRACE: 2 93e8d214 mangle:PREROUTING:policy:ACCEPT
 */
import type { MonitorLine } from '../sys/nftrace.js';
import type { PacketInfo, TraceEvent } from './model.js';

const TCP_FLAGS = new Set(['SYN', 'ACK', 'FIN', 'RST', 'PSH', 'URG', 'ECE', 'CWR']);

export function parsePacketLine(rest: string): PacketInfo {
  const p: PacketInfo = { src: '', dst: '', proto: '', flags: [], mark: 0 };
  for (const tok of rest.trim().split(/\s+/)) {
    const eq = tok.indexOf('=');
    if (eq < 0) {
      if (TCP_FLAGS.has(tok)) p.flags.push(tok);
      continue;
    }
    const k = tok.slice(0, eq);
    const v = tok.slice(eq + 1);
    switch (k) {
      case 'IN':
        p.iif = v;
        break;
      case 'OUT':
        p.oif = v;
        break;
      case 'SRC':
        p.src = v;
        break;
      case 'DST':
        p.dst = v;
        break;
      case 'LEN':
        p.len = Number(v);
        break;
      case 'ID':
        p.ipId = Number(v);
        break;
      case 'PROTO':
        p.proto = v.toLowerCase();
        break;
      case 'SPORT':
        p.sport = Number(v);
        break;
      case 'DPORT':
        p.dport = Number(v);
        break;
      case 'MARK':
        p.mark = Number(v);
        break;
    }
  }
  // xtables-monitor prints PROTO= only for protocols other than TCP/UDP with ports.
  if (!p.proto) p.proto = p.flags.length > 0 ? 'tcp' : p.sport !== undefined ? 'udp' : 'ip';
  return p;
}

/**
 * Parses monitor lines (from any number of namespaces, in receipt order) into events. A PACKET
 * line belongs to the next TRACE line of the same namespace and trace id.
 */
export function parseMonitorLines(lines: readonly MonitorLine[]): TraceEvent[] {
  const pending = new Map<string, PacketInfo>();
  const events: TraceEvent[] = [];
  for (const l of lines) {
    const text = l.text.trim();
    let m = /^PACKET:\s+\d+\s+([0-9a-f]+)\s+(.*)$/.exec(text);
    if (m) {
      const packet = parsePacketLine(m[2]!);
      // A TCP packet line always has ports; "PROTO=" appears for others.
      pending.set(`${l.netns}/${m[1]!}`, packet);
      continue;
    }
    m = /^TRACE:\s+\d+\s+([0-9a-f]+)\s+(\S+)(?:\s+(.*))?$/.exec(text);
    if (!m) continue;
    const id = m[1]!;
    const fields = m[2]!.split(':');
    const [table, chain, kind] = fields;
    if (!table || !chain || (kind !== 'rule' && kind !== 'policy' && kind !== 'return')) continue;
    let i = 3;
    let handle: number | undefined;
    if (fields[i]?.startsWith('0x')) handle = parseInt(fields[i++]!, 16);
    const verdict = (fields[i++] ?? '').toUpperCase();
    const target = fields[i] || undefined;
    const ev: TraceEvent = { seq: l.seq, netns: l.netns, id, table, chain, kind, verdict };
    if (handle !== undefined) ev.handle = handle;
    if (target) ev.target = target;
    const ruleText = m[3]?.trim();
    if (ruleText) ev.rule = ruleText.replace(/^-4\s+/, '').replace(/^-t\s+\S+\s+/, '');
    const key = `${l.netns}/${id}`;
    const packet = pending.get(key);
    if (packet) {
      ev.packet = packet;
      pending.delete(key);
    }
    events.push(ev);
  }
  return events;
}
