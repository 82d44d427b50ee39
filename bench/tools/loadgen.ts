/**
 * Load generators for the benchmarks, run inside the client pod's network namespace.
 *
 *   latency  --host H --port P --rate 1000 --connections 4 --size 1024 --seconds 20 --warmup 3
 *     Open loop: request k on a connection is due at t0 + k·(connections/rate) whatever happened
 *     before. A request that cannot go out on time (its connection still awaits an answer) waits
 *     and its latency still counts from when it was due, which corrects for coordinated omission;
 *     one sent on an idle connection counts from when it went out (Node's timers fire up to ~1 ms
 *     late, and that lateness is the generator's, not the path's).
 *   connrate --host H --port P --concurrency 8 --seconds 10
 *     Closed loop of connect, 1 byte each way, close, `concurrency` at a time.
 *
 * Prints one JSON object on stdout.
 */
import net from 'node:net';

export class UsageError extends Error {}

export interface LatencyOptions {
  host: string;
  port: number;
  rate: number;
  connections: number;
  size: number;
  seconds: number;
  warmup: number;
}

export interface ConnrateOptions {
  host: string;
  port: number;
  concurrency: number;
  seconds: number;
}

export type Command =
  { mode: 'latency'; opts: LatencyOptions } | { mode: 'connrate'; opts: ConnrateOptions };

const USAGE =
  'usage: loadgen latency --host H --port P [--rate 1000] [--connections 4] [--size 1024] ' +
  '[--seconds 20] [--warmup 3] | loadgen connrate --host H --port P [--concurrency 8] [--seconds 10]';

const KNOWN: Record<Command['mode'], string[]> = {
  latency: ['host', 'port', 'rate', 'connections', 'size', 'seconds', 'warmup'],
  connrate: ['host', 'port', 'concurrency', 'seconds'],
};

/** Parses the command line; throws UsageError (with the offending option) on anything wrong. */
export function parseCli(argv: string[]): Command {
  const [mode, ...rest] = argv;
  if (mode !== 'latency' && mode !== 'connrate') {
    throw new UsageError(`unknown mode ${JSON.stringify(mode ?? '')}; ${USAGE}`);
  }
  const a: Record<string, string> = {};
  for (let i = 0; i < rest.length; i++) {
    const k = rest[i]!;
    if (!k.startsWith('--') || !KNOWN[mode].includes(k.slice(2))) {
      throw new UsageError(`unknown option ${JSON.stringify(k)} for ${mode}; ${USAGE}`);
    }
    const v = rest[++i];
    if (v === undefined) throw new UsageError(`${k} needs a value`);
    a[k.slice(2)] = v;
  }
  const num = (k: string, d: number, min: number, integer = false): number => {
    const v = a[k];
    if (v === undefined) return d;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      throw new UsageError(
        `--${k} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${JSON.stringify(v)}`,
      );
    }
    return n;
  };
  const host = a.host ?? '127.0.0.1';
  const port = num('port', 9000, 1, true);
  if (port > 65535) throw new UsageError(`--port must be ≤ 65535, got ${port}`);
  if (mode === 'latency') {
    return {
      mode,
      opts: {
        host,
        port,
        rate: num('rate', 1000, 1),
        connections: num('connections', 4, 1, true),
        size: num('size', 1024, 1, true),
        seconds: num('seconds', 20, 0.1),
        warmup: num('warmup', 3, 0),
      },
    };
  }
  return {
    mode,
    opts: {
      host,
      port,
      concurrency: num('concurrency', 8, 1, true),
      seconds: num('seconds', 10, 0.1),
    },
  };
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

/** A connection that has not answered this long after the run's end is counted as failed. */
const GRACE_MS = 5000;

async function latency(o: LatencyOptions): Promise<object> {
  const { host, port, rate, connections: conns, size, seconds, warmup } = o;
  const interval = (conns / rate) * 1000; // ms between requests on one connection
  const payload = Buffer.alloc(size, 0x61);
  const samples: number[] = [];
  // Service time (from the moment the request really went out): what the path costs, without
  // queueing behind a slow answer; `samples` is the coordinated-omission-corrected figure.
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
          let origin = 0; // what its latency counts from
          let sentAt = 0;
          let got = 0;
          let finished = false;
          const queue: number[] = [];
          const finish = () => {
            if (finished) return;
            finished = true;
            resolve();
          };
          const send = (dueAt: number, from: number) => {
            inflight = dueAt;
            sentAt = performance.now();
            origin = from || sentAt;
            got = 0;
            sent++;
            s.write(payload);
          };
          s.on('data', (chunk: Buffer) => {
            got += chunk.length;
            if (inflight === undefined || got < size) return;
            const now = performance.now();
            if (inflight >= measureFrom && inflight < end) {
              samples.push(now - origin);
              service.push(now - sentAt);
            }
            inflight = undefined;
            // A request that waited for this answer counts from when it was due.
            const next = queue.shift();
            if (next !== undefined) send(next, next);
          });
          s.on('error', () => {
            errors++;
            finish();
          });
          s.on('close', finish);
          const tick = () => {
            if (finished) return;
            const now = performance.now();
            while (due <= now && due < end) {
              // On an idle connection the request goes out now: the timer's own lateness
              // (Node timers have 1 ms granularity) is the load generator's, not the path's.
              if (inflight === undefined) send(due, 0);
              else queue.push(due);
              due += interval;
            }
            if (due >= end && inflight === undefined && queue.length === 0) {
              s.end();
              finish();
              return;
            }
            if (now > end + GRACE_MS) {
              errors++;
              s.destroy();
              finish();
              return;
            }
            setTimeout(tick, due < end ? Math.max(0, due - performance.now()) : 10);
          };
          tick();
        }),
    ),
  );
  const sorted = Float64Array.from(samples).sort();
  const svc = Float64Array.from(service).sort();
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return {
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

async function connrate(o: ConnrateOptions): Promise<object> {
  const { host, port, concurrency, seconds } = o;
  const end = performance.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const s = net.connect({ host, port, noDelay: true });
      s.setTimeout(GRACE_MS, () => s.destroy(new Error('timeout')));
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
      while (performance.now() < end) {
        const before = errors;
        await one();
        // A refused connection fails at once: do not spin the CPU the measured path needs.
        if (errors > before) await new Promise((r) => setTimeout(r, 10));
      }
    }),
  );
  return {
    concurrency,
    seconds,
    connections: done,
    errors,
    perSecond: Math.round(done / seconds),
  };
}

async function main(): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCli(process.argv.slice(2));
  } catch (err) {
    console.error(`loadgen: ${(err as Error).message}`);
    return 2;
  }
  try {
    const result = cmd.mode === 'latency' ? await latency(cmd.opts) : await connrate(cmd.opts);
    console.log(JSON.stringify(result));
    return 0;
  } catch (err) {
    console.error(
      `loadgen: ${cmd.mode} to ${cmd.opts.host}:${cmd.opts.port}: ${(err as Error).message}`,
    );
    return 1;
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  void main().then((code) => (process.exitCode = code));
}
