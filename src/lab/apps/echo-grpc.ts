/**
 * The echo app's gRPC port on node:http2 directly: `proto.EchoTestService/Echo` (unary) and the
 * ambit-only bidirectional `EchoStream`. Not grpc-js's server, because that one sees Node's
 * folded header object (`a, b`), while Istio's Go echo reports each metadata value on its own
 * line and the conformance comparer joins them with a bare comma
 * (docs/istio/gamma-conformance.md §3.2, §4.23); here every field comes from the raw header list.
 */
import http2 from 'node:http2';
import type net from 'node:net';
import { decodeMessage, encodeMessage } from './echo-proto.js';

export interface GrpcEchoOptions {
  hostname: string;
  version: string;
  port: () => number;
}

const ECHO = '/proto.EchoTestService/Echo';
const STREAM = '/proto.EchoTestService/EchoStream';

/** Splits a gRPC byte stream into its length-prefixed messages. */
function frames(onMessage: (m: Buffer) => void): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1);
      if (buf.length < 5 + len) return;
      onMessage(buf.subarray(5, 5 + len));
      buf = buf.subarray(5 + len);
    }
  };
}

function frame(message: string): Buffer {
  const pb = encodeMessage(message);
  const out = Buffer.alloc(5 + pb.length);
  out.writeUInt32BE(pb.length, 1);
  pb.copy(out, 5);
  return out;
}

function reply(raw: string[], peer: string, message: string, o: GrpcEchoOptions): string {
  const meta: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (k === ':authority') meta.push(['host', raw[i + 1]!]);
    else if (!k.startsWith(':') && !k.endsWith('-bin')) meta.push([k, raw[i + 1]!]);
  }
  meta.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const host = meta.find(([k]) => k === 'host')?.[1];
  const lines = meta.filter(([k]) => k !== 'host').map(([k, v]) => `RequestHeader=${k}:${v}`);
  if (host !== undefined) lines.push(`Host=${host}`);
  lines.push(
    'StatusCode=200',
    `ServiceVersion=${o.version}`,
    `ServicePort=${o.port()}`,
    `IP=${peer.startsWith('::ffff:') ? peer.slice(7) : peer}`,
    'Proto=GRPC',
    `Echo=${message}`,
    `Hostname=${o.hostname}`,
  );
  return lines.join('\n') + '\n';
}

function onStream(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  raw: string[],
  o: GrpcEchoOptions,
): void {
  const path = headers[':path'];
  stream.on('error', () => undefined);
  if (path !== ECHO && path !== STREAM) {
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' },
      { endStream: true },
    );
    return;
  }
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  const peer = (stream.session?.socket as net.Socket | undefined)?.remoteAddress ?? '';
  const messages: Buffer[] = [];
  stream.on(
    'data',
    frames((m) => {
      if (path === STREAM) stream.write(frame(`${o.hostname} ${decodeMessage(m)}`));
      else messages.push(m);
    }),
  );
  stream.on('end', () => {
    if (path === ECHO)
      stream.write(frame(reply(raw, peer, decodeMessage(messages[0] ?? Buffer.alloc(0)), o)));
    stream.end();
  });
}

export function grpcEchoServer(o: GrpcEchoOptions): http2.Http2Server {
  const server = http2.createServer();
  server.on('stream', (stream, headers, _flags, raw: string[]) =>
    onStream(stream, headers, raw, o),
  );
  return server;
}
