/**
 * A built-in httpbin (the app of the seeds' scenario): the endpoints the mesh tests use, with
 * python httpbin's JSON shapes (sorted keys, 2-space indent, `Title-Case` header names, `origin`
 * from X-Forwarded-For or the peer address).
 */
import { goRoute } from './go-httpbin.js';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../log.js';
import { parseStatusCodes, statusReply, weightedChoice } from './httpbin-status.js';

export const MAX_DELAY_S = 10;
export const MAX_BYTES = 100 * 1024 * 1024;
const MAX_BODY = 10 * 1024 * 1024;

/** Headers httpbin hides unless `?show_env=1` (they describe the hosting, not the client). */
const ENV_HEADERS = new Set(
  [
    'X-Varnish',
    'X-Request-Start',
    'X-Heroku-Queue-Depth',
    'X-Real-Ip',
    'X-Forwarded-Proto',
    'X-Forwarded-Protocol',
    'X-Forwarded-Ssl',
    'X-Heroku-Queue-Wait-Time',
    'X-Forwarded-For',
    'X-Heroku-Dynos-In-Use',
    'X-Forwarded-Port',
    'X-Request-Id',
    'Via',
    'Total-Route-Time',
    'Connect-Time',
  ].map((h) => h.toLowerCase()),
);

/** Python's str.title(): upper-case after any non-letter, lower-case elsewhere. */
export function titleCase(name: string): string {
  let out = '';
  let prevLetter = false;
  for (const ch of name) {
    const isLetter = ch.toLowerCase() !== ch.toUpperCase();
    out += isLetter ? (prevLetter ? ch.toLowerCase() : ch.toUpperCase()) : ch;
    prevLetter = isLetter;
  }
  return out;
}

/** JSON with keys sorted at every level, as Flask's jsonify writes it. */
export function httpbinJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2) + '\n';
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) o[k] = sortKeys((v as Record<string, unknown>)[k]);
    return o;
  }
  return v;
}

export function requestHeaders(
  req: http.IncomingMessage,
  showEnv: boolean,
): Record<string, string> {
  const h: Record<string, string> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (!showEnv && ENV_HEADERS.has(name.toLowerCase())) continue;
    const key = titleCase(name);
    h[key] = h[key] === undefined ? raw[i + 1]! : `${h[key]},${raw[i + 1]!}`;
  }
  return h;
}

export function origin(req: http.IncomingMessage): string {
  const xff = req.headers['x-forwarded-for'];
  if (typeof xff === 'string' && xff) return xff;
  const addr = req.socket.remoteAddress ?? '';
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

/** Query arguments: one value → string, repeated → list (werkzeug's MultiDict as httpbin shows it). */
export function queryArgs(search: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(search.keys())) {
    const all = search.getAll(key);
    out[key] = all.length === 1 ? all[0]! : all;
  }
  return out;
}

/** A small, seedable PRNG (mulberry32) so `/bytes/n?seed=s` is reproducible. */
export function seededBytes(seed: number): (n: number) => Buffer {
  let a = seed >>> 0;
  return (n) => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      b[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
    }
    return b;
  };
}

interface Ctx {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  log: Logger | undefined;
}

function send(ctx: Ctx, status: number, headers: Record<string, string>, body: string | Buffer) {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  ctx.res.writeHead(status, {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Credentials': 'true',
    'Content-Length': String(buf.length),
    ...headers,
  });
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : buf);
}

function sendJson(ctx: Ctx, value: unknown, status = 200): void {
  send(ctx, status, { 'Content-Type': 'application/json' }, httpbinJson(value));
}

function notFound(ctx: Ctx): void {
  send(
    ctx,
    404,
    { 'Content-Type': 'text/html' },
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<title>404 Not Found</title>\n' +
      '<h1>Not Found</h1>\n<p>The requested URL was not found on the server.  If you entered ' +
      'the URL manually please check your spelling and try again.</p>\n',
  );
}

function methodNotAllowed(ctx: Ctx, allowed: string[]): void {
  send(
    ctx,
    405,
    { 'Content-Type': 'text/html', Allow: allowed.join(', ') },
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<title>405 Method Not Allowed</title>\n' +
      '<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n',
  );
}

function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve(undefined);
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_BODY ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function baseDict(ctx: Ctx): Record<string, unknown> {
  const showEnv = ctx.url.searchParams.has('show_env');
  return {
    args: queryArgs(ctx.url.searchParams),
    headers: requestHeaders(ctx.req, showEnv),
    origin: origin(ctx.req),
    url: ctx.url.toString(),
  };
}

/** The request-describing dict of /anything, /post, /delay: body as data, form or json. */
async function fullDict(ctx: Ctx): Promise<Record<string, unknown> | undefined> {
  const body = await readBody(ctx.req);
  if (!body) return undefined;
  const ctype = (ctx.req.headers['content-type'] ?? '').toLowerCase();
  let data = body.toString('utf8');
  let form: Record<string, string | string[]> = {};
  let json: unknown = null;
  if (ctype.startsWith('application/x-www-form-urlencoded')) {
    form = queryArgs(new URLSearchParams(data));
    data = '';
  } else {
    try {
      json = data ? (JSON.parse(data) as unknown) : null;
    } catch {
      json = null;
    }
  }
  return { ...baseDict(ctx), data, files: {}, form, json };
}

const INDEX = `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>httpbin</title></head>
<body>
<h1>httpbin (ambit built-in)</h1>
<p>A simple HTTP Request &amp; Response Service.</p>
<ul>
<li><a href="/get">/get</a> the request's query arguments, headers, origin and URL</li>
<li><a href="/headers">/headers</a> the request's headers</li>
<li><a href="/ip">/ip</a> the caller's address</li>
<li>/status/{codes} a status code (or a random one of <code>200,404</code>)</li>
<li>/delay/{n} answers after n seconds (at most ${MAX_DELAY_S})</li>
<li>/bytes/{n} n random bytes (<code>?seed=</code> for reproducible ones)</li>
<li><a href="/anything">/anything</a> everything about the request</li>
</ul>
</body>
</html>
`;

async function route(ctx: Ctx): Promise<void> {
  const path = ctx.url.pathname;
  const method = ctx.req.method ?? 'GET';
  const readOnly = method === 'GET' || method === 'HEAD';
  const seg = path.split('/').filter(Boolean);

  if (path === '/') {
    if (!readOnly) return methodNotAllowed(ctx, ['GET', 'HEAD', 'OPTIONS']);
    return send(ctx, 200, { 'Content-Type': 'text/html; charset=utf-8' }, INDEX);
  }
  if (seg[0] === 'anything') {
    const d = await fullDict(ctx);
    if (!d) return send(ctx, 413, { 'Content-Type': 'text/plain' }, 'Request Entity Too Large');
    return sendJson(ctx, { ...d, method });
  }
  if (seg.length === 1 && ['post', 'put', 'patch', 'delete'].includes(seg[0]!)) {
    if (method.toLowerCase() !== seg[0]) return methodNotAllowed(ctx, [seg[0]!.toUpperCase()]);
    const d = await fullDict(ctx);
    if (!d) return send(ctx, 413, { 'Content-Type': 'text/plain' }, 'Request Entity Too Large');
    return sendJson(ctx, d);
  }
  if (seg.length === 2 && seg[0] === 'status') {
    const choices = parseStatusCodes(decodeURIComponent(seg[1]!));
    if (!choices)
      return send(ctx, 400, { 'Content-Type': 'text/html; charset=utf-8' }, 'Invalid status code');
    const r = statusReply(weightedChoice(choices));
    return send(ctx, r.status, r.headers, r.body);
  }
  if (!readOnly) {
    const known = ['get', 'headers', 'ip', 'user-agent', 'uuid', 'delay', 'bytes'];
    if (known.includes(seg[0] ?? '')) return methodNotAllowed(ctx, ['GET', 'HEAD', 'OPTIONS']);
    return notFound(ctx);
  }
  if (seg.length === 1) {
    switch (seg[0]) {
      case 'get':
        return sendJson(ctx, baseDict(ctx));
      case 'headers':
        return sendJson(ctx, {
          headers: requestHeaders(ctx.req, ctx.url.searchParams.has('show_env')),
        });
      case 'ip':
        return sendJson(ctx, { origin: origin(ctx.req) });
      case 'user-agent':
        return sendJson(ctx, { 'user-agent': ctx.req.headers['user-agent'] ?? null });
      case 'uuid':
        return sendJson(ctx, { uuid: randomUUID() });
    }
  }
  if (seg.length === 2 && seg[0] === 'delay') {
    const n = Number(seg[1]);
    if (!Number.isFinite(n) || n < 0)
      return send(ctx, 400, { 'Content-Type': 'text/plain' }, `invalid delay: ${seg[1]!}\n`);
    const ms = Math.min(n, MAX_DELAY_S) * 1000;
    const closed = new Promise<void>((r) => ctx.res.once('close', r));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
    if (ctx.res.destroyed) return;
    const d = await fullDict(ctx);
    return sendJson(ctx, d ?? baseDict(ctx));
  }
  if (seg.length === 2 && seg[0] === 'bytes') return sendBytes(ctx, seg[1]!);
  return notFound(ctx);
}

async function sendBytes(ctx: Ctx, nText: string): Promise<void> {
  const n = Number(nText);
  if (!/^\d+$/.test(nText) || n > MAX_BYTES)
    return send(
      ctx,
      400,
      { 'Content-Type': 'text/plain' },
      `invalid byte count: ${nText} (0..${MAX_BYTES})\n`,
    );
  const seedText = ctx.url.searchParams.get('seed');
  const seed = seedText === null ? undefined : Number(seedText);
  if (seed !== undefined && !Number.isInteger(seed))
    return send(ctx, 400, { 'Content-Type': 'text/plain' }, `invalid seed: ${seedText}\n`);
  const gen = seed === undefined ? (k: number) => randomBytes(k) : seededBytes(seed);
  ctx.res.writeHead(200, {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Credentials': 'true',
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(n),
  });
  if (ctx.req.method === 'HEAD') return void ctx.res.end();
  let left = n;
  while (left > 0 && !ctx.res.destroyed) {
    const k = Math.min(left, 64 * 1024);
    left -= k;
    if (!ctx.res.write(gen(k))) {
      await new Promise<void>((r) => {
        const done = () => {
          ctx.res.off('drain', done);
          ctx.res.off('close', done);
          r();
        };
        ctx.res.on('drain', done);
        ctx.res.on('close', done);
      });
    }
  }
  ctx.res.end();
}

export function createHttpbin(log?: Logger, flavor: HttpbinFlavor = 'python'): http.Server {
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
    } catch {
      url = new URL('http://localhost/');
      res.writeHead(400).end('bad request URL\n');
      return;
    }
    if (flavor === 'go' && goRoute(req, res, url)) return;
    route({ req, res, url, log }).catch((err: unknown) => {
      log?.warn('request failed', { url: req.url, error: (err as Error).message });
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end();
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  return server;
}

/** python: kennethreitz/httpbin's shapes; go: mccutchen/go-httpbin's where they differ. */
export type HttpbinFlavor = 'python' | 'go';

export async function startHttpbin(opts: {
  host?: string;
  port?: number;
  log?: Logger;
  flavor?: HttpbinFlavor;
}): Promise<{ server: http.Server; port: number; close(): Promise<void> }> {
  const server = createHttpbin(opts.log, opts.flavor);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 80, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
