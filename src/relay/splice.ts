/**
 * Bidirectional copy between a downstream and an upstream duplex: backpressure (pause on a full
 * write buffer, resume on drain), half-close (one side's FIN ends the other's write side only),
 * and failure propagation (an error or abrupt close on one side resets the other, so a peer
 * sees RST where the other end saw it).
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { forward } from './write-batch.js';

export interface SpliceResult {
  /** Bytes copied downstream → upstream (the request direction). */
  up: number;
  /** Bytes copied upstream → downstream (the response direction). */
  down: number;
  error?: Error;
}

/**
 * An HTTP/2 stream closes itself once END_STREAM went both ways. Destroying it a moment earlier
 * (its 'end' and 'finish' come before nghttp2 reports the close) sends RST_STREAM, and a server
 * (nghttp2 ≥ 1.57, the rapid-reset defence) answers ~1000 of those plus 33/s with
 * GOAWAY(INTERNAL_ERROR), resetting every stream on the connection.
 */
function isHttp2Stream(s: Duplex): boolean {
  return (s as { session?: unknown }).session !== undefined;
}

function abort(s: Duplex, err?: Error): void {
  if (s.destroyed) return;
  if (s instanceof net.Socket && typeof s.resetAndDestroy === 'function' && !s.connecting) {
    s.resetAndDestroy();
  } else {
    s.destroy(err);
  }
}

/** One direction, counting bytes; bursts go out as one write (see write-batch.ts). */
function pump(src: Duplex, dst: Duplex, count: (n: number) => void): void {
  forward(src, dst, count);
  src.once('end', () => {
    if (!dst.destroyed && !dst.writableEnded) dst.end();
  });
}

/**
 * Splices `down` and `up` until both are closed. Resolves (never rejects) with the byte counts
 * and the first error seen, if any.
 */
export function splice(down: Duplex, up: Duplex): Promise<SpliceResult> {
  const result: SpliceResult = { up: 0, down: 0 };
  for (const s of [down, up]) if (s instanceof net.Socket) s.allowHalfOpen = true;
  return new Promise((resolve) => {
    let closed = 0;
    const onClose = (self: Duplex, other: Duplex) => () => {
      // A side that closed without a clean end in both directions failed: reset the other.
      const clean = self.readableEnded && self.writableFinished;
      if (!clean) abort(other, result.error);
      else if (
        !other.destroyed &&
        !isHttp2Stream(other) &&
        other.readableEnded &&
        other.writableFinished
      )
        other.destroy();
      if (++closed === 2) resolve(result);
    };
    const onError = (err: Error) => {
      result.error ??= err;
    };
    down.on('error', onError);
    up.on('error', onError);
    down.once('close', onClose(down, up));
    up.once('close', onClose(up, down));
    // Sockets close themselves once both directions are done; other duplexes may not.
    const maybeDone = (s: Duplex) => () => {
      if (s.readableEnded && s.writableFinished && !s.destroyed) s.destroy();
    };
    for (const s of [down, up].filter((x) => !isHttp2Stream(x))) {
      s.once('end', maybeDone(s));
      s.once('finish', maybeDone(s));
    }
    pump(down, up, (n) => (result.up += n));
    pump(up, down, (n) => (result.down += n));
  });
}
