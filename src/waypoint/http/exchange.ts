/**
 * One downstream request/response, the same for HTTP/1.1 and HTTP/2: what the proxy reads and
 * how it answers (including trailers-only answers and trailers, which gRPC needs).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { Readable, Writable } from 'node:stream';
import type { HeaderMap } from '../routing/filters.js';
import { endToEnd } from './headers.js';

export interface Exchange {
  protocol: 'HTTP/1.1' | 'HTTP/2';
  method: string;
  /** Request target: path and query as received. */
  target: string;
  /** Host header or `:authority`. */
  authority: string;
  /** End-to-end request headers, lower-case. */
  headers: HeaderMap;
  body: Readable;
  /**
   * The request has no body and `body` will never emit data or 'end': HTTP/1.1 without
   * Content-Length or Transfer-Encoding (the server's `optimizeEmptyRequests`), HTTP/2 with
   * END_STREAM on its HEADERS. Nothing has to be read or waited for before the upstream
   * request is complete.
   */
  emptyBody: boolean;
  /** Request trailers once the body has ended (HTTP/2), else undefined. */
  requestTrailers(): HeaderMap | undefined;
  /** Sends the response head; `end` finishes the response with it (no body, no trailers). */
  respond(status: number, headers: HeaderMap, end: boolean, expectTrailers?: boolean): void;
  readonly responded: boolean;
  /** The response body sink (valid after respond). */
  readonly sink: Writable;
  /** Ends the response body, with trailers when the protocol can carry them. */
  finish(trailers?: HeaderMap): void;
  /** Resets the stream (HTTP/2 RST_STREAM, HTTP/1.1 connection close). */
  abort(): void;
  /** Response body bytes written, for telemetry (the request side is counted by RequestBody). */
  bytesOut(): number;
  /** Called once when the exchange is over (finished, aborted, or the client went away). */
  onDone(cb: () => void): void;
}

/** Counts the body bytes written to `w` (its write wrapped); returns the counter. */
function countWrites(w: Writable): () => number {
  let out = 0;
  const write = w.write.bind(w);
  w.write = ((chunk: Buffer | string, ...rest: never[]) => {
    out += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    return write(chunk, ...rest);
  }) as typeof w.write;
  return () => out;
}

export function http1Exchange(req: IncomingMessage, res: ServerResponse): Exchange {
  const bytesOut = countWrites(res);
  return {
    protocol: 'HTTP/1.1',
    method: req.method ?? 'GET',
    target: req.url ?? '/',
    authority: req.headers.host ?? '',
    headers: endToEnd(req.headers),
    body: req,
    // Node ≥ 24.12 with `optimizeEmptyRequests` hands such a request over already ended.
    emptyBody: req.readableEnded,
    requestTrailers: () => undefined,
    respond(status, headers, end) {
      res.writeHead(status, headers);
      if (end) res.end();
    },
    get responded() {
      return res.headersSent;
    },
    sink: res,
    finish(trailers) {
      if (trailers && Object.keys(trailers).length > 0 && res.chunkedEncoding)
        res.addTrailers(trailers);
      res.end();
    },
    abort: () => req.socket.destroy(),
    bytesOut,
    onDone(cb) {
      let done = false;
      const once = () => {
        if (done) return;
        done = true;
        cb();
      };
      res.once('finish', once);
      res.once('close', once);
    },
  };
}

const { NGHTTP2_INTERNAL_ERROR } = http2.constants;

export function http2Exchange(
  stream: http2.ServerHttp2Stream,
  h: http2.IncomingHttpHeaders,
): Exchange {
  let trailersToSend: HeaderMap | undefined;
  let reqTrailers: HeaderMap | undefined;
  stream.on('trailers', (t: http2.IncomingHttpHeaders) => (reqTrailers = endToEnd(t)));
  const bytesOut = countWrites(stream);
  return {
    protocol: 'HTTP/2',
    method: String(h[':method'] ?? 'GET'),
    target: String(h[':path'] ?? '/'),
    authority: String(h[':authority'] ?? h.host ?? ''),
    headers: endToEnd(h),
    body: stream,
    emptyBody: stream.endAfterHeaders,
    requestTrailers: () => reqTrailers,
    respond(status, headers, end, expectTrailers = false) {
      if (stream.destroyed || stream.closed) return;
      stream.respond(
        { ...headers, ':status': status },
        { endStream: end, waitForTrailers: !end && expectTrailers },
      );
      if (!end && expectTrailers)
        stream.once('wantTrailers', () => stream.sendTrailers(trailersToSend ?? {}));
    },
    get responded() {
      return stream.headersSent;
    },
    sink: stream,
    finish(trailers) {
      trailersToSend = trailers;
      stream.end();
    },
    abort: () => {
      if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
    },
    bytesOut,
    onDone(cb) {
      stream.once('close', cb);
    },
  };
}
