/**
 * The proxies' splices on real loopback sockets and a real HTTP/2 session (h2c: TLS plays no
 * part here): many short tunnelled connections on one session must not make the server reset
 * the session, and bursts of small chunks must leave as batched writes.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { splice } from '../../src/relay/splice.js';
import { forward } from '../../src/relay/write-batch.js';

function listen(server: net.Server | http2.Http2Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

const closeServer = (s: net.Server | http2.Http2Server) =>
  new Promise<void>((r) => s.close(() => r()));

void describe('ztunnel splice', () => {
  // app ← hbone splice ← h2 server ⇐ one h2 session ⇐ client splice ← client's TCP connection
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => s.destroy());
    s.pipe(s);
  });
  const h2server = http2.createServer();
  const outbound = net.createServer({ allowHalfOpen: true });
  let session: http2.ClientHttp2Session;
  let outboundPort = 0;
  let goaway: number | undefined;

  before(async () => {
    const echoPort = await listen(echo);
    h2server.on('stream', (stream) => {
      const app = net.connect({ host: '127.0.0.1', port: echoPort, allowHalfOpen: true });
      app.once('connect', () => {
        stream.respond({ ':status': 200 });
        void splice(stream, app);
      });
      app.once('error', () => stream.close(http2.constants.NGHTTP2_CONNECT_ERROR));
    });
    const h2port = await listen(h2server);
    session = http2.connect(`http://127.0.0.1:${h2port}`);
    session.on('goaway', (code) => (goaway = code));
    session.on('error', () => undefined);
    outbound.on('connection', (down) => {
      down.on('error', () => undefined);
      let up: http2.ClientHttp2Stream;
      try {
        up = session.request(
          { ':method': 'CONNECT', ':authority': `127.0.0.1:${echoPort}` },
          { endStream: false },
        );
      } catch {
        down.destroy(); // the session is gone
        return;
      }
      up.once('response', () => void splice(down, up));
      up.once('error', () => down.destroy());
    });
    outboundPort = await listen(outbound);
  });

  after(async () => {
    session?.destroy();
    await Promise.all([closeServer(outbound), closeServer(h2server), closeServer(echo)]);
  });

  /** connect, 1 byte each way, close: what the benchmarks' connection-rate workload does. */
  function oneConnection(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: outboundPort });
      let ok = false;
      s.setTimeout(2000, () => s.destroy());
      s.once('connect', () => s.write('x'));
      s.once('data', (d) => {
        ok = d.toString() === 'x';
        s.end();
      });
      s.once('error', () => undefined);
      s.once('close', () => resolve(ok));
    });
  }

  it(
    '1504 short connections over one session: all answered, no GOAWAY',
    { timeout: 120_000 },
    async () => {
      // nghttp2 (≥ 1.57) answers ~1000 RST_STREAMs (+33/s) with GOAWAY(INTERNAL_ERROR): a client
      // that reset each finished stream instead of letting it close lost every stream in flight.
      let ok = 0;
      const workers = Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 188; i++) if (await oneConnection()) ok++;
      });
      await Promise.all(workers);
      assert.equal(goaway, undefined, `server sent GOAWAY ${goaway}`);
      assert.equal(ok, 8 * 188);
      assert.ok(!session.destroyed && !session.closed);
    },
  );

  it('a burst of small chunks leaves as a few batched writes, in order', async () => {
    const got: Buffer[] = [];
    const sink = net.createServer((s) => s.on('data', (d: Buffer) => got.push(d)));
    const port = await listen(sink);
    const dst = net.connect({ host: '127.0.0.1', port });
    await new Promise((r) => dst.once('connect', r));
    const calls = { write: 0, writev: 0 };
    const sock = dst as unknown as {
      _write: (...a: unknown[]) => void;
      _writev: (...a: unknown[]) => void;
    };
    const w = sock._write.bind(dst);
    const wv = sock._writev.bind(dst);
    sock._write = (...a) => {
      calls.write++;
      w(...a);
    };
    sock._writev = (...a) => {
      calls.writev++;
      wv(...a);
    };
    const { PassThrough } = await import('node:stream');
    const src = new PassThrough();
    forward(src, dst);
    // 200 chunks in one turn of the event loop, like the DATA frames of one TLS read
    const parts = Array.from({ length: 200 }, (_, i) => Buffer.from(`${i},`));
    for (const p of parts) src.write(p);
    const want = Buffer.concat(parts).toString();
    for (let i = 0; i < 100 && Buffer.concat(got).length < want.length; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(Buffer.concat(got).toString(), want);
    assert.ok(calls.write + calls.writev <= 5, `writes: ${JSON.stringify(calls)}`);
    dst.destroy();
    await closeServer(sink);
  });

  it('into an HTTP/2 stream a chunk is handed over at once, into a socket at the end of the turn', async () => {
    const { PassThrough } = await import('node:stream');
    const up = session.request(
      { ':method': 'CONNECT', ':authority': '127.0.0.1:9' },
      { endStream: false },
    );
    up.on('error', () => undefined);
    await new Promise((r) => up.once('response', r));
    const sink = net.createServer((s) => {
      s.on('data', () => undefined);
      s.on('error', () => undefined); // reset when the splice is torn down
    });
    const port = await listen(sink);
    const sock = net.connect({ host: '127.0.0.1', port });
    await new Promise((r) => sock.once('connect', r));
    const toStream = new PassThrough();
    const toSocket = new PassThrough();
    const spliced = [splice(toStream, up), splice(toSocket, sock)];
    toStream.write('x');
    toSocket.write('y');
    // Past the data events, before setImmediate: nghttp2 batches the stream's frames itself
    // (an extra turn would be one more event-loop iteration per request); the socket stays
    // corked so a burst of DATA chunks leaves as one writev.
    for (let i = 0; i < 3; i++) await new Promise((r) => process.nextTick(r));
    assert.equal(up.writableCorked, 0);
    assert.equal(sock.writableCorked, 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(sock.writableCorked, 0);
    toStream.destroy();
    toSocket.destroy();
    await Promise.all(spliced);
    await closeServer(sink);
  });
});
