/**
 * Forwards one readable into a writable, coalescing bursts into single writes. One TLS read of
 * an HBONE connection yields several HTTP/2 DATA chunks, and as Node's 16 KiB DATA frames and
 * 16 KiB TLS records are not aligned they arrive cut as 16375 + 9, 16366 + 18, … bytes: written
 * one by one that is a syscall and a TCP segment each (half of them a few bytes long), which
 * made the kernel's write path most of ztunnel's CPU under bulk transfer. Corking the
 * destination for the rest of the event-loop turn sends a burst as one writev.
 *
 * `batch` false (an HTTP/2 stream destination) writes each chunk at once: nghttp2 already
 * gathers a turn's frames into one write to TLS, and corking on top delays them by one more
 * event-loop iteration (strace of ztunnel A under 1 KiB request/response: read → epoll_wait →
 * write per request became read → write).
 */
import type { Readable, Writable } from 'node:stream';

/** Pause the source only past this much unsent data (sockets' own high-water mark is 16 KiB). */
const BUFFER_LIMIT = 256 * 1024;

/**
 * One direction of a relayed connection. Its listeners are module-level functions that find
 * this state on the stream (`this` of an event listener is the emitter) rather than closures
 * made per connection: ztunnel holds thousands of idle connections, and each closure and its
 * context cost heap for as long as the connection lives (bench/README.md, per idle connection).
 */
export interface Direction {
  readonly src: Readable;
  readonly dst: Writable;
  /** Bytes forwarded so far. */
  bytes: number;
  batch: boolean;
  corked: boolean;
  waiting: boolean;
}

const AS_SRC = Symbol('relay.direction.src');
const AS_DST = Symbol('relay.direction.dst');
type Tagged = { [AS_SRC]?: Direction; [AS_DST]?: Direction };

/** The direction `s` is the source of, if it is being forwarded. */
export function directionFrom(s: Readable): Direction | undefined {
  return (s as Readable & Tagged)[AS_SRC];
}

function flush(d: Direction): void {
  d.corked = false;
  if (!d.dst.destroyed) d.dst.uncork();
}

function onDrain(this: Writable): void {
  const d = (this as Writable & Tagged)[AS_DST];
  if (!d) return;
  d.waiting = false;
  d.src.resume();
}

function onData(this: Readable, chunk: Buffer): void {
  const d = (this as Readable & Tagged)[AS_SRC];
  if (!d) return;
  d.bytes += chunk.length;
  const dst = d.dst;
  if (dst.destroyed) return;
  if (d.batch && !d.corked) {
    d.corked = true;
    dst.cork();
    setImmediate(flush, d);
  }
  dst.write(chunk);
  // write() returned false long before (needDrain is set), so 'drain' will come.
  if (!d.waiting && dst.writableLength >= Math.max(BUFFER_LIMIT, dst.writableHighWaterMark)) {
    d.waiting = true;
    d.src.pause();
    dst.once('drain', onDrain);
  }
}

/** Forwards `src` into `dst` (batching writes when `batch`); returns the direction's state. */
export function forward(src: Readable, dst: Writable, batch = true): Direction {
  const d: Direction = { src, dst, bytes: 0, batch, corked: false, waiting: false };
  (src as Readable & Tagged)[AS_SRC] = d;
  (dst as Writable & Tagged)[AS_DST] = d;
  src.on('data', onData);
  return d;
}
