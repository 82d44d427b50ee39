/**
 * Route choice on an ingress gateway: the request's Host picks the listener among those on
 * its port (ingress/hosts.ts `pickListener`), then, among that listener's route entries that
 * match the request, the route whose hostnames match Host most specifically wins, and on a
 * tie the Gateway API match precedence the table is sorted by (routing/table.ts). No listener
 * or no entry for the Host: no match (the handler answers 404).
 */
import type { IngressListener } from '../../api/waypoint-config.js';
import type { RouteRequest } from '../routing/request.js';
import type { RouteChoice } from '../routing/select.js';
import type { RouteEntry, RouteTable } from '../routing/table.js';
import { hostRank, normalizeHost } from '../../api/hostnames.js';
import { pickListener } from './hosts.js';

export function selectIngressRoute(
  table: RouteTable | undefined,
  listeners: readonly IngressListener[],
  authority: string,
  r: RouteRequest,
): RouteChoice {
  const host = normalizeHost(authority);
  const listener = pickListener(listeners, host);
  if (!listener || !table) return { kind: 'no-match' };
  const mine = (list: RouteEntry[]) => list.filter((e) => e.listener === listener.name);
  const grpc = mine(table.grpc);
  const entries = r.grpc && grpc.length > 0 ? grpc : mine(table.http);
  let best: RouteEntry | undefined;
  let bestRank: [number, number] | undefined;
  for (const e of entries) {
    const rank = hostRank(
      e.hostnames ?? (listener.hostname ? [listener.hostname] : undefined),
      host,
    );
    if (!rank || !e.match.test(r)) continue;
    // Strictly better only: the table's order settles ties.
    if (!bestRank || rank[0] > bestRank[0] || (rank[0] === bestRank[0] && rank[1] > bestRank[1])) {
      best = e;
      bestRank = rank;
    }
  }
  return best ? { kind: 'matched', entry: best } : { kind: 'no-match' };
}
