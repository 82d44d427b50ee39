/**
 * HTTP load generator for the L7 bench (issue 15), run inside the client pod's network
 * namespace: HTTP/1.1 (keep-alive, one request at a time per connection), HTTP/2 (prior
 * knowledge, h2c; streams in parallel on each session) and gRPC unary (HTTP/2 POST of one
 * length-prefixed message, grpc-status checked).
 *
 *   latency --url http://H:P/path --proto h1|h2|grpc --rate 1000 --connections 4 --seconds 10
 *           --warmup 2
 *     Open loop, corrected for coordinated omission as bench/tools/loadgen.ts does: request k
 *     on a connection is due at t0 + k·connections/rate; one that must wait for its HTTP/1.1
 *     connection counts from when it was due, one sent at once from when it went out.
 *   max --url … --proto … --connections 4 --concurrency 32 --seconds 10
 *     Closed loop, `concurrency` requests outstanding: the highest sustained request rate.
 *
 * Prints one JSON object on stdout; exit 2 with a message naming the option on bad usage.
 */
import http from 'node:http';
import http2 from 'node:http2';
import { percentile } from './tools/loadgen.js';

export class L7UsageError extends Error {}

export type Proto = 'h1' | 'h2' | 'grpc';

export interface L7Options {
  mode: 'latency' | 'max';
  url: URL;
  proto: Proto;
  rate: number;
  connections: number;
  concurrency: number;
  seconds: number;
  warmup: number;
  size: number;
}

const USAGE =
  'usage: l7-loadgen latency|max --url http://H:P/path [--proto h1|h2|grpc] [--rate 1000] ' +
  '[--connections 4] [--concurrency 32] [--seconds 10] [--warmup 2] [--size 1024]';

export function parseL7Cli(argv: string[]): L7Options {
  const [mode, ...rest] = argv;
  if (mode !== 'latency' && mode !== 'max')
    throw new L7UsageError(`unknown mode ${JSON.stringify(mode ?? '')}; ${USAGE}`);
  const known = ['url', 'proto', 'rate', 'connections', 'concurrency', 'seconds', 'warmup', 'size'];
  const a: Record<string, string> = {};
  for (let i = 0; i < rest.length; i++) {
    const k = rest[i]!;
    if (!k.startsWith('--') || !known.includes(k.slice(2)))
      throw new L7UsageError(`unknown option ${JSON.stringify(k)}; ${USAGE}`);
    const v = rest[++i];
    if (v === undefined) throw new L7UsageError(`${k} needs a value`);
    a[k.slice(2)] = v;
  }
  const num = (k: string, d: number, min: number, integer = false): number => {
    const v = a[k];
    if (v === undefined) return d;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
      throw new L7UsageError(
        `--${k} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${JSON.stringify(v)}`,
      );
    return n;
  };
  let url: URL;
  try {
    url = new URL(a.url ?? '');
  } catch {
    throw new L7UsageError(`--url must be an http:// URL, got ${JSON.stringify(a.url ?? '')}`);
  }
  if (url.protocol !== 'http:')
    throw new L7UsageError(`--url must be an http:// URL, got ${JSON.stringify(a.url)}`);
  const proto = (a.proto ?? 'h1') as Proto;
  if (!['h1', 'h2', 'grpc'].includes(proto))
    throw new L7UsageError(`--proto must be h1, h2 or grpc, got ${JSON.stringify(a.proto)}`);
  return {
    mode,
    url,
    proto,
    rate: num('rate', 1000, 1),
    connections: num('connections', 4, 1, true),
    concurrency: num('concurrency', 32, 1, true),
    seconds: num('seconds', 10, 0.1),
    warmup: num('warmup', 2, 0),
    size: num('size', 1024, 1, true),
  };
}

/** One client connection; `request` resolves when a whole answer arrived, rejects on failure. */
interface Conn {
  /** Requests it may carry at once (HTTP/1.1: 1). */
  parallel: number;
  request(): Promise<void>;
  close(): void;
}

/** gRPC's length-prefixed message: flag 0 (not compressed), 4-byte length, the bytes. */
export function grpcFrame(body: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(body.length, 1);
  return Buffer.concat([h, body]);
}

function h1Conn(o: L7Options): Conn {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return {
    parallel: 1,
    request: () =>
      new Promise<void>((resolve, reject) => {
        const req = http.get(o.url, { agent, headers: { 'x-size': String(o.size) } }, (res) => {
          res.on('data', () => undefined);
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error('status'))));
          res.on('error', reject);
        });
        req.on('error', reject);
      }),
    close: () => agent.destroy(),
  };
}

function h2Conn(o: L7Options, session: http2.ClientHttp2Session): Conn {
  const path = o.url.pathname + o.url.search;
  const message = grpcFrame(Buffer.alloc(o.size, 0x61));
  return {
    parallel: Infinity,
    request: () =>
      new Promise<void>((resolve, reject) => {
        const grpc = o.proto === 'grpc';
        const req = session.request(
          grpc
            ? {
                ':method': 'POST',
                ':path': '/bench.Echo/Echo',
                'content-type': 'application/grpc',
                te: 'trailers',
              }
            : { ':method': 'GET', ':path': path, 'x-size': String(o.size) },
          { endStream: !grpc },
        );
        let status = 0;
        let grpcStatus: string | undefined;
        req.on('response', (h) => {
          status = Number(h[':status']);
          if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
        });
        req.on('trailers', (t) => (grpcStatus = String(t['grpc-status'] ?? grpcStatus)));
        req.on('data', () => undefined);
        req.on('end', () => {
          const ok = status === 200 && (!grpc || grpcStatus === '0');
          if (ok) resolve();
          else reject(new Error(`status ${status} grpc-status ${grpcStatus}`));
        });
        req.on('error', reject);
        if (grpc) req.end(message);
      }),
    close: () => session.close(),
  };
}

async function open(o: L7Options): Promise<Conn> {
  if (o.proto === 'h1') {
    const c = h1Conn(o);
    await c.request(); // the connection exists before the clock starts
    return c;
  }
  const session = http2.connect(`http://${o.url.host}`);
  session.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  const c = h2Conn(o, session);
  await c.request();
  return c;
}

const round = (v: number) => Math.round(v * 1000) / 1000;

/** A connection still owing answers this long after the run's end is counted as failed. */
const GRACE_MS = 5000;

export async function latency(o: L7Options): Promise<Record<string, unknown>> {
  const conns = await Promise.all(Array.from({ length: o.connections }, () => open(o)));
  const interval = (o.connections / o.rate) * 1000;
  const start = performance.now() + 50;
  const measureFrom = start + o.warmup * 1000;
  const end = measureFrom + o.seconds * 1000;
  const samples: number[] = [];
  const service: number[] = [];
  let errors = 0;
  let sent = 0;
  await Promise.all(
    conns.map(
      (c, i) =>
        new Promise<void>((resolve) => {
          let due = start + (i * interval) / o.connections;
          let inflight = 0;
          const queue: number[] = [];
          const send = (dueAt: number, fromDue: boolean) => {
            inflight++;
            sent++;
            const sentAt = performance.now();
            const origin = fromDue ? dueAt : sentAt;
            c.request()
              .then(
                () => {
                  const now = performance.now();
                  if (dueAt >= measureFrom && dueAt < end) {
                    samples.push(now - origin);
                    service.push(now - sentAt);
                  }
                },
                () => void errors++,
              )
              .finally(() => {
                inflight--;
                const next = queue.shift();
                if (next !== undefined) send(next, true);
              });
          };
          const tick = () => {
            const now = performance.now();
            while (due <= now && due < end) {
              if (inflight < c.parallel) send(due, false);
              else queue.push(due);
              due += interval;
            }
            if (due >= end && inflight === 0 && queue.length === 0) return resolve();
            if (now > end + GRACE_MS) {
              errors += inflight + queue.length;
              return resolve();
            }
            setTimeout(tick, due < end ? Math.max(0, due - performance.now()) : 10);
          };
          tick();
        }),
    ),
  );
  for (const c of conns) c.close();
  const sorted = Float64Array.from(samples).sort();
  const svc = Float64Array.from(service).sort();
  return {
    mode: 'latency',
    proto: o.proto,
    rate: o.rate,
    connections: o.connections,
    seconds: o.seconds,
    requests: sorted.length,
    sent,
    errors,
    achievedRate: round(sorted.length / o.seconds),
    p50Ms: round(percentile(sorted, 50)),
    p90Ms: round(percentile(sorted, 90)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted[sorted.length - 1] ?? NaN),
    serviceP50Ms: round(percentile(svc, 50)),
    serviceP99Ms: round(percentile(svc, 99)),
  };
}

export async function max(o: L7Options): Promise<Record<string, unknown>> {
  const conns = await Promise.all(Array.from({ length: o.connections }, () => open(o)));
  const warmEnd = performance.now() + o.warmup * 1000;
  const end = warmEnd + o.seconds * 1000;
  let done = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: o.concurrency }, async (_, k) => {
      const c = conns[k % conns.length]!;
      for (;;) {
        const now = performance.now();
        if (now >= end) return;
        try {
          await c.request();
          if (now >= warmEnd) done++;
        } catch {
          errors++;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    }),
  );
  for (const c of conns) c.close();
  return {
    mode: 'max',
    proto: o.proto,
    connections: o.connections,
    concurrency: o.concurrency,
    seconds: o.seconds,
    requests: done,
    errors,
    perSecond: round(done / o.seconds),
  };
}

async function main(): Promise<void> {
  let o: L7Options;
  try {
    o = parseL7Cli(process.argv.slice(2));
  } catch (err) {
    if (err instanceof L7UsageError) {
      process.stderr.write(`l7-loadgen: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const r = o.mode === 'latency' ? await latency(o) : await max(o);
  process.stdout.write(JSON.stringify(r) + '\n');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
