/**
 * The HBONE request/response headers ztunnel sends (docs/istio/ztunnel.md §2.1): `baggage` describing a
 * workload, `forwarded` carrying the original client address, a random W3C `traceparent`.
 */
import { randomFillSync } from 'node:crypto';
import net from 'node:net';
import type { Workload } from '../api/workload.js';

export function baggage(w: Workload): string {
  const parts = [
    `k8s.cluster.name=${w.clusterId || 'Kubernetes'}`,
    `k8s.namespace.name=${w.namespace}`,
    `k8s.${w.workloadType || 'pod'}.name=${w.workloadName || w.name}`,
    `service.name=${w.canonicalName || w.workloadName || w.name}`,
    `service.version=${w.canonicalRevision || 'latest'}`,
  ];
  return parts.join(',');
}

/** `baggage` back into key/values; tolerant of junk (it comes from the network). */
export function parseBaggage(h: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const part of h.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

export function forwarded(clientIp: string, clientPort: number, host?: string): string {
  return `for="${clientIp}:${clientPort}"` + (host ? `;host=${host}` : '');
}

/** The client IP from `forwarded: for="ip:port"` / `for=ip`; undefined if absent or malformed. */
export function forwardedFor(h: string | undefined): string | undefined {
  if (!h) return undefined;
  const first = h.split(',')[0] ?? '';
  for (const kv of first.split(';')) {
    const [k, v] = kv.split('=', 2);
    if (k?.trim().toLowerCase() !== 'for' || v === undefined) continue;
    let val = v.trim().replace(/^"|"$/g, '');
    const m = /^(\d+\.\d+\.\d+\.\d+)(?::\d+)?$/.exec(val);
    if (m) val = m[1]!;
    return net.isIPv4(val) ? val : undefined;
  }
  return undefined;
}

/**
 * Random bytes for trace ids, drawn from the CSPRNG 4 KiB at a time: two randomBytes() calls
 * per connection (a getrandom each, plus two buffers) were 5% of the client ztunnel's CPU at
 * a high connection rate (bench/l4-pair.ts conn, --cpu-prof). Each id still gets fresh bytes.
 */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;

export function traceparent(): string {
  if (poolAt + 24 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const at = poolAt;
  poolAt += 24;
  return `00-${pool.toString('hex', at, at + 16)}-${pool.toString('hex', at + 16, at + 24)}-00`;
}

/** `ip:port` authority → parts; undefined when malformed. */
export function parseAuthority(a: string): { ip: string; port: number } | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(a);
  if (!m || !net.isIPv4(m[1]!)) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { ip: m[1]!, port };
}

export function plainIp(a: string | undefined): string {
  if (!a) return '';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}
