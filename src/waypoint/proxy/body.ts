/**
 * A request body that can be sent again (retries, mirrors) while it is small: the first
 * `limit` bytes are kept; past that the body streams on and is no longer replayable. One
 * upstream at a time reads it; a retry re-sends what was kept, then continues live.
 */
import type { Readable, Writable } from 'node:stream';

export const REPLAY_LIMIT = 64 * 1024;

export class RequestBody {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private sink?: Writable;
  private started = false;
  private ended = false;
  private failed = false;
  /** Bytes read from the client. */
  bytes = 0;
  replayable = true;

  /** `empty`: the source has no body and will emit nothing (Exchange.emptyBody). */
  constructor(
    private readonly src: Readable,
    private readonly limit = REPLAY_LIMIT,
    empty = false,
  ) {
    this.ended = empty;
  }

  /** True when the whole body has been read and kept. */
  get complete(): boolean {
    return this.ended && this.replayable;
  }

  /** Sends the body (what was kept, then the rest as it arrives) to `dst`; ends it at the end. */
  pipeTo(dst: Writable): void {
    this.sink = dst;
    for (const c of this.chunks) dst.write(c);
    if (this.ended) {
      if (!dst.writableEnded) dst.end();
      return;
    }
    dst.on('drain', () => {
      if (this.sink === dst) this.src.resume();
    });
    if (!this.started) this.start();
    else this.src.resume();
  }

  /** Stops feeding the current sink (its attempt failed or was abandoned). */
  detach(): void {
    this.sink = undefined;
    if (!this.ended) this.src.pause();
  }

  /** The kept bytes, for a mirror of a complete body. */
  buffered(): Buffer {
    return Buffer.concat(this.chunks);
  }

  private start(): void {
    this.started = true;
    this.src.on('data', (c: Buffer) => {
      this.bytes += c.length;
      if (this.replayable) {
        if (this.kept + c.length <= this.limit) {
          this.chunks.push(c);
          this.kept += c.length;
        } else {
          this.replayable = false;
          this.chunks.length = 0;
        }
      }
      const s = this.sink;
      if (!s) {
        this.src.pause();
        return;
      }
      if (!s.write(c)) this.src.pause();
    });
    this.src.on('end', () => {
      this.ended = true;
      // An HTTP/2 GET's upstream stream is ended at creation: end() again only builds an Error.
      if (this.sink && !this.sink.writableEnded) this.sink.end();
    });
    this.src.on('error', () => {
      this.failed = true;
      this.sink?.destroy();
    });
  }

  get aborted(): boolean {
    return this.failed;
  }
}
