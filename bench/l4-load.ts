/**
 * The TCP source and sink of bench/l4-pair.ts: plain sockets on loopback, no mesh code. The
 * sink tells what a connection wants from its first byte, so one listener serves every
 * workload and the proxies' original destination never changes:
 *  - `B` bulk: bytes are counted and dropped; at the client's FIN the sink ends too;
 *  - `E` request/response: every `size` bytes received are answered with `size` bytes, written
 *    as a short head and the rest (a server's headers, then its body);
 *  - `C` connect: the first `size` bytes are answered once, then the sink ends;
 *  - `I` idle: one byte back (the tunnel is up end to end), then nothing until the client ends.
 * The client side measures wall time only; CPU is metered on the proxies by the caller.
 */
import net from 'node:net';
import { once } from 'node:events';

const CHUNK = 64 * 1024;

interface SinkConn {
  mode: number;
  need: number;
  got: number;
}

/** The sink on `host`; returns its port and a close function. */
export async function startSink(
  host: string,
  size: number,
): Promise<{ port: number; close: () => void }> {
  const answer = Buffer.alloc(size, 0x61);
  const head = Math.min(64, size);
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    const c: SinkConn = { mode: 0, need: size, got: 0 };
    s.on('error', () => undefined);
    s.on('data', (chunk: Buffer) => {
      if (c.mode === 0) c.mode = chunk[0]!;
      if (c.mode === 0x42) return; // B: discard
      if (c.mode === 0x49) {
        if (c.got++ === 0) s.write(answer.subarray(0, 1));
        return;
      }
      c.got += chunk.length;
      while (c.got >= c.need) {
        c.got -= c.need;
        s.write(answer.subarray(0, head));
        if (size > head) s.write(answer.subarray(head));
        if (c.mode === 0x43) {
          s.end();
          return;
        }
      }
    });
    s.on('end', () => s.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

export interface Target {
  host: string;
  port: number;
  /** Source address the client binds (a workload's pod IP). */
  from: string;
}

function connect(t: Target): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({
      host: t.host,
      port: t.port,
      localAddress: t.from,
      noDelay: true,
      allowHalfOpen: true,
    });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Sends `bytes` on one connection (64 KiB writes, with backpressure), then FIN; waits for close. */
async function bulkOne(t: Target, bytes: number): Promise<void> {
  const s = await connect(t);
  s.on('error', () => undefined);
  const buf = Buffer.alloc(CHUNK, 0x42);
  const closed = once(s, 'close');
  s.resume();
  for (let sent = 0; sent < bytes; sent += CHUNK) {
    if (!s.write(sent + CHUNK <= bytes ? buf : buf.subarray(0, bytes - sent))) {
      await once(s, 'drain');
    }
  }
  s.end();
  await closed;
}

/** `streams` parallel connections moving `bytes` in total; resolves with the wall seconds. */
export async function bulk(t: Target, bytes: number, streams: number): Promise<number> {
  const t0 = performance.now();
  const each = Math.floor(bytes / streams / CHUNK) * CHUNK;
  await Promise.all(Array.from({ length: streams }, () => bulkOne(t, each)));
  return (performance.now() - t0) / 1000;
}

/** Round-trip latencies in ms, sorted, of `n` closed-loop exchanges of `size` bytes each way. */
export async function requestResponse(t: Target, n: number, size: number): Promise<number[]> {
  const s = await connect(t);
  s.on('error', () => undefined);
  const req = Buffer.alloc(size, 0x45);
  const head = Math.min(64, size);
  const lat: number[] = [];
  let got = 0;
  let t0 = 0;
  let done: () => void = () => undefined;
  s.on('data', (chunk: Buffer) => {
    got += chunk.length;
    if (got < size) return;
    got -= size;
    lat.push(performance.now() - t0);
    done();
  });
  for (let i = 0; i < n; i++) {
    const answered = new Promise<void>((r) => (done = r));
    t0 = performance.now();
    // Two writes per request, as a client writing headers then a body.
    s.write(req.subarray(0, head));
    if (size > head) s.write(req.subarray(head));
    await answered;
  }
  s.end();
  await once(s, 'close');
  return lat.sort((a, b) => a - b);
}

/**
 * `n` short connections, `concurrency` at a time: connect, `size` bytes each way, close.
 * Resolves with each connection's time from connect() to the answer, in ms, sorted.
 */
export async function connections(
  t: Target,
  n: number,
  concurrency: number,
  size: number,
): Promise<number[]> {
  const req = Buffer.alloc(size, 0x43);
  const lat: number[] = [];
  let next = 0;
  const one = async () => {
    const t0 = performance.now();
    const s = await connect(t);
    s.on('error', () => undefined);
    let got = 0;
    s.on('data', (c: Buffer) => {
      if ((got += c.length) >= size && lat.length < n) lat.push(performance.now() - t0);
    });
    const closed = once(s, 'close');
    s.on('end', () => s.end());
    s.write(req);
    await closed;
  };
  const worker = async () => {
    while (next++ < n) await one();
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return lat.sort((a, b) => a - b);
}

/** Opens `n` connections and waits until each got its byte back; returns them open. */
export async function holdIdle(t: Target, n: number): Promise<net.Socket[]> {
  const open: net.Socket[] = [];
  const batch = 50;
  for (let i = 0; i < n; i += batch) {
    const some = await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, async () => {
        const s = await connect(t);
        s.on('error', () => undefined);
        const first = once(s, 'data');
        s.write('I');
        await first;
        return s;
      }),
    );
    open.push(...some);
  }
  return open;
}

export async function closeAll(socks: net.Socket[]): Promise<void> {
  await Promise.all(
    socks.map((s) => {
      const closed = once(s, 'close');
      s.on('end', () => s.end());
      s.end();
      return closed;
    }),
  );
}

export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}
