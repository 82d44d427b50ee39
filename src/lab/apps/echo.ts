/**
 * A built-in echo app shaped like Istio's echo server, which the Gateway API mesh conformance
 * tests read (../shared/reference/gamma-conformance.md §3): plain-text `Key=Value` lines per
 * request (ServicePort, Host, URL, Method, Proto, IP, one RequestHeader line per header value
 * in Go's canonical case, Hostname) on HTTP/1.1 and h2c ports; gRPC `proto.EchoTestService/Echo`
 * (and an ambit-only bidirectional `EchoStream`); a TCP echo port.
 * Query parameters: `?delay=<ms|1s>` waits first, `?codes=<code>[:weight],…` picks the status,
 * `?headers=Name:Value,…` adds response headers. `echo-main.ts` is its command line
 * (`ambit lab app echo`, Istio echo's flags).
 */
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import { grpcEchoServer } from './echo-grpc.js';
import type { Logger } from '../../log.js';

export interface EchoOptions {
  host: string;
  /** HTTP/1.1 ports. */
  httpPorts: number[];
  /** h2c (prior knowledge) ports. */
  h2cPorts?: number[];
  /** HTTPS ports (HTTP/1.1 over TLS with this key pair, ALPN http/1.1). */
  tlsPorts?: number[];
  tls?: { cert: string; key: string };
  grpcPort?: number;
  tcpPort?: number;
  /** `Hostname=` value (pod name); default $POD_NAME or the OS hostname. */
  hostname?: string;
  version?: string;
  log: Logger;
}

export interface EchoServer {
  ports: { http: number[]; h2c: number[]; tls: number[]; grpc?: number; tcp?: number };
  close(): Promise<void>;
}

/** Go's textproto canonical form: `x-header-set` → `X-Header-Set`. */
export function canonicalHeader(name: string): string {
  return name
    .split('-')
    .map((p) => (p ? p[0]!.toUpperCase() + p.slice(1).toLowerCase() : p))
    .join('-');
}

function duration(v: string | null): number {
  if (!v) return 0;
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v);
  if (!m) return 0;
  return Math.min(30_000, Number(m[1]) * (m[2] === 's' ? 1000 : 1));
}

function pickCode(v: string | null): number {
  if (!v) return 200;
  const opts = v.split(',').map((p) => {
    const [c, w] = p.split(':');
    return { code: Number(c) || 200, weight: w === undefined ? 1 : Number(w) || 0 };
  });
  const total = opts.reduce((n, o) => n + o.weight, 0);
  let x = Math.random() * total;
  for (const o of opts) if ((x -= o.weight) < 0) return o.code;
  return opts[0]?.code ?? 200;
}

function responseLines(o: {
  version: string;
  port: number;
  host: string;
  url: string;
  method: string;
  proto: string;
  ip: string;
  alpn: string;
  headers: Record<string, string | string[] | undefined>;
  hostname: string;
}): string {
  const lines = [
    `ServiceVersion=${o.version}`,
    `ServicePort=${o.port}`,
    `Host=${o.host}`,
    `URL=${o.url}`,
    `Cluster=`,
    `IstioVersion=`,
    `Method=${o.method}`,
    `Proto=${o.proto}`,
    `IP=${o.ip}`,
    `Alpn=${o.alpn}`,
  ];
  const names = Object.keys(o.headers)
    .filter((k) => !k.startsWith(':') && k !== 'host')
    .sort((a, b) => canonicalHeader(a).localeCompare(canonicalHeader(b)));
  for (const k of names) {
    const v = o.headers[k];
    for (const one of Array.isArray(v) ? v : [v ?? ''])
      lines.push(`RequestHeader=${canonicalHeader(k)}:${one}`);
  }
  lines.push(`Hostname=${o.hostname}`);
  return lines.join('\n') + '\n';
}

const alpnOf = (s: unknown): string => {
  const p = (s as { alpnProtocol?: string | false }).alpnProtocol;
  return typeof p === 'string' ? p : '';
};

const plain = (ip: string | undefined) => (ip?.startsWith('::ffff:') ? ip.slice(7) : (ip ?? ''));

function httpHandler(opts: {
  port: () => number;
  hostname: string;
  version: string;
  proto: string;
}) {
  return (
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = () => {
      const code = pickCode(url.searchParams.get('codes'));
      for (const h of (url.searchParams.get('headers') ?? '').split(',').filter(Boolean)) {
        const i = h.indexOf(':');
        if (i > 0) res.setHeader(h.slice(0, i), h.slice(i + 1));
      }
      const headers: Record<string, string | string[] | undefined> = collect(req.rawHeaders);
      const body = responseLines({
        version: opts.version,
        port: opts.port(),
        host: (req.headers[':authority'] as string | undefined) ?? req.headers.host ?? '',
        url: req.url ?? '/',
        method: req.method ?? 'GET',
        proto: opts.proto,
        ip: plain(req.socket.remoteAddress),
        alpn: alpnOf(req.socket),
        headers,
        hostname: opts.hostname,
      });
      res.setHeader('content-type', 'application/text');
      res.statusCode = code;
      res.end(body);
    };
    req.resume();
    req.on('end', () => {
      const d = duration(url.searchParams.get('delay'));
      if (d > 0) setTimeout(send, d);
      else send();
    });
  };
}

/** Header values in arrival order, lower-case names (HTTP/1.1 keeps repeated lines apart). */
function collect(raw: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    (out[k] ??= []).push(raw[i + 1]!);
  }
  return out;
}

export { decodeMessage, ECHO_SERVICE, encodeMessage } from './echo-proto.js';

function listen(s: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, () => resolve((s.address() as net.AddressInfo).port));
  });
}

export async function startEcho(o: EchoOptions): Promise<EchoServer> {
  const hostname = o.hostname ?? process.env.POD_NAME ?? os.hostname();
  const version = o.version ?? '';
  const closers: (() => Promise<void>)[] = [];
  const ports: EchoServer['ports'] = { http: [], h2c: [], tls: [] };
  for (const p of o.httpPorts) {
    let bound = p;
    const s = http.createServer(
      { keepAliveTimeout: 60_000 },
      httpHandler({ port: () => bound, hostname, version, proto: 'HTTP/1.1' }),
    );
    bound = await listen(s, o.host, p);
    ports.http.push(bound);
    closers.push(() => new Promise((r) => (s.closeAllConnections(), s.close(() => r()))));
  }
  for (const p of o.tls ? (o.tlsPorts ?? []) : []) {
    let bound = p;
    const s = https.createServer(
      { ...o.tls, ALPNProtocols: ['http/1.1'], keepAliveTimeout: 60_000 },
      httpHandler({ port: () => bound, hostname, version, proto: 'HTTP/1.1' }),
    );
    bound = await listen(s, o.host, p);
    ports.tls.push(bound);
    closers.push(() => new Promise((r) => (s.closeAllConnections(), s.close(() => r()))));
  }
  for (const p of o.h2cPorts ?? []) {
    let bound = p;
    const s = http2.createServer(
      httpHandler({ port: () => bound, hostname, version, proto: 'HTTP/2.0' }),
    );
    const sessions = new Set<http2.Http2Session>();
    s.on('session', (ss) => (sessions.add(ss), ss.once('close', () => sessions.delete(ss))));
    bound = await listen(s, o.host, p);
    ports.h2c.push(bound);
    closers.push(
      () => new Promise((r) => (sessions.forEach((ss) => ss.destroy()), s.close(() => r()))),
    );
  }
  if (o.grpcPort !== undefined) {
    let gport = o.grpcPort;
    const s = grpcEchoServer({ hostname, version, port: () => gport });
    const sessions = new Set<http2.Http2Session>();
    s.on('session', (ss) => (sessions.add(ss), ss.once('close', () => sessions.delete(ss))));
    gport = await listen(s, o.host, o.grpcPort);
    ports.grpc = gport;
    closers.push(
      () => new Promise((r) => (sessions.forEach((ss) => ss.destroy()), s.close(() => r()))),
    );
  }
  if (o.tcpPort !== undefined) {
    const socks = new Set<net.Socket>();
    const s = net.createServer((c) => {
      socks.add(c);
      c.once('close', () => socks.delete(c));
      c.on('error', () => undefined);
      c.pipe(c);
    });
    ports.tcp = await listen(s, o.host, o.tcpPort);
    closers.push(() => new Promise((r) => (socks.forEach((c) => c.destroy()), s.close(() => r()))));
  }
  o.log.info('echo listening', { hostname, ...ports });
  return { ports, close: async () => void (await Promise.all(closers.map((c) => c()))) };
}
