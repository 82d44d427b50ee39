/** Header plumbing shared by the HTTP/1.1 and HTTP/2 sides. */
import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderMap } from '../routing/filters.js';

/** Connection-specific headers never forwarded (RFC 9110 §7.6.1; forbidden in HTTP/2). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
  'http2-settings',
]);

/** `connection` values that name no header beyond the hop-by-hop ones (Node's client sends one). */
const PLAIN_CONNECTION = new Set(['keep-alive', 'close', 'upgrade']);

/**
 * Request/response headers minus pseudo-headers and hop-by-hop ones; `te: trailers` survives.
 * Names come lower-case from Node's HTTP/1.1 parser and HTTP/2 (as HTTP/2 requires): they are
 * not lower-cased again (a string per header per message).
 */
export function endToEnd(
  h: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
): HeaderMap {
  const out: HeaderMap = {};
  // Names listed in `connection` are hop-by-hop too; most requests name none (keep-alive).
  const conn = h.connection;
  const named =
    conn === undefined || PLAIN_CONNECTION.has(String(conn).toLowerCase())
      ? undefined
      : new Set(
          String(conn)
            .split(',')
            .map((s) => s.trim().toLowerCase())
            .filter(Boolean),
        );
  for (const name in h) {
    const v = h[name];
    if (v === undefined || name.charCodeAt(0) === 58 /* ':' */) continue;
    if (name === 'te') {
      if (String(v).toLowerCase().includes('trailers')) out.te = 'trailers';
      continue;
    }
    if (HOP_BY_HOP.has(name) || named?.has(name)) continue;
    out[name] = Array.isArray(v) ? [...v] : String(v);
  }
  return out;
}

/** One string per header for matching and policy: repeated values joined by `,`. */
export function joined(h: HeaderMap): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k] = Array.isArray(v) ? v.join(',') : v;
  return out;
}

export function first(h: HeaderMap, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

export function isGrpc(h: HeaderMap): boolean {
  return (first(h, 'content-type') ?? '').startsWith('application/grpc');
}
