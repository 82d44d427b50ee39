/**
 * A built-in echo app shaped like Istio's echo server, which the Gateway API mesh conformance
 * tests read (../shared/reference/gamma-conformance.md §3): plain-text `Key=Value` lines per
 * request (ServicePort, Host, URL, Method, Proto, IP, one RequestHeader line per header value
 * in Go's canonical case, Hostname) on HTTP/1.1 and h2c ports; gRPC `proto.EchoTestService/Echo`
 * (and an ambit-only bidirectional `EchoStream`); a TCP echo port.
 * Query parameters: `?delay=<ms|1s>` waits first, `?codes=<code>[:weight],…` picks the status,
 * `?headers=Name:Value,…` adds response headers.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../log.js';

export interface EchoOptions {
  host: string;
  /** HTTP/1.1 ports. */
  httpPorts: number[];
  /** h2c (prior knowledge) ports. */
  h2cPorts?: number[];
  grpcPort?: number;
  tcpPort?: number;
  /** `Hostname=` value (pod name); default $POD_NAME or the OS hostname. */
  hostname?: string;
  version?: string;
  log: Logger;
}

export interface EchoServer {
  ports: { http: number[]; h2c: number[]; grpc?: number; tcp?: number };
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
    `Alpn=`,
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

// --- gRPC: EchoRequest/EchoResponse { string message = 1; } encoded by hand.

export function encodeMessage(s: string): Buffer {
  const b = Buffer.from(s);
  const len: number[] = [];
  let n = b.length;
  do {
    len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x0a, ...len]), b]);
}

export function decodeMessage(buf: Buffer): string {
  let i = 0;
  while (i < buf.length) {
    const tag = buf[i++]!;
    let len = 0;
    let shift = 0;
    for (;;) {
      const c = buf[i++] ?? 0;
      len |= (c & 0x7f) << shift;
      shift += 7;
      if (!(c & 0x80)) break;
    }
    if (tag === 0x0a) return buf.subarray(i, i + len).toString();
    i += len;
  }
  return '';
}

const id = (b: Buffer) => b;
export const ECHO_SERVICE: grpc.ServiceDefinition = {
  Echo: {
    path: '/proto.EchoTestService/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  },
  EchoStream: {
    path: '/proto.EchoTestService/EchoStream',
    requestStream: true,
    responseStream: true,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  },
};

function grpcReply(
  meta: grpc.Metadata,
  peer: string,
  message: string,
  o: { port: number; hostname: string; version: string },
): string {
  const lines: string[] = [];
  const m = meta.getMap();
  for (const k of Object.keys(m).sort()) {
    if (k.endsWith('-bin')) continue;
    for (const v of meta.get(k)) lines.push(`RequestHeader=${k}:${String(v)}`);
  }
  lines.push(
    'StatusCode=200',
    `ServiceVersion=${o.version}`,
    `ServicePort=${o.port}`,
    `IP=${peer.replace(/^ipv4:/, '').replace(/:\d+$/, '')}`,
    'Proto=GRPC',
    `Echo=${message}`,
    `Hostname=${o.hostname}`,
  );
  return lines.join('\n') + '\n';
}

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
  const ports: EchoServer['ports'] = { http: [], h2c: [] };
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
    const server = new grpc.Server();
    let gport = o.grpcPort;
    server.addService(ECHO_SERVICE, {
      Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        cb(
          null,
          encodeMessage(
            grpcReply(call.metadata, call.getPeer(), decodeMessage(call.request), {
              port: gport,
              hostname,
              version,
            }),
          ),
        );
      },
      EchoStream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (b: Buffer) =>
          call.write(encodeMessage(`${hostname} ${decodeMessage(b)}`)),
        );
        call.on('end', () => call.end());
      },
    });
    gport = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        `${o.host}:${o.grpcPort}`,
        grpc.ServerCredentials.createInsecure(),
        (err, port) => (err ? reject(err) : resolve(port)),
      ),
    );
    ports.grpc = gport;
    closers.push(() => new Promise((r) => server.tryShutdown(() => r())));
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
