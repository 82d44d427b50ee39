/**
 * The server side of SPDY/3.1 framing as Kubernetes streaming uses it (the kubelet's
 * port-forward, spoken by client-go through moby/spdystream): SYN_STREAM opens a stream with
 * headers, SYN_REPLY accepts it, DATA frames carry bytes with FIN as half-close, RST_STREAM
 * aborts, PING is echoed. spdystream does no flow control, so WINDOW_UPDATE and SETTINGS are
 * read and ignored. Header blocks share one zlib stream per direction with a fixed dictionary.
 */
import { EventEmitter } from 'node:events';
import { constants, inflateSync } from 'node:zlib';
import { AmbitError } from '../../errors.js';
import { SPDY3_DICTIONARY } from './spdy-dictionary.js';

const VERSION = 3;
const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
const PING = 6;
const GOAWAY = 7;
const HEADERS = 8;
const FLAG_FIN = 0x01;
const MAX_DATA = 32 * 1024;
/** RST_STREAM status codes (SPDY/3 §2.4.2). */
export const RST_CANCEL = 5;
export const RST_INTERNAL = 6;

function adler32(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (const x of b) {
    a = (a + x) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

export function encodeHeaderBlock(h: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n, 0);
    return b;
  };
  const entries = Object.entries(h);
  parts.push(u32(entries.length));
  for (const [k, v] of entries) {
    const kb = Buffer.from(k.toLowerCase());
    const vb = Buffer.from(v);
    parts.push(u32(kb.length), kb, u32(vb.length), vb);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(b: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  const need = (n: number): void => {
    if (off + n > b.length) {
      throw new AmbitError('SPDY_BAD_HEADERS', 'truncated SPDY header block', { value: b.length });
    }
  };
  need(4);
  const count = b.readUInt32BE(off);
  off += 4;
  for (let i = 0; i < count; i++) {
    need(4);
    const kl = b.readUInt32BE(off);
    off += 4;
    need(kl);
    const k = b.subarray(off, off + kl).toString();
    off += kl;
    need(4);
    const vl = b.readUInt32BE(off);
    off += 4;
    need(vl);
    out[k.toLowerCase()] = b.subarray(off, off + vl).toString();
    off += vl;
  }
  return out;
}

/**
 * Outgoing header compression without a compressor: the zlib stream is written as stored
 * (uncompressed) deflate blocks, byte-aligned, each header block followed by an empty one as
 * a sync flush, which any inflater reads as the continuation of the same stream. Header blocks are a few dozen bytes; nothing is lost.
 */
class HeaderWriter {
  private started = false;
  next(block: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      // CMF 0x78 (deflate, 32 KiB window), FLG 0x20 (FDICT; 0x7820 % 31 == 0), DICTID.
      const head = Buffer.alloc(6);
      head[0] = 0x78;
      head[1] = 0x20;
      head.writeUInt32BE(adler32(SPDY3_DICTIONARY), 2);
      parts.push(head);
    }
    const stored = (piece: Buffer): void => {
      const h = Buffer.alloc(5);
      h[0] = 0; // BFINAL=0, BTYPE=00 (stored), padded to the byte
      h.writeUInt16LE(piece.length, 1);
      h.writeUInt16LE(~piece.length & 0xffff, 3);
      parts.push(h, piece);
    };
    for (let off = 0; off < block.length; off += 0xffff) stored(block.subarray(off, off + 0xffff));
    // An empty stored block is the sync-flush marker: Go's inflater hands out what it has
    // only when it sees one (as zlib's Z_SYNC_FLUSH writes it).
    stored(Buffer.alloc(0));
    return Buffer.concat(parts);
  }
}

/**
 * Incoming header blocks: each is a sync-flushed continuation of one zlib stream. The input
 * so far is inflated again and the new output taken (header blocks are rare and small).
 */
class HeaderReader {
  private input: Buffer = Buffer.alloc(0);
  private produced = 0;
  next(compressed: Buffer): Buffer {
    this.input = Buffer.concat([this.input, compressed]);
    const out = inflateSync(this.input, {
      dictionary: SPDY3_DICTIONARY,
      finishFlush: constants.Z_SYNC_FLUSH,
    });
    const fresh = out.subarray(this.produced);
    this.produced = out.length;
    return fresh;
  }
}

export class SpdyStream extends EventEmitter {
  remoteClosed = false;
  localClosed = false;
  constructor(
    private readonly session: SpdySession,
    readonly id: number,
    readonly headers: Record<string, string>,
  ) {
    super();
  }

  reply(headers: Record<string, string> = {}): void {
    this.session.sendReply(this.id, headers);
  }

  write(data: Buffer): void {
    if (this.localClosed) return;
    for (let off = 0; off < data.length; off += MAX_DATA) {
      this.session.sendData(this.id, data.subarray(off, off + MAX_DATA), false);
    }
  }

  /** Half-closes our side (DATA with FIN). */
  end(): void {
    if (this.localClosed) return;
    this.localClosed = true;
    this.session.sendData(this.id, Buffer.alloc(0), true);
    this.session.maybeForget(this);
  }

  reset(status = RST_CANCEL): void {
    this.localClosed = true;
    this.remoteClosed = true;
    this.session.sendReset(this.id, status);
    this.session.maybeForget(this);
  }
}

/**
 * One SPDY connection, transport-agnostic: bytes in through `feed`, bytes out through the
 * `write` callback. Emits 'stream' for each SYN_STREAM and 'close' on GOAWAY or a framing error.
 */
export class SpdySession extends EventEmitter {
  private buf: Buffer = Buffer.alloc(0);
  private readonly streams = new Map<number, SpdyStream>();
  private readonly headerOut = new HeaderWriter();
  private readonly headerIn = new HeaderReader();
  private closed = false;

  constructor(private readonly out: (b: Buffer) => void) {
    super();
  }

  feed(chunk: Buffer): void {
    if (this.closed) return;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    try {
      while (this.buf.length >= 8) {
        const len = this.buf.readUIntBE(5, 3);
        if (this.buf.length < 8 + len) break;
        const frame = this.buf.subarray(0, 8 + len);
        this.buf = this.buf.subarray(8 + len);
        this.onFrame(frame);
      }
    } catch (err) {
      this.close(err as Error);
    }
  }

  private onFrame(f: Buffer): void {
    const flags = f[4]!;
    const body = f.subarray(8);
    if ((f[0]! & 0x80) === 0) {
      const s = this.streams.get(f.readUInt32BE(0) & 0x7fffffff);
      if (!s) return;
      if (body.length > 0) s.emit('data', Buffer.from(body));
      if (flags & FLAG_FIN) this.remoteEnd(s);
      return;
    }
    const version = f.readUInt16BE(0) & 0x7fff;
    if (version !== VERSION) {
      throw new AmbitError('SPDY_VERSION', `unsupported SPDY version ${version}`, {
        value: version,
      });
    }
    switch (f.readUInt16BE(2)) {
      case SYN_STREAM: {
        const id = body.readUInt32BE(0) & 0x7fffffff;
        const headers = decodeHeaderBlock(this.headerIn.next(body.subarray(10)));
        const s = new SpdyStream(this, id, headers);
        this.streams.set(id, s);
        this.emit('stream', s);
        if (flags & FLAG_FIN) this.remoteEnd(s);
        return;
      }
      case HEADERS:
        // Read to keep the shared zlib stream in step; streaming here uses no trailers.
        this.headerIn.next(body.subarray(4));
        return;
      case RST_STREAM: {
        const s = this.streams.get(body.readUInt32BE(0) & 0x7fffffff);
        if (!s) return;
        s.remoteClosed = true;
        s.localClosed = true;
        this.streams.delete(s.id);
        s.emit('reset');
        return;
      }
      case PING:
        this.out(Buffer.from(f));
        return;
      case GOAWAY:
        this.close();
        return;
      default:
        return; // SETTINGS, WINDOW_UPDATE, NOOP: nothing to do without flow control
    }
  }

  private remoteEnd(s: SpdyStream): void {
    if (s.remoteClosed) return;
    s.remoteClosed = true;
    s.emit('end');
    this.maybeForget(s);
  }

  maybeForget(s: SpdyStream): void {
    if (s.localClosed && s.remoteClosed) this.streams.delete(s.id);
  }

  private control(type: number, flags: number, body: Buffer): void {
    if (this.closed) return;
    const h = Buffer.alloc(8);
    h.writeUInt16BE(0x8000 | VERSION, 0);
    h.writeUInt16BE(type, 2);
    h[4] = flags;
    h.writeUIntBE(body.length, 5, 3);
    this.out(Buffer.concat([h, body]));
  }

  sendReply(id: number, headers: Record<string, string>): void {
    const idb = Buffer.alloc(4);
    idb.writeUInt32BE(id & 0x7fffffff, 0);
    this.control(
      SYN_REPLY,
      0,
      Buffer.concat([idb, this.headerOut.next(encodeHeaderBlock(headers))]),
    );
  }

  sendReset(id: number, status: number): void {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(id & 0x7fffffff, 0);
    b.writeUInt32BE(status, 4);
    this.control(RST_STREAM, 0, b);
  }

  sendData(id: number, data: Buffer, fin: boolean): void {
    if (this.closed) return;
    const h = Buffer.alloc(8);
    h.writeUInt32BE(id & 0x7fffffff, 0);
    h[4] = fin ? FLAG_FIN : 0;
    h.writeUIntBE(data.length, 5, 3);
    this.out(data.length > 0 ? Buffer.concat([h, data]) : h);
  }

  /** Ends every stream and the session (transport gone, GOAWAY or a framing error). */
  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) {
      s.remoteClosed = true;
      s.localClosed = true;
      s.emit('reset');
    }
    this.streams.clear();
    this.emit('close', err);
  }
}
