/**
 * Load generators for the benchmarks, run inside the client pod's network namespace.
 *
 *   latency  --host H --port P --rate 1000 --connections 4 --size 1024 --seconds 20 --warmup 3
 *     Open loop: request k on a connection is due at t0 + k·(connections/rate) whatever happened
 *     before. A request that cannot go out on time (its connection still awaits an answer) waits
 *     and its latency still counts from when it was due, which corrects for coordinated omission.
 *   connrate --host H --port P --concurrency 8 --seconds 10
 *     Closed loop of connect, 1 byte each way, close, `concurrency` at a time.
 *
 * Prints one JSON object on stdout.
 */
import net from 'node:net';

type Args = Record<string, string>;

function parseArgs(argv: string[]): Args {
  const a: Args = {};
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (k.startsWith('--')) a[k.slice(2)] = argv[++i] ?? '';
  }
  return a;
}

function num(a: Args, k: string, d: number): number {
  const v = a[k];
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`--${k} must be a non-negative number, got ${JSON.stringify(v)}`);
  return n;
}

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

async function latency(a: Args): Promise<object> {
  const host = a.host ?? '127.0.0.1';
  const port = num(a, 'port', 9000);
  const rate = num(a, 'rate', 1000);
  const conns = num(a, 'connections', 4);
  const size = num(a, 'size', 1024);
  const seconds = num(a, 'seconds', 20);
  const warmup = num(a, 'warmup', 3);
  const interval = (conns / rate) * 1000; // ms between requests on one connection
  const payload = Buffer.alloc(size, 0x61);
  const samples: number[] = [];
  // Service time (from the moment the request really went out): what the path costs, without
  // the scheduler's lateness; `samples` (from the due time) is the coordinated-omission-corrected figure.
  const service: number[] = [];
  let errors = 0;
  let sent = 0;
  const sockets = await Promise.all(Array.from({ length: conns }, () => connect(host, port)));
  const start = performance.now() + 50;
  const measureFrom = start + warmup * 1000;
  const end = measureFrom + seconds * 1000;

  await Promise.all(
    sockets.map(
      (s, i) =>
        new Promise<void>((resolve) => {
          // Stagger connections so the aggregate schedule is evenly spaced.
          let due = start + (i * interval) / conns;
          let inflight: number | undefined; // due time of the request awaiting its answer
          let sentAt = 0;
          let got = 0;
          const queue: number[] = [];
          const send = (dueAt: number) => {
            inflight = dueAt;
            sentAt = performance.now();
            got = 0;
            sent++;
            s.write(payload);
          };
          s.on('data', (chunk: Buffer) => {
            got += chunk.length;
            if (inflight === undefined || got < size) return;
            const now = performance.now();
            if (inflight >= measureFrom && inflight < end) {
              samples.push(now - inflight);
              service.push(now - sentAt);
            }
            inflight = undefined;
            const next = queue.shift();
            if (next !== undefined) send(next);
          });
          s.on('error', () => {
            errors++;
            resolve();
          });
          const tick = () => {
            const now = performance.now();
            while (due <= now && due < end) {
              if (inflight === undefined) send(due);
              else queue.push(due);
              due += interval;
            }
            if (due >= end && inflight === undefined && queue.length === 0) {
              s.end();
              resolve();
              return;
            }
            setTimeout(tick, Math.max(0, due - performance.now()));
          };
          tick();
        }),
    ),
  );
  const sorted = Float64Array.from(samples).sort();
  const svc = Float64Array.from(service).sort();
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return {
    workload: 'latency',
    rate,
    connections: conns,
    size,
    seconds,
    requests: sorted.length,
    sent,
    errors,
    achievedRate: round(sorted.length / seconds),
    p50Ms: round(percentile(sorted, 50)),
    p90Ms: round(percentile(sorted, 90)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted[sorted.length - 1] ?? NaN),
    serviceP50Ms: round(percentile(svc, 50)),
    serviceP90Ms: round(percentile(svc, 90)),
    serviceP99Ms: round(percentile(svc, 99)),
  };
}

async function connrate(a: Args): Promise<object> {
  const host = a.host ?? '127.0.0.1';
  const port = num(a, 'port', 9000);
  const concurrency = num(a, 'concurrency', 8);
  const seconds = num(a, 'seconds', 10);
  const end = performance.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const s = net.connect({ host, port, noDelay: true });
      s.once('connect', () => s.write('x'));
      s.once('data', () => {
        done++;
        s.end();
      });
      s.once('close', () => resolve());
      s.once('error', () => {
        errors++;
        s.destroy();
      });
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  return {
    workload: 'connrate',
    concurrency,
    seconds,
    connections: done,
    errors,
    perSecond: Math.round(done / seconds),
  };
}

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  const a = parseArgs(rest);
  const result =
    mode === 'latency' ? await latency(a) : mode === 'connrate' ? await connrate(a) : undefined;
  if (!result) {
    console.error('usage: loadgen latency|connrate --host H --port P [...]');
    process.exitCode = 2;
    return;
  }
  console.log(JSON.stringify(result));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) void main();
