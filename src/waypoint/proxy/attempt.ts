/**
 * One attempt of a request to one endpoint, over HTTP/1.1 or HTTP/2, resolving at the response
 * head. Failures before the head are typed so the retry logic can tell a connect failure or
 * reset (retriable when the body is replayable) from a timeout.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { Readable } from 'node:stream';
import { errorMessage } from '../../errors.js';
import { endToEnd } from '../http/headers.js';
import type { HeaderMap } from '../routing/filters.js';
import type { UpstreamPool } from '../upstream/pool.js';
import type { UpstreamTarget } from '../upstream/transport.js';
import type { RequestBody } from './body.js';
import type { CancelSignal } from './cancel.js';

/** What is sent upstream, the same on every attempt of a request. */
export interface UpstreamRequest {
  protocol: 'h1' | 'h2';
  method: string;
  /** Path and query. */
  path: string;
  authority: string;
  headers: HeaderMap;
  body: RequestBody;
}

export interface AttemptRequest extends UpstreamRequest {
  target: UpstreamTarget;
  /** Cancels the attempt (timeouts, client gone). */
  signal: CancelSignal;
}

export interface UpstreamResponse {
  status: number;
  headers: HeaderMap;
  body: Readable;
  /** HTTP/2 response that ended with its headers (gRPC trailers-only). */
  endedWithHeaders: boolean;
  /** Trailers, once the body has ended. */
  trailers(): HeaderMap | undefined;
  /** Abandons the response (reset the stream / close the connection). */
  abort(): void;
}

export class AttemptError extends Error {
  constructor(
    readonly kind: 'connect' | 'reset' | 'timeout' | 'cancelled',
    message: string,
  ) {
    super(message);
  }
}

const { NGHTTP2_CANCEL, HTTP2_HEADER_STATUS } = http2.constants;

function fromAbort(signal: CancelSignal): AttemptError {
  const r: unknown = signal.reason;
  return r instanceof AttemptError ? r : new AttemptError('cancelled', 'request cancelled');
}

/**
 * The request head as Node's flat [name, value, …] list: ClientRequest then writes it as given
 * (once validated) instead of setHeader() per header, each a lower-cased copy of the name and a
 * [name, value] pair kept until the head is sent. The head is fixed here, so a body without
 * Content-Length is sent chunked (a POST whose body ends at once too, where an object would
 * have got `Content-Length: 0`).
 */
function http1Head(authority: string, headers: HeaderMap): string[] {
  const out = ['host', authority];
  for (const k in headers) {
    if (k === 'host') continue;
    const v = headers[k]!;
    if (typeof v === 'string') out.push(k, v);
    else for (const x of v) out.push(k, x);
  }
  return out;
}

function viaHttp1(pool: UpstreamPool, r: AttemptRequest): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    let connected = false;
    const req = http.request({
      agent: pool.agent(r.target),
      method: r.method,
      path: r.path,
      headers: http1Head(r.authority, r.headers),
    });
    req.on('socket', () => (connected = true));
    const onAbort = () => {
      req.destroy();
      reject(fromAbort(r.signal));
    };
    r.signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => {
      r.signal.removeEventListener('abort', onAbort);
      reject(new AttemptError(connected ? 'reset' : 'connect', errorMessage(err)));
    });
    req.on('response', (res) => {
      r.signal.removeEventListener('abort', onAbort);
      resolve({
        status: res.statusCode ?? 502,
        headers: endToEnd(res.headers),
        body: res,
        endedWithHeaders: false,
        trailers: () => (Object.keys(res.trailers).length ? endToEnd(res.trailers) : undefined),
        abort: () => res.destroy(),
      });
    });
    r.body.pipeTo(req);
  });
}

async function viaHttp2(pool: UpstreamPool, r: AttemptRequest): Promise<UpstreamResponse> {
  let session: http2.ClientHttp2Session;
  try {
    session = await pool.session(r.target);
  } catch (err) {
    throw new AttemptError('connect', errorMessage(err));
  }
  if (r.signal.aborted) throw fromAbort(r.signal);
  return new Promise((resolve, reject) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request({
        ...r.headers,
        ':method': r.method,
        ':path': r.path,
        ':authority': r.authority,
        ':scheme': 'http',
      });
    } catch (err) {
      pool.forget(r.target);
      reject(new AttemptError('connect', errorMessage(err)));
      return;
    }
    let trailers: HeaderMap | undefined;
    let settled = false;
    stream.on('trailers', (t: http2.IncomingHttpHeaders) => (trailers = endToEnd(t)));
    const onAbort = () => {
      settled = true;
      stream.close(NGHTTP2_CANCEL);
      reject(fromAbort(r.signal));
    };
    r.signal.addEventListener('abort', onAbort, { once: true });
    stream.on('error', (err) => {
      r.signal.removeEventListener('abort', onAbort);
      if (settled) return;
      settled = true;
      reject(new AttemptError('reset', errorMessage(err)));
    });
    // Every stream closes, most after their response: an Error (and its stack) only when the
    // close is what settles the attempt.
    stream.on('close', () => {
      if (!settled) reject(new AttemptError('reset', `stream closed (code ${stream.rstCode})`));
    });
    stream.on('response', (h, flags) => {
      settled = true;
      r.signal.removeEventListener('abort', onAbort);
      resolve({
        status: Number(h[HTTP2_HEADER_STATUS] ?? 502),
        headers: endToEnd(h),
        body: stream,
        endedWithHeaders: (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0,
        trailers: () => trailers,
        abort: () => {
          if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
        },
      });
    });
    r.body.pipeTo(stream);
  });
}

export function sendAttempt(pool: UpstreamPool, r: AttemptRequest): Promise<UpstreamResponse> {
  return r.protocol === 'h2' ? viaHttp2(pool, r) : viaHttp1(pool, r);
}
