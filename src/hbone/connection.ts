/**
 * One pooled client HBONE connection: TCP → TLS 1.3 mTLS (verified against the root and the
 * expected SPIFFE identities) → HTTP/2, with PING keepalive, idle release and stream
 * accounting. The pool (client.ts) decides which connection a CONNECT goes on.
 */
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import {
  type CertMaterial,
  ALPN_H2,
  SecureContextCache,
  TLS_MIN_VERSION,
} from '../identity/tls-options.js';
import { leafIdentity, uriSans } from '../identity/spiffe.js';
import { startKeepalive } from './keepalive.js';
import { TCP_KEEPALIVE_MS, clientSettings, flattenHeaders, sessionMemoryMb } from './settings.js';
import { type HboneDialRequest, HboneError } from './types.js';

export interface ConnectionTuning {
  maxStreamsPerConnection: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  streamWindow: number;
  connectionWindow: number;
  maxFrameSize: number;
  dial?: (ip: string, port: number) => net.Socket;
}

function hostPort(ip: string, port: number): string {
  return net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Maps a socket/TLS failure to the HBONE error a caller can act on. */
function dialError(err: unknown, target: string): HboneError {
  if (err instanceof HboneError) return err;
  const e = err as NodeJS.ErrnoException & { library?: string; reason?: string };
  const code = e.code ?? '';
  const msg = `hbone connect to ${target}: ${e.message ?? String(err)}`;
  if (
    code.startsWith('ERR_SSL') ||
    e.library === 'SSL routines' ||
    /CERT|VERIFY|SELF_SIGNED/.test(code)
  )
    return new HboneError('HBONE_TLS', msg);
  return new HboneError('HBONE_CONNECT_FAILED', msg);
}

/** Dials and completes TCP + TLS; resolves with a verified TLS socket speaking h2. */
export function dialTls(
  req: HboneDialRequest,
  cert: CertMaterial,
  contexts: SecureContextCache,
  t: ConnectionTuning,
): Promise<tls.TLSSocket> {
  const target = hostPort(req.dstIp, req.dstPort);
  return new Promise((resolve, reject) => {
    let raw: net.Socket;
    try {
      raw = t.dial
        ? t.dial(req.dstIp, req.dstPort)
        : net.connect({ host: req.dstIp, port: req.dstPort, noDelay: true });
    } catch (err) {
      reject(dialError(err, target));
      return;
    }
    raw.setKeepAlive(true, TCP_KEEPALIVE_MS);
    const want = req.dstIdentities;
    const sock = tls.connect({
      socket: raw,
      secureContext: contexts.get(cert),
      ALPNProtocols: ALPN_H2,
      // No SNI: the server picks its certificate by the destination address, as in ztunnel.
      servername: '',
      minVersion: TLS_MIN_VERSION,
      // Chain validation against the root happens first (rejectUnauthorized); this adds the
      // SPIFFE check that replaces hostname verification.
      checkServerIdentity: (_host, peer) => {
        const sans = uriSans(peer.subjectaltname);
        const leaf = leafIdentity(peer);
        if ('refused' in leaf)
          return new HboneError(
            'HBONE_PEER_IDENTITY',
            `hbone connect to ${target}: server certificate refused: ${leaf.refused}`,
          );
        if (want.includes(leaf.identity)) return undefined;
        return new HboneError(
          'HBONE_PEER_IDENTITY',
          `hbone connect to ${target}: server identity [${sans.join(', ')}] is not one of [${want.join(', ')}]`,
        );
      },
    });
    const timer = setTimeout(() => {
      fail(
        new HboneError(
          'HBONE_TIMEOUT',
          `hbone connect to ${target} timed out after ${t.connectTimeoutMs} ms (maybe a NetworkPolicy is blocking HBONE port 15008)`,
        ),
      );
    }, t.connectTimeoutMs);
    const fail = (err: unknown) => {
      clearTimeout(timer);
      sock.destroy();
      raw.destroy();
      reject(dialError(err, target));
    };
    const onClose = () => fail(new Error('connection closed during handshake'));
    raw.once('error', fail);
    sock.once('error', fail);
    sock.once('close', onClose);
    sock.once('secureConnect', () => {
      clearTimeout(timer);
      raw.removeListener('error', fail);
      // The TLS socket owns the connection now; its errors reach the HTTP/2 session.
      raw.on('error', () => undefined);
      sock.removeListener('error', fail);
      sock.removeListener('close', onClose);
      if (sock.alpnProtocol !== 'h2') {
        fail(
          new HboneError('HBONE_TLS', `hbone connect to ${target}: server did not negotiate h2`),
        );
        return;
      }
      resolve(sock);
    });
  });
}

/**
 * Waits for the server's first SETTINGS: until then Node assumes unlimited concurrent streams,
 * and streams beyond the server's real limit would queue inside nghttp2 behind long-lived
 * tunnels instead of going to a new connection. With TLS 1.3 this is also where a server that
 * refused our certificate shows up (it closes right after the handshake).
 */
function serverSettings(
  session: http2.ClientHttp2Session,
  target: string,
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      done(
        new HboneError(
          'HBONE_TIMEOUT',
          `hbone connect to ${target}: no HTTP/2 SETTINGS after ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    const onClose = () =>
      done(
        new HboneError(
          'HBONE_CONNECT_FAILED',
          `hbone connect to ${target}: closed before HTTP/2 SETTINGS (did the server refuse our certificate?)`,
        ),
      );
    const onError = (err: Error) =>
      done(new HboneError('HBONE_CONNECT_FAILED', `hbone connect to ${target}: ${err.message}`));
    const done = (err?: HboneError) => {
      clearTimeout(timer);
      session.removeListener('close', onClose);
      session.removeListener('error', onError);
      session.removeListener('remoteSettings', onSettings);
      if (err) {
        session.destroy();
        reject(err);
      } else resolve();
    };
    const onSettings = () => done();
    session.once('remoteSettings', onSettings);
    session.once('close', onClose);
    session.once('error', onError);
  });
}

/** The connection whose slot a settled stream holds (read by its module-level close listener). */
const OWNER = Symbol('hbone.pooledConnection');
type Owned = { [OWNER]?: PooledConnection };

function releaseOwner(this: http2.ClientHttp2Stream): void {
  (this as Owned)[OWNER]?.release();
}

function ignoreError(): void {}

/** A CONNECT that never reached the server: the pool may retry it on another connection. */
export class RetryableError extends HboneError {}

export class PooledConnection {
  /** Streams reserved or open on this connection. */
  active = 0;
  closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly stopKeepalive: () => void;

  private constructor(
    readonly key: string,
    readonly session: http2.ClientHttp2Session,
    private readonly t: ConnectionTuning,
    private readonly log: Logger,
    private readonly onGone: (c: PooledConnection) => void,
  ) {
    session.on('error', (err) => log.debug('hbone connection error', { key, err }));
    session.on('goaway', (code) => {
      log.debug('hbone goaway', { key, code });
      this.markGone();
    });
    session.on('close', () => this.markGone());
    session.on('connect', () => session.setLocalWindowSize(t.connectionWindow));
    this.stopKeepalive = startKeepalive(session, t.pingIntervalMs, t.pingTimeoutMs, () => {
      log.warn('hbone ping timeout, dropping connection', { key });
      this.destroy(
        new HboneError('HBONE_TIMEOUT', `hbone ping timed out after ${t.pingTimeoutMs} ms`),
      );
    });
    this.armIdle();
  }

  static async open(
    key: string,
    req: HboneDialRequest,
    cert: CertMaterial,
    contexts: SecureContextCache,
    t: ConnectionTuning,
    log: Logger,
    onGone: (c: PooledConnection) => void,
  ): Promise<PooledConnection> {
    const sock = await dialTls(req, cert, contexts, t);
    const session = http2.connect(`https://${hostPort(req.dstIp, req.dstPort)}`, {
      createConnection: () => sock,
      settings: clientSettings(t),
      maxSessionMemory: sessionMemoryMb(t.connectionWindow),
      peerMaxConcurrentStreams: t.maxStreamsPerConnection,
    });
    await serverSettings(session, hostPort(req.dstIp, req.dstPort), t.connectTimeoutMs);
    return new PooledConnection(key, session, t, log, onGone);
  }

  /** Stream capacity: ours, capped by the server's SETTINGS_MAX_CONCURRENT_STREAMS. */
  maxStreams(): number {
    const peer = this.session.remoteSettings?.maxConcurrentStreams;
    return Math.min(this.t.maxStreamsPerConnection, peer ?? Infinity);
  }

  available(): boolean {
    return (
      !this.closed &&
      !this.session.closed &&
      !this.session.destroyed &&
      this.active < this.maxStreams()
    );
  }

  reserve(): void {
    this.active++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  release(): void {
    this.active--;
    this.armIdle();
  }

  /** Opens the CONNECT stream on a reserved slot; the slot is released when the stream closes. */
  request(
    req: HboneDialRequest,
  ): Promise<{ stream: Duplex; responseHeaders: Record<string, string> }> {
    return new Promise((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.session.request(
          { ...req.headers, ':method': 'CONNECT', ':authority': req.authority },
          { endStream: false },
        );
      } catch (err) {
        this.release();
        // Retry elsewhere only if this connection is going away; bad headers fail as they are.
        const E = this.session.closed || this.session.destroyed ? RetryableError : HboneError;
        reject(
          new E(
            'HBONE_CONNECT_FAILED',
            `hbone CONNECT ${req.authority}: ${(err as Error).message}`,
          ),
        );
        return;
      }
      let settled = false;
      let closeSeen = false;
      const timer = setTimeout(() => {
        settle(
          new HboneError(
            'HBONE_TIMEOUT',
            `hbone CONNECT ${req.authority}: no response after ${this.t.connectTimeoutMs} ms`,
          ),
        );
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }, this.t.connectTimeoutMs);
      const settle = (err?: HboneError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // For the rest of the stream's life (a tunnel can idle for hours) its listeners are
        // module-level functions: these closures would keep this call's context alive — the
        // dial request and its headers, the timer, resolve/reject — per open connection
        // (bench/l4-pair.ts idle, bench/README.md).
        if (!closeSeen) {
          stream.removeListener('close', onClose);
          stream.removeListener('error', onError);
          (stream as Owned)[OWNER] = this;
          stream.once('close', releaseOwner);
          // Kept for the stream's life: a late error must never go unhandled (and crash ztunnel).
          stream.on('error', ignoreError);
        }
        if (err) reject(err);
      };
      const onClose = () => {
        closeSeen = true;
        this.release();
        if (settled) return;
        // REFUSED_STREAM: the server never processed it (GOAWAY race), safe to retry elsewhere.
        const E =
          stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM ? RetryableError : HboneError;
        settle(
          new E(
            'HBONE_CONNECT_FAILED',
            `hbone CONNECT ${req.authority}: stream closed before a response (code ${stream.rstCode ?? '?'})`,
          ),
        );
      };
      const onError = (err: Error) =>
        settle(
          new HboneError('HBONE_CONNECT_FAILED', `hbone CONNECT ${req.authority}: ${err.message}`),
        );
      stream.once('close', onClose);
      stream.on('error', onError);
      stream.once('response', (headers) => {
        const status = Number(headers[':status']);
        if (status !== 200) {
          settle(
            new HboneError(
              'HBONE_STATUS',
              `hbone CONNECT ${req.authority}: status ${status}`,
              status,
            ),
          );
          stream.close(http2.constants.NGHTTP2_CANCEL);
          return;
        }
        if (settled) return;
        settle();
        resolve({ stream, responseHeaders: flattenHeaders(headers) });
      });
    });
  }

  /** Graceful: GOAWAY, open streams finish. */
  close(): void {
    this.markGone();
    if (!this.session.closed) this.session.close();
  }

  destroy(err?: Error): void {
    this.markGone();
    this.session.destroy(err);
  }

  private markGone(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopKeepalive();
    clearTimeout(this.idleTimer);
    this.onGone(this);
  }

  private armIdle(): void {
    if (this.active > 0 || this.closed) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.active === 0) {
        this.log.debug('hbone connection idle, closing', { key: this.key });
        this.close();
      }
    }, this.t.idleTimeoutMs).unref();
  }
}
