/**
 * Gateway API hostnames, as both the control plane (which listeners a route attaches to, for
 * its status) and the waypoint (which route a request's Host or SNI selects) read them:
 *
 * - A hostname is exact (`bookinfo.example.com`) or a wildcard `*.example.com`, which matches
 *   any name with at least one more label in front (`a.example.com`, `a.b.example.com`), never
 *   `example.com` itself. Matching ignores case and a `:port`.
 * - A route attaches to a listener only when their hostnames intersect (a listener or a route
 *   without hostnames intersects everything).
 */

/** Host as matched: lower case, no port, no trailing dot. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  if (colon >= 0 && /^\d*$/.test(h.slice(colon + 1))) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** True when `pattern` (exact or `*.suffix`) matches `host` (already normalized). */
export function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  if (!p.startsWith('*.')) return p === host;
  const suffix = p.slice(1); // ".example.com"
  return host.length > suffix.length && host.endsWith(suffix);
}

/** True when some name matches both patterns (Gateway API's hostname intersection). */
export function hostsIntersect(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x === y) return true;
  if (x.startsWith('*.') && y.startsWith('*.'))
    return x.endsWith(y.slice(1)) || y.endsWith(x.slice(1));
  if (x.startsWith('*.')) return hostMatches(x, y);
  if (y.startsWith('*.')) return hostMatches(y, x);
  return false;
}

/**
 * How specific a match of `host` by one of `patterns` is: [characters of the best matching
 * exact name, characters of the best matching name]; undefined when none matches. No
 * patterns: every host matches, least specifically.
 */
export function hostRank(
  patterns: readonly string[] | undefined,
  host: string,
): [number, number] | undefined {
  if (!patterns || patterns.length === 0) return [0, 0];
  let best: [number, number] | undefined;
  for (const p of patterns) {
    if (!hostMatches(p, host)) continue;
    const r: [number, number] = [p.startsWith('*.') ? 0 : p.length, p.length];
    if (!best || r[0] > best[0] || (r[0] === best[0] && r[1] > best[1])) best = r;
  }
  return best;
}

/**
 * True when a route with `routeHosts` may attach to a listener with `listenerHost`: either has
 * none, or some pair intersects.
 */
export function routeFitsListener(
  listenerHost: string | undefined,
  routeHosts: readonly string[] | undefined,
): boolean {
  if (!listenerHost || !routeHosts || routeHosts.length === 0) return true;
  return routeHosts.some((h) => hostsIntersect(listenerHost, h));
}
