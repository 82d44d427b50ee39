/**
 * The HBONE client: CONNECT tunnels over pooled mTLS HTTP/2 connections, as ztunnel's
 * `proxy/pool.rs`. Pool key = (source identity, acceptable destination identities, source IP,
 * destination address); at most `maxStreamsPerConnection` streams per connection, then another
 * connection to the same key; one dial at a time per key so a burst of connects shares
 * connections instead of opening one each.
 */
import type net from 'node:net';
import { createLogger, type Logger } from '../log.js';
import { SecureContextCache } from '../identity/tls-options.js';
import { type ConnectionTuning, PooledConnection, RetryableError } from './connection.js';
import { HBONE_DEFAULTS } from './settings.js';
import {
  type CertificateSource,
  type HboneClient,
  type HboneDialRequest,
  HboneError,
} from './types.js';

export interface HboneClientOptions {
  certificates: CertificateSource;
  maxStreamsPerConnection?: number;
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  streamWindow?: number;
  connectionWindow?: number;
  maxFrameSize?: number;
  /** Opens the TCP connection (tests, or binding to a netns); default net.connect. */
  dial?: (ip: string, port: number) => net.Socket;
  log?: Logger;
}

interface KeyPool {
  /** What the key was made of (for release filters). */
  req: HboneDialRequest;
  conns: PooledConnection[];
  /** The dial in progress for this key: the per-key lock. */
  dialing?: Promise<void>;
}

export function poolKey(req: HboneDialRequest): string {
  const dst = [...req.dstIdentities].sort().join(',');
  return `${req.srcIdentity}|${dst}|${req.srcIp}|${req.dstIp}:${req.dstPort}`;
}

class Pool implements HboneClient {
  private readonly pools = new Map<string, KeyPool>();
  private readonly contexts = new SecureContextCache();
  private readonly t: ConnectionTuning;
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly opts: HboneClientOptions) {
    this.log = opts.log ?? createLogger('ztunnel/hbone-client');
    this.t = {
      maxStreamsPerConnection:
        opts.maxStreamsPerConnection ?? HBONE_DEFAULTS.maxStreamsPerConnection,
      idleTimeoutMs: opts.idleTimeoutMs ?? HBONE_DEFAULTS.idleTimeoutMs,
      connectTimeoutMs: opts.connectTimeoutMs ?? HBONE_DEFAULTS.connectTimeoutMs,
      pingIntervalMs: opts.pingIntervalMs ?? HBONE_DEFAULTS.pingIntervalMs,
      pingTimeoutMs: opts.pingTimeoutMs ?? HBONE_DEFAULTS.pingTimeoutMs,
      streamWindow: opts.streamWindow ?? HBONE_DEFAULTS.streamWindow,
      connectionWindow: opts.connectionWindow ?? HBONE_DEFAULTS.connectionWindow,
      maxFrameSize: opts.maxFrameSize ?? HBONE_DEFAULTS.maxFrameSize,
      dial: opts.dial,
    };
  }

  async connect(req: HboneDialRequest) {
    if (this.closed) throw new HboneError('HBONE_CONNECT_FAILED', 'hbone client is closed');
    const key = poolKey(req);
    // A connection can die between checkout and request (GOAWAY race); retry on another.
    for (let attempt = 0; ; attempt++) {
      const conn = await this.checkout(key, req);
      try {
        return await conn.request(req);
      } catch (err) {
        if (!(err instanceof RetryableError) || attempt >= 2) throw err;
      }
    }
  }

  /** Returns a connection with one stream slot reserved for the caller. */
  private async checkout(key: string, req: HboneDialRequest): Promise<PooledConnection> {
    for (;;) {
      if (this.closed) throw new HboneError('HBONE_CONNECT_FAILED', 'hbone client is closed');
      let kp = this.pools.get(key);
      if (!kp) {
        kp = { req, conns: [] };
        this.pools.set(key, kp);
      }
      const conn = kp.conns.find((c) => c.available());
      if (conn) {
        conn.reserve();
        return conn;
      }
      if (!kp.dialing) {
        const pool = kp;
        pool.dialing = this.dial(key, req)
          .then((c) => {
            if (this.closed) c.destroy();
            else pool.conns.push(c);
          })
          .finally(() => {
            pool.dialing = undefined;
            if (pool.conns.length === 0 && this.pools.get(key) === pool) this.pools.delete(key);
          });
      }
      // Waiters of a failed dial fail with it rather than each redialing in turn (no storm).
      await kp.dialing;
    }
  }

  private async dial(key: string, req: HboneDialRequest): Promise<PooledConnection> {
    let cert;
    try {
      cert = await this.opts.certificates.get(req.srcIdentity);
    } catch (err) {
      throw new HboneError(
        'HBONE_TLS',
        `no certificate for ${req.srcIdentity}: ${(err as Error).message ?? String(err)}`,
      );
    }
    this.log.debug('hbone dial', { key });
    return PooledConnection.open(key, req, cert, this.contexts, this.t, this.log, (c) =>
      this.remove(c),
    );
  }

  private remove(c: PooledConnection): void {
    const kp = this.pools.get(c.key);
    if (!kp) return;
    const i = kp.conns.indexOf(c);
    if (i >= 0) kp.conns.splice(i, 1);
    if (kp.conns.length === 0 && !kp.dialing) this.pools.delete(c.key);
  }

  stats() {
    let connections = 0;
    let streams = 0;
    const byKey: Record<string, { connections: number; streams: number }> = {};
    for (const [key, kp] of this.pools) {
      const s = kp.conns.reduce((n, c) => n + c.active, 0);
      if (kp.conns.length === 0) continue;
      byKey[key] = { connections: kp.conns.length, streams: s };
      connections += kp.conns.length;
      streams += s;
    }
    return { connections, streams, byKey };
  }

  release(which?: (key: HboneDialRequest) => boolean): number {
    const all = [...this.pools.values()]
      .filter((kp) => !which || which(kp.req))
      .flatMap((kp) => kp.conns);
    for (const c of all) c.close();
    return all.length;
  }

  /** GOAWAY on every connection; open streams get `graceMs` to finish, then are cut. */
  async close(graceMs = 5_000): Promise<void> {
    this.closed = true;
    const all = [...this.pools.values()].flatMap((kp) => kp.conns);
    await Promise.all(
      all.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.session.destroyed) return resolve();
            const timer = setTimeout(() => c.destroy(), graceMs).unref();
            c.session.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            c.close();
          }),
      ),
    );
    this.pools.clear();
  }
}

export function createHboneClient(opts: HboneClientOptions): HboneClient {
  return new Pool(opts);
}
