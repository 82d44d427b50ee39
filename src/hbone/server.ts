/**
 * The HBONE server (ztunnel's inbound on 15008): TLS 1.3 mTLS with a certificate chosen per
 * connection by its local (destination pod) address, client certificates required, verified
 * against the root and limited to our trust domain; then each well-formed HTTP/2 CONNECT
 * stream is handed, unanswered, to `handler` (as Istio ztunnel's h2 server hands over an
 * H2Request): the handler decides, answers and copies; the server only polices the wire.
 *
 * The client sends no SNI, so per-connection certificates cannot come from SNICallback. Each
 * certificate gets its own (never listening) tls.Server, and an accepted socket is handed to
 * the one for its destination: Node then does the handshake, the handshake timeout and the
 * client-chain verdict (`authorized`) with its public API.
 */
import crypto from 'node:crypto';
import http2 from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import { errorMessage } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import {
  ALPN_H2,
  type CertMaterial,
  CertKeyedCache,
  secureContextOptions,
} from '../identity/tls-options.js';
import { leafIdentity, spiffeIdsOf } from '../identity/spiffe.js';
import {
  HBONE_DEFAULTS,
  TCP_KEEPALIVE_MS,
  flattenHeaders,
  serverSettings,
  sessionMemoryMb,
} from './settings.js';
import { parseAuthority } from './authority.js';
import { startKeepalive } from './keepalive.js';
import { streamResetError } from '../relay/splice.js';
import type { HboneInboundRequest, HboneRequest, HboneServerOptions } from './types.js';

export interface HboneServerTuning {
  handshakeTimeoutMs?: number;
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  streamWindow?: number;
  connectionWindow?: number;
  maxFrameSize?: number;
  maxConcurrentStreams?: number;
  maxHeaderListSize?: number;
  log?: Logger;
}

export interface HboneServer {
  /** Graceful: stop accepting, GOAWAY, wait for open streams; otherwise cut everything. */
  close(graceful?: boolean): Promise<void>;
  /** Open TLS connections, including those still handshaking. */
  connections(): number;
}

const { NGHTTP2_CONNECT_ERROR, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR, HTTP2_HEADER_STATUS } =
  http2.constants;

/** The `signal` reason of a request whose stream closed cleanly after its answer. */
const STREAM_CLOSED = new Error('stream closed');

/**
 * Streams of one session that may end by a reset before they were answered: each may already
 * have cost a dial to the application (Rapid Reset, CVE-2023-44487; MadeYouReset, CVE-2025-8671,
 * reference security-matrix.md #19, #24). nghttp2's own reset bucket (1000 + 33/s) still lets
 * one session drive ~1000 dials; past this budget the session gets GOAWAY(ENHANCE_YOUR_CALM).
 * A token bucket: `burst` resets, refilled at `perSecond`.
 */
export const EARLY_RESET_BUDGET = { burst: 100, perSecond: 10 } as const;

class ResetBudget {
  private tokens: number = EARLY_RESET_BUDGET.burst;
  private at = Date.now();
  /** Takes one token; false when the budget is spent. */
  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(
      EARLY_RESET_BUDGET.burst,
      this.tokens + ((now - this.at) / 1000) * EARLY_RESET_BUDGET.perSecond,
    );
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

function unmapped(ip: string | undefined): string {
  if (!ip) return '';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** RFC 9113 §6.5.2 size: name + value + 32 octets per field. */
function headerListSize(headers: http2.IncomingHttpHeaders): number {
  let n = 0;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) n += k.length + one.length + 32;
  }
  return n;
}

/** Answers a refusal and ends the stream; tolerant of a stream the peer already reset. */
function refuse(stream: http2.ServerHttp2Stream, status: number, reason?: string): void {
  if (stream.destroyed || stream.closed) return;
  try {
    const headers: http2.OutgoingHttpHeaders = { [HTTP2_HEADER_STATUS]: status };
    if (reason) headers['x-ambit-reason'] = reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
    stream.respond(headers, { endStream: true });
  } catch {
    stream.close(NGHTTP2_CONNECT_ERROR);
  }
}

export function createHboneServer(opts: HboneServerOptions & HboneServerTuning): HboneServer {
  const log = opts.log ?? createLogger('ztunnel/hbone-server');
  const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? HBONE_DEFAULTS.handshakeTimeoutMs;
  const connectionWindow = opts.connectionWindow ?? HBONE_DEFAULTS.connectionWindow;
  const pingIntervalMs = opts.pingIntervalMs ?? HBONE_DEFAULTS.pingIntervalMs;
  const pingTimeoutMs = opts.pingTimeoutMs ?? HBONE_DEFAULTS.pingTimeoutMs;
  const maxHeaderListSize = opts.maxHeaderListSize ?? HBONE_DEFAULTS.serverMaxHeaderListSize;
  const h2Options: http2.ServerOptions = {
    settings: serverSettings({
      streamWindow: opts.streamWindow ?? HBONE_DEFAULTS.streamWindow,
      maxFrameSize: opts.maxFrameSize ?? HBONE_DEFAULTS.maxFrameSize,
      maxConcurrentStreams: opts.maxConcurrentStreams ?? HBONE_DEFAULTS.serverMaxConcurrentStreams,
      maxHeaderListSize,
    }),
    maxSessionMemory: sessionMemoryMb(connectionWindow),
    maxHeaderListPairs: 256,
  };
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  let closing = false;

  const tlsServers = new CertKeyedCache<tls.Server>((cert) => {
    const ts = tls.createServer({
      ...secureContextOptions(cert),
      // No session resumption on 15008 (ztunnel's rustls server keeps no tickets either): a
      // resumed session would skip the client-certificate check that identity rests on. No
      // stateless tickets; TLS 1.3's stateful fallback needs a 'resumeSession' handler, which
      // the server does not have, so an offered session always gets a full handshake.
      secureOptions: crypto.constants.SSL_OP_NO_TICKET,
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ALPN_H2,
      handshakeTimeout: handshakeTimeoutMs,
    });
    ts.on('secureConnection', onSecure);
    ts.on('tlsClientError', (err, sock) => {
      log.debug('hbone handshake failed', { peer: sock.remoteAddress, error: errorMessage(err) });
      sock.destroy();
    });
    return ts;
  });

  function onSocket(raw: net.Socket): void {
    if (closing) {
      raw.destroy();
      return;
    }
    sockets.add(raw);
    raw.once('close', () => sockets.delete(raw));
    raw.on('error', (err) => log.debug('hbone socket error', { error: errorMessage(err) }));
    raw.setNoDelay(true);
    raw.setKeepAlive(true, TCP_KEEPALIVE_MS);
    const local = unmapped(raw.localAddress);
    // Covers the certificate lookup; tls.Server's handshakeTimeout covers the handshake.
    const timer = setTimeout(() => raw.destroy(), handshakeTimeoutMs);
    opts.certificateFor(local).then(
      (cert: CertMaterial) => {
        clearTimeout(timer);
        if (raw.destroyed) return;
        tlsServers.get(cert).emit('connection', raw);
      },
      (err: unknown) => {
        clearTimeout(timer);
        log.warn('hbone: no certificate for destination, closing', {
          local,
          error: errorMessage(err),
        });
        raw.destroy();
      },
    );
  }

  function onSecure(sock: tls.TLSSocket): void {
    const peer = `${unmapped(sock.remoteAddress)}:${sock.remotePort}`;
    const cert = sock.getPeerX509Certificate();
    const leaf = leafIdentity(cert, opts.trustDomain);
    const peerIdentity = 'identity' in leaf ? leaf.identity : undefined;
    if (!sock.authorized || !peerIdentity || sock.alpnProtocol !== 'h2') {
      log.info('hbone: rejected client', {
        peer,
        identities: spiffeIdsOf(cert).join(','),
        refused: 'refused' in leaf ? leaf.refused : undefined,
        authorizationError: sock.authorizationError,
        alpn: sock.alpnProtocol,
      });
      sock.destroy();
      return;
    }
    if (closing) {
      sock.destroy();
      return;
    }
    const session = http2.performServerHandshake(sock, h2Options);
    sessions.add(session);
    session.on('connect', () => session.setLocalWindowSize(connectionWindow));
    startKeepalive(session, pingIntervalMs, pingTimeoutMs, () => {
      log.warn('hbone ping timeout, dropping connection', { peer });
      session.destroy();
    });
    session.on('close', () => sessions.delete(session));
    session.on('error', (err) =>
      log.debug('hbone session error', { peer, error: errorMessage(err) }),
    );
    const budget = new ResetBudget();
    const onEarlyReset = () => {
      if (budget.take() || session.destroyed) return;
      log.warn('hbone: too many streams reset before their answer, closing the connection', {
        peer,
        peerIdentity,
        budget: EARLY_RESET_BUDGET,
      });
      session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
      session.destroy();
    };
    session.on('stream', (stream, headers) => {
      onStream(stream, headers, onEarlyReset, {
        peerIdentity,
        peerAddress: unmapped(sock.remoteAddress),
        peerPort: sock.remotePort ?? 0,
        localAddress: unmapped(sock.localAddress),
        localPort: sock.localPort ?? 0,
      });
    });
  }

  function onStream(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    onEarlyReset: () => void,
    conn: Omit<HboneInboundRequest, 'authority' | 'headers'>,
  ): void {
    stream.on('error', (err) => log.debug('hbone stream error', { error: errorMessage(err) }));
    // Node advertises SETTINGS_MAX_HEADER_LIST_SIZE but does not enforce it on receive.
    if (headerListSize(headers) > maxHeaderListSize)
      return refuse(stream, 431, 'header list too large');
    if (headers[':method'] !== 'CONNECT') return refuse(stream, 400, 'not a CONNECT');
    const authority = headers[':authority'];
    if (typeof authority !== 'string' || !parseAuthority(authority))
      return refuse(stream, 400, 'bad :authority');
    const gone = new AbortController();
    const cancel = () => {
      if (gone.signal.aborted) return;
      if (!stream.headersSent) onEarlyReset();
      // A stream that closed cleanly (most of them, after their tunnel ended) shares one reason:
      // building an Error, and its stack, per stream was 1% of the server's CPU per connection.
      const clean = !stream.aborted && stream.rstCode === NGHTTP2_NO_ERROR && stream.headersSent;
      gone.abort(clean ? STREAM_CLOSED : streamResetError(stream.rstCode));
    };
    stream.once('aborted', cancel);
    stream.once('close', cancel);
    const req: HboneRequest = {
      ...conn,
      authority,
      headers: flattenHeaders(headers),
      stream,
      signal: gone.signal,
      refuse: (status, reason) => refuse(stream, status, reason),
      accept: (extra) => {
        if (stream.destroyed || stream.closed || stream.headersSent) return false;
        try {
          stream.respond({ [HTTP2_HEADER_STATUS]: 200, ...(extra ?? {}) });
          return true;
        } catch (err) {
          log.warn('hbone: cannot send response headers', { authority, error: errorMessage(err) });
          refuse(stream, 503, 'bad response headers');
          return false;
        }
      },
    };
    // One event-loop turn later: a reset that came in the same read as the HEADERS (a burst of
    // HEADERS+RST_STREAM) has been processed by then, so its stream is never handed over and
    // nothing is dialled for it. Through a promise so a synchronous throw in the handler is
    // handled like a rejection.
    new Promise<void>((r) => setImmediate(r))
      .then(() => {
        if (gone.signal.aborted || stream.destroyed || stream.closed) return;
        return opts.handler(req);
      })
      .catch((err: unknown) => {
        log.warn('hbone handler failed', { authority, error: errorMessage(err) });
        if (!stream.headersSent) refuse(stream, 503, 'internal error');
        else if (!stream.destroyed) stream.close(NGHTTP2_CONNECT_ERROR);
      });
  }

  opts.server.on('connection', onSocket);

  return {
    connections: () => sockets.size,
    async close(graceful = true) {
      closing = true;
      // The listener stays attached so sockets accepted from now on are closed, not left hanging.
      const waits = [...sockets].map(
        (s) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r()))),
      );
      // Graceful: sessions drain after GOAWAY; handshakes in progress end (onSecure sees
      // `closing`) or time out.
      for (const s of sessions)
        if (graceful) s.close();
        else s.destroy();
      if (!graceful) for (const s of sockets) s.destroy();
      await Promise.all(waits);
    },
  };
}
