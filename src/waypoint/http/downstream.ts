/**
 * Runs an HTTP server on one accepted stream (the inside of an HBONE CONNECT): HTTP/1.1 with
 * keep-alive, or HTTP/2 with prior knowledge (h2c). Each connection gets its own, never
 * listening, server object so the handler closes over that connection's context.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { type Exchange, http1Exchange, http2Exchange } from './exchange.js';

export type ExchangeHandler = (x: Exchange) => void;

export function serveHttp1(stream: Duplex, handler: ExchangeHandler, log: Logger): void {
  const server = http.createServer(
    // Node's default headers timeout would cut long-lived idle keep-alive tunnels; the HBONE
    // layer owns liveness. `optimizeEmptyRequests`: a request without a body (most GETs) comes
    // already ended, so its body stream is never resumed, flowed and ended on later ticks
    // before the upstream request can be finished (Exchange.emptyBody).
    {
      requestTimeout: 0,
      keepAliveTimeout: 0,
      headersTimeout: 60_000,
      optimizeEmptyRequests: true,
    },
    (req, res) => handler(http1Exchange(req, res)),
  );
  server.on('clientError', (err, sock) => {
    log.debug('http/1.1 client error', { error: errorMessage(err) });
    if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else sock.destroy();
  });
  server.emit('connection', stream);
  // The sniffer left the stream paused with its first bytes unshifted.
  stream.resume();
}

export function serveHttp2(stream: Duplex, handler: ExchangeHandler, log: Logger): void {
  const session = http2.performServerHandshake(stream, {
    settings: { enablePush: false, maxConcurrentStreams: 1000 },
  });
  session.on('error', (err) => log.debug('h2c session error', { error: errorMessage(err) }));
  session.on('stream', (s, headers) => {
    s.on('error', (err) => log.debug('h2c stream error', { error: errorMessage(err) }));
    handler(http2Exchange(s, headers));
  });
  stream.once('close', () => {
    if (!session.destroyed) session.destroy();
  });
}
