/**
 * Per-request choices: the route rule (or the service's default route when no route is
 * attached; GAMMA rejects unmatched requests with 404 once any route is), and a backend by
 * weight.
 */
import type { RouteBackend } from '../../api/waypoint-config.js';
import type { RouteRequest } from './request.js';
import type { RouteEntry, RouteTable } from './table.js';

export type RouteChoice =
  { kind: 'default' } | { kind: 'matched'; entry: RouteEntry } | { kind: 'no-match' };

export function selectRoute(table: RouteTable | undefined, r: RouteRequest): RouteChoice {
  if (!table || (table.http.length === 0 && table.grpc.length === 0)) return { kind: 'default' };
  // gRPC requests use GRPCRoutes when any is attached, else HTTPRoutes (they are HTTP/2 POSTs).
  const entries = r.grpc && table.grpc.length > 0 ? table.grpc : table.http;
  const entry = entries.find((e) => e.match.test(r));
  return entry ? { kind: 'matched', entry } : { kind: 'no-match' };
}

/** Weighted random pick; undefined when no backend has weight (Gateway API: 500). */
export function pickBackend(
  backends: RouteBackend[],
  random: () => number = Math.random,
): RouteBackend | undefined {
  const total = backends.reduce((n, b) => n + Math.max(0, b.weight), 0);
  if (total <= 0) return undefined;
  let x = random() * total;
  for (const b of backends) {
    const w = Math.max(0, b.weight);
    if (w === 0) continue;
    if (x < w) return b;
    x -= w;
  }
  return backends.filter((b) => b.weight > 0).at(-1);
}
