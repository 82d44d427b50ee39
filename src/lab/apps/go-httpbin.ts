/**
 * The routes where mccutchen/go-httpbin (the image of Istio's httpbin sample) answers in its
 * own shapes rather than python httpbin's: header values and query arguments as lists, Go's
 * canonical header names (Host included), `method` in the request dicts, fields in Go struct
 * order, `origin` = the first X-Forwarded-For entry or the peer, /hostname "go-httpbin" (the
 * image's default without -use-real-hostname). Everything else is served by the python routes.
 */
import type http from 'node:http';

/** textproto.CanonicalMIMEHeaderKey: first letter and each letter after '-' upper-case. */
export function canonicalHeader(name: string): string {
  return name
    .toLowerCase()
    .split('-')
    .map((p) => (p ? p[0]!.toUpperCase() + p.slice(1) : p))
    .join('-');
}

export function goHeaders(req: http.IncomingMessage): Record<string, string[]> {
  const h: Record<string, string[]> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = canonicalHeader(raw[i]!);
    (h[k] ??= []).push(raw[i + 1]!);
  }
  return Object.fromEntries(Object.entries(h).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export function goOrigin(req: http.IncomingMessage): string {
  const xff = req.headers['x-forwarded-for'];
  if (typeof xff === 'string' && xff) return xff.split(',')[0]!.trim();
  const addr = req.socket.remoteAddress ?? '';
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

function goArgs(search: URLSearchParams): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const key of new Set(search.keys())) out[key] = search.getAll(key);
  return out;
}

function sendGo(res: http.ServerResponse, value: unknown): void {
  const body = JSON.stringify(value, null, 2) + '\n';
  res.writeHead(200, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Credentials': 'true',
  });
  res.end(body);
}

/** Answers the go-httpbin-shaped routes; false when the python routes should answer. */
export function goRoute(req: http.IncomingMessage, res: http.ServerResponse, url: URL): boolean {
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') return false;
  switch (url.pathname) {
    case '/get':
      sendGo(res, {
        args: goArgs(url.searchParams),
        headers: goHeaders(req),
        method,
        origin: goOrigin(req),
        url: url.toString(),
      });
      return true;
    case '/headers':
      sendGo(res, { headers: goHeaders(req) });
      return true;
    case '/ip':
      sendGo(res, { origin: goOrigin(req) });
      return true;
    case '/hostname':
      sendGo(res, { hostname: 'go-httpbin' });
      return true;
    default:
      return false;
  }
}
