/**
 * HTTP/2 settings of HBONE, from ztunnel's `src/config.rs` and `src/proxy/h2/{client,server}.rs`.
 * The connection window is 4x the stream window: equal windows can deadlock a busy connection
 * (ztunnel #1538).
 */
import type http2 from 'node:http2';

export const MiB = 1024 * 1024;

/**
 * TCP keepalive after 180 s idle on every socket of a proxied connection, as ztunnel sets it
 * on the sockets it accepts: a dead peer's half of a connection is noticed and closed instead
 * of holding the other half (and its HBONE stream) open for good.
 */
export const TCP_KEEPALIVE_MS = 180_000;

export const HBONE_DEFAULTS = {
  streamWindow: 4 * MiB,
  connectionWindow: 16 * MiB,
  maxFrameSize: 1 * MiB,
  maxStreamsPerConnection: 100,
  idleTimeoutMs: 300_000,
  connectTimeoutMs: 10_000,
  pingIntervalMs: 10_000,
  pingTimeoutMs: 20_000,
  serverMaxConcurrentStreams: 200,
  serverMaxHeaderListSize: 64 * 1024,
  clientMaxHeaderListSize: 16 * 1024,
  handshakeTimeoutMs: 10_000,
} as const;

/**
 * Node counts unacknowledged outgoing data and headers against maxSessionMemory (default 10 MB)
 * and answers ENHANCE_YOUR_CALM beyond it; a full connection window must fit with room to spare.
 */
export function sessionMemoryMb(connectionWindow: number): number {
  return Math.ceil((connectionWindow * 4) / MiB);
}

export function clientSettings(o: { streamWindow: number; maxFrameSize: number }): http2.Settings {
  return {
    enablePush: false,
    initialWindowSize: o.streamWindow,
    maxFrameSize: o.maxFrameSize,
    maxHeaderListSize: HBONE_DEFAULTS.clientMaxHeaderListSize,
  };
}

export function serverSettings(o: {
  streamWindow: number;
  maxFrameSize: number;
  maxConcurrentStreams: number;
  maxHeaderListSize: number;
}): http2.Settings {
  return {
    enablePush: false,
    initialWindowSize: o.streamWindow,
    maxFrameSize: o.maxFrameSize,
    maxConcurrentStreams: o.maxConcurrentStreams,
    maxHeaderListSize: o.maxHeaderListSize,
  };
}

/** Incoming HTTP/2 headers as a flat record, pseudo-headers dropped. */
export function flattenHeaders(h: http2.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(':') || v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}
