/**
 * One accepted CONNECT stream: which protocol it carries (waypoint.md §2.2). HTTP-family
 * ports are HTTP/1.1 or h2c by the connection preface; TCP/TLS ports are TCP; ports of unknown
 * protocol (and workload-addressed traffic) are sniffed, with TCP as the fallback.
 */
import type { Duplex } from 'node:stream';
import type { PortProtocol } from '../api/waypoint-config.js';
import { serveHttp1, serveHttp2 } from './http/downstream.js';
import { handleExchange } from './proxy/handler.js';
import type { ConnContext, ProxyDeps } from './proxy/context.js';
import { sniff, type Sniffed } from './sniff.js';
import { proxyTcp } from './tcp.js';

/** How long a client of an unknown-protocol port may stay silent before it is treated as TCP. */
export const SNIFF_TIMEOUT_MS = 1000;

function peek(stream: Duplex, httpOnly: boolean): Promise<Sniffed> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (s: Sniffed) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.pause();
      if (chunks.length) stream.unshift(Buffer.concat(chunks));
      resolve(s);
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      const s = sniff(Buffer.concat(chunks));
      if (s === 'more') return;
      done(httpOnly && s === 'tcp' ? 'http1' : s);
    };
    const onEnd = () => done(httpOnly ? 'http1' : 'tcp');
    const timer = setTimeout(() => done(httpOnly ? 'http1' : 'tcp'), SNIFF_TIMEOUT_MS);
    stream.on('data', onData);
    stream.once('end', onEnd);
  });
}

export function portProtocolOf(ctx: ConnContext): PortProtocol {
  return ctx.dest.kind === 'service' ? ctx.dest.servicePort.protocol : 'UNKNOWN';
}

export function serveConnection(deps: ProxyDeps, ctx: ConnContext, stream: Duplex): void {
  const protocol = portProtocolOf(ctx);
  if (protocol === 'TCP' || protocol === 'TLS') return proxyTcp(deps, ctx, stream);
  const httpOnly = protocol !== 'UNKNOWN';
  void peek(stream, httpOnly).then((s) => {
    deps.log.debug('connection protocol', { conn: ctx.id, port: protocol, sniffed: s });
    const handler = (x: Parameters<typeof handleExchange>[2]) => handleExchange(deps, ctx, x);
    if (s === 'h2c') serveHttp2(stream, handler, deps.log);
    else if (s === 'http1') serveHttp1(stream, handler, deps.log);
    else proxyTcp(deps, ctx, stream);
  });
}
