/**
 * The one bidirectional copy loop of every hop (Istio ztunnel's `copy.rs`): between two duplexes,
 * each a TCP socket or an HTTP/2 CONNECT stream (either end of an HBONE tunnel). It keeps TCP's
 * semantics across the tunnel (RFC 9113 §8.5):
 * - backpressure: pause a side whose peer's write buffer is full, resume on drain;
 * - half-close: one side's FIN (END_STREAM) ends only the other's write side (FIN/END_STREAM);
 * - failure: an error or abrupt close on one side resets the other (TCP RST, or
 *   RST_STREAM(CONNECT_ERROR) on a stream), so a peer sees RST where the other end saw it.
 * It resolves with the bytes copied each way and why the connection ended badly, if it did —
 * including a stream the peer reset, which Node reports as a plain end.
 */
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { directionFrom, forward, type Direction } from './write-batch.js';

const { NGHTTP2_CONNECT_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

export interface SpliceResult {
  /** Bytes copied downstream → upstream (the request direction). */
  up: number;
  /** Bytes copied upstream → downstream (the response direction). */
  down: number;
  /** The first failure: a socket error, a stream reset by the peer, an abrupt close. */
  error?: Error;
}

type H2Stream = Duplex & {
  session?: unknown;
  rstCode?: number;
  aborted?: boolean;
  close(code?: number): void;
};

/**
 * An HTTP/2 stream closes itself once END_STREAM went both ways. Destroying it a moment earlier
 * (its 'end' and 'finish' come before nghttp2 reports the close) sends RST_STREAM, and a server
 * (nghttp2 ≥ 1.57, the rapid-reset defence) answers ~1000 of those plus 33/s with
 * GOAWAY(INTERNAL_ERROR), resetting every stream on the connection.
 */
function isHttp2Stream(s: Duplex): s is H2Stream {
  if (h2Streams.has(s)) return true;
  // `session` is cleared when the stream is destroyed: remember what we saw while it lived.
  if ((s as { session?: unknown }).session === undefined) return false;
  h2Streams.add(s);
  return true;
}
const h2Streams = new WeakSet<Duplex>();

/**
 * Node ends the readable side of a stream for a received RST_STREAM too (even NO_ERROR, what a
 * plain destroy() sends, while our side is still open: that is `aborted`), so `'end'` alone does
 * not mean the peer sent END_STREAM.
 */
function wasReset(s: Duplex): boolean {
  if (!isHttp2Stream(s)) return false;
  return s.aborted === true || (s.rstCode !== undefined && s.rstCode !== NGHTTP2_NO_ERROR);
}

/** RFC 9113 §7 error codes, by value. */
const H2_ERROR_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

/** The error a peer's RST_STREAM stands for, e.g. "stream reset by peer: CANCEL". */
export function streamResetError(code: number | undefined): Error {
  const name = code === undefined ? 'unknown' : (H2_ERROR_NAMES[code] ?? String(code));
  return Object.assign(new Error(`stream reset by peer: ${name}`), { rstCode: code });
}

/** Resets `s`: TCP RST for a socket, RST_STREAM(CONNECT_ERROR) for a stream. */
export function abort(s: Duplex, err?: Error): void {
  if (s.destroyed) return;
  if (isHttp2Stream(s)) {
    // Node's close(code) on a stream whose writable side is open first ends it — END_STREAM,
    // a clean FIN to the peer — and only then sends RST_STREAM, so the far side would pass a
    // FIN to its socket before the reset. A reset must not look like a FIN: skip that end().
    if (!s.writableEnded) s.end = () => s;
    s.close(NGHTTP2_CONNECT_ERROR);
    s.destroy();
  } else if (s instanceof net.Socket && typeof s.resetAndDestroy === 'function' && !s.connecting) {
    s.resetAndDestroy();
  } else {
    s.destroy(err);
  }
}

/** A source's FIN (END_STREAM) ends its destination's write side (module-level: no closure). */
function onSourceEnd(this: Duplex): void {
  if (wasReset(this)) return; // not a FIN: the close handler resets dst
  const dst = directionFrom(this)?.dst;
  if (dst && !dst.destroyed && !dst.writableEnded) dst.end();
}

/** One direction, counting bytes; bursts go out as one write (see write-batch.ts). */
function pump(src: Duplex, dst: Duplex): Direction {
  const d = forward(src, dst, !isHttp2Stream(dst));
  src.on('end', onSourceEnd);
  return d;
}

/**
 * One splice's state, found by its listeners on the stream they fire on (`this` of a listener
 * is the emitter) rather than in closures made per connection: ztunnel holds thousands of idle
 * connections, and each closure and its context cost heap for as long as the connection lives
 * (bench/README.md, per idle connection).
 */
class Splice {
  readonly result: SpliceResult = { up: 0, down: 0 };
  closed = 0;
  // Per side: its close was handled (two flags, not a Set).
  downSeen = false;
  upSeen = false;
  upward: Direction | undefined;
  downward: Direction | undefined;

  constructor(
    readonly down: Duplex,
    readonly up: Duplex,
    private readonly resolve: (r: SpliceResult) => void,
  ) {}

  sideClosed(self: Duplex): void {
    const isDown = self === this.down;
    if (isDown ? this.downSeen : this.upSeen) return;
    if (isDown) this.downSeen = true;
    else this.upSeen = true;
    const other = isDown ? this.up : this.down;
    const result = this.result;
    if (wasReset(self) && !result.error) {
      result.error = streamResetError((self as H2Stream).rstCode);
    }
    // A side that closed without a clean end in both directions failed: reset the other.
    const clean = self.readableEnded && self.writableFinished && !wasReset(self);
    if (!clean) abort(other, result.error);
    else if (
      !other.destroyed &&
      !isHttp2Stream(other) &&
      other.readableEnded &&
      other.writableFinished
    )
      other.destroy();
    if (++this.closed === 2) {
      result.up = this.upward?.bytes ?? 0;
      result.down = this.downward?.bytes ?? 0;
      this.resolve(result);
    }
  }
}

const SPLICE = Symbol('relay.splice');
type WithSplice = { [SPLICE]?: Splice };

function onSideError(this: Duplex, err: Error): void {
  const sp = (this as Duplex & WithSplice)[SPLICE];
  if (sp) sp.result.error ??= err;
}

function onSideClose(this: Duplex): void {
  (this as Duplex & WithSplice)[SPLICE]?.sideClosed(this);
}

/** Sockets close themselves once both directions are done; other duplexes may not. */
function maybeDone(this: Duplex): void {
  if (this.readableEnded && this.writableFinished && !this.destroyed) this.destroy();
}

function fireClose(s: Duplex): void {
  onSideClose.call(s);
}

/**
 * Splices `down` and `up` until both are closed. Resolves (never rejects) with the byte counts
 * and the first error seen, if any. Either side may already be closed when it is called.
 */
export function splice(down: Duplex, up: Duplex): Promise<SpliceResult> {
  for (const s of [down, up]) if (s instanceof net.Socket) s.allowHalfOpen = true;
  isHttp2Stream(down);
  isHttp2Stream(up);
  return new Promise((resolve) => {
    const sp = new Splice(down, up, resolve);
    for (const s of [down, up]) {
      (s as Duplex & WithSplice)[SPLICE] = sp;
      s.on('error', onSideError);
      // `on`, not `once`: a stream emits 'end', 'finish' and 'close' at most once, and each
      // `once` allocates a wrapper that lives as long as the connection.
      s.on('close', onSideClose);
      if (isHttp2Stream(s)) continue;
      s.on('end', maybeDone);
      s.on('finish', maybeDone);
    }
    sp.upward = pump(down, up);
    sp.downward = pump(up, down);
    // A side destroyed before we got it may have emitted 'close' already; its 'close' is
    // emitted on the next tick after destroy(), so by setImmediate it has been seen or never will.
    for (const s of [down, up]) if (s.destroyed) setImmediate(fireClose, s);
  });
}
