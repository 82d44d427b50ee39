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

export function forward(
  src: Readable,
  dst: Writable,
  onChunk?: (n: number) => void,
  batch = true,
): void {
  let corked = false;
  let waiting = false;
  const flush = () => {
    corked = false;
    if (!dst.destroyed) dst.uncork();
  };
  src.on('data', (chunk: Buffer) => {
    onChunk?.(chunk.length);
    if (dst.destroyed) return;
    if (batch && !corked) {
      corked = true;
      dst.cork();
      setImmediate(flush);
    }
    dst.write(chunk);
    // write() returned false long before (needDrain is set), so 'drain' will come.
    if (!waiting && dst.writableLength >= Math.max(BUFFER_LIMIT, dst.writableHighWaterMark)) {
      waiting = true;
      src.pause();
      dst.once('drain', () => {
        waiting = false;
        src.resume();
      });
    }
  });
}
