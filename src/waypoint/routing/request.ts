/** The parts of an HTTP request that routing looks at, independent of HTTP/1.1 or HTTP/2. */

export interface RouteRequest {
  method: string;
  /** Path without the query string, as received. */
  path: string;
  /** Raw query string without `?` ('' when none). */
  query: string;
  /** Lower-case names; repeated headers joined with `,`. */
  headers: Record<string, string>;
  /** True for gRPC (content-type application/grpc…). */
  grpc: boolean;
}

/** Splits a request target into path and query. */
export function splitTarget(target: string): { path: string; query: string } {
  const i = target.indexOf('?');
  return i < 0
    ? { path: target, query: '' }
    : { path: target.slice(0, i), query: target.slice(i + 1) };
}

/** The first value of each query parameter (Gateway API matches only the first). */
export function firstQueryValues(query: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!query) return out;
  for (const [k, v] of new URLSearchParams(query)) if (!out.has(k)) out.set(k, v);
  return out;
}

/**
 * RFC 3986 dot-segment removal (Istio's default BASE normalization for policy); double
 * slashes are kept, as Istio does by default.
 */
export function normalizePath(path: string): string {
  if (!path.startsWith('/')) path = '/' + path;
  if (!path.includes('.')) return path;
  const out: string[] = [];
  const segs = path.split('/').slice(1);
  segs.forEach((s, i) => {
    if (s === '.') {
      if (i === segs.length - 1) out.push('');
    } else if (s === '..') {
      out.pop();
      if (i === segs.length - 1) out.push('');
    } else out.push(s);
  });
  return '/' + out.join('/');
}
