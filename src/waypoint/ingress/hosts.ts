/**
 * Listener selection for an ingress gateway: a Gateway listener's `hostname` and an
 * HTTPRoute's `hostnames` against a request's Host (or a TLS ClientHello's SNI), with the
 * hostname rules of src/api/hostnames.ts.
 *
 * - A listener without `hostname` takes every host; among listeners sharing a port the most
 *   specific one that matches wins: an exact name, else the longest wildcard, else none.
 * - A route attaches to a listener only when their hostnames intersect; a request then needs
 *   a Host that the route's hostnames (or, without any, the listener's) match. Among routes
 *   whose hostnames match, precedence goes to the most characters in a matching non-wildcard
 *   hostname, then in a matching hostname; ties fall back to the match precedence of
 *   routing/table.ts.
 */

import { hostRank } from '../../api/hostnames.js';

/** The most specific listener for `host` among those sharing a port (undefined: none matches). */
export function pickListener<L extends { hostname?: string }>(
  listeners: readonly L[],
  host: string,
): L | undefined {
  let best: L | undefined;
  let bestRank: [number, number] | undefined;
  for (const l of listeners) {
    const r = hostRank(l.hostname ? [l.hostname] : undefined, host);
    if (!r) continue;
    if (!bestRank || r[0] > bestRank[0] || (r[0] === bestRank[0] && r[1] > bestRank[1])) {
      best = l;
      bestRank = r;
    }
  }
  return best;
}
