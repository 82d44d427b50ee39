/**
 * Memory a proxy gives back after load, and the gauges that show it.
 *
 * Why a trimmer: under load a proxy's buffers come and go through glibc's malloc (OpenSSL,
 * nghttp2, libuv and V8's off-heap backing stores all allocate there). When the load ends the
 * freed chunks stay in glibc's arenas, counted as RSS, until something calls `malloc_trim`;
 * glibc only trims the top of the main heap on its own. ztunnel stayed at 206 MB after the
 * security tests that took it from 85 (issue 10); one manual trim took a loaded ztunnel from
 * 113 to 84.5 MB.
 *
 * The trimmer wakes every `AMBIT_MALLOC_TRIM_MS` (default 30 s, 0 = off) and trims when RSS grew
 * by at least 4 MiB since the last trim (less is not worth a walk of the arenas) and the event
 * loop was at most 80 % busy since the last wake-up: a trim under load returns pages the next
 * second's traffic faults back in, and its walk would sit on the loop's latency.
 *
 * One process runs one proxy, and memory is the process's: the trimmer is process-wide
 * (`startMemoryTrimmer`), and the gauges read it from any metrics registry that renders them.
 */
import { readdirSync } from 'node:fs';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { AmbitError } from '../errors.js';
import type { Logger } from '../log.js';
import { mallocTrim, type TrimResult } from '../sys/malloc.js';

export const DEFAULT_TRIM_INTERVAL_MS = 30_000;
/** RSS growth since the last trim below which a trim is not tried. */
export const MIN_GROWTH_BYTES = 4 * 1024 * 1024;
/** Event-loop utilization (0..1) since the last wake-up above which a trim waits. */
export const MAX_BUSY = 0.8;

export interface TrimmerOptions {
  intervalMs: number;
  minGrowthBytes?: number;
  maxBusy?: number;
  log?: Logger;
  /** Seams for the unit test: the trim call, RSS, and utilization since the last sample. */
  trim?: () => TrimResult;
  rss?: () => number;
  busy?: () => number;
}

export interface TrimStats {
  /** malloc_trim calls made. */
  trims: number;
  /** Sum over trims of RSS before − RSS after (never negative). */
  returnedBytes: number;
  /** Wake-ups that found the loop too busy. */
  skippedBusy: number;
  /** RSS right after the last trim (or at start): growth is measured from here. */
  baselineRss: number;
  /** False off glibc: the trimmer then never calls anything. */
  supported: boolean;
}

export type TickResult = 'trimmed' | 'busy' | 'small' | 'unsupported';

/** Utilization since the previous call, from the loop's own idle/active accounting. */
function utilizationSampler(): () => number {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return u;
  };
}

export class MemoryTrimmer {
  readonly stats: TrimStats;
  private timer?: NodeJS.Timeout;
  private readonly trimFn: () => TrimResult;
  private readonly rss: () => number;
  private readonly busy: () => number;

  constructor(readonly o: TrimmerOptions) {
    this.trimFn = o.trim ?? mallocTrim;
    this.rss = o.rss ?? (() => process.memoryUsage.rss());
    this.busy = o.busy ?? utilizationSampler();
    this.stats = {
      trims: 0,
      returnedBytes: 0,
      skippedBusy: 0,
      baselineRss: this.rss(),
      supported: true,
    };
  }

  start(): void {
    if (this.timer || this.o.intervalMs <= 0) return;
    // unref: a trimmer never keeps a draining proxy alive.
    this.timer = setInterval(() => this.tick(), this.o.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One wake-up: trim if RSS grew enough and the loop is not busy. */
  tick(): TickResult {
    if (!this.stats.supported) return 'unsupported';
    const busy = this.busy();
    const before = this.rss();
    // RSS that fell on its own (V8 released pages) moves the baseline down with it.
    if (before < this.stats.baselineRss) this.stats.baselineRss = before;
    if (before - this.stats.baselineRss < (this.o.minGrowthBytes ?? MIN_GROWTH_BYTES))
      return 'small';
    if (busy > (this.o.maxBusy ?? MAX_BUSY)) {
      this.stats.skippedBusy++;
      return 'busy';
    }
    return this.trimNow(before);
  }

  /** Trims unconditionally (the wake-up's checks passed, or a caller wants it now). */
  trimNow(before = this.rss()): TickResult {
    let r: TrimResult;
    try {
      r = this.trimFn();
    } catch (err) {
      // A glibc without the symbol: say it once and stop trying, the proxy keeps serving.
      this.stats.supported = false;
      this.stop();
      this.o.log?.warn('malloc_trim unavailable; memory trimming off', {
        error: err instanceof Error ? err.message : String(err),
      });
      return 'unsupported';
    }
    if (!r.supported) {
      this.stats.supported = false;
      this.stop();
      return 'unsupported';
    }
    const after = this.rss();
    this.stats.trims++;
    this.stats.returnedBytes += Math.max(0, before - after);
    this.stats.baselineRss = after;
    this.o.log?.debug('malloc_trim', { before, after, released: r.released });
    return 'trimmed';
  }
}

/** AMBIT_MALLOC_TRIM_MS: whole milliseconds, 0 = off, unset = the default. */
export function trimIntervalFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.AMBIT_MALLOC_TRIM_MS?.trim();
  if (v === undefined || v === '') return DEFAULT_TRIM_INTERVAL_MS;
  if (!/^\d+$/.test(v))
    throw new AmbitError('RUNTIME_BAD_TRIM_INTERVAL', `AMBIT_MALLOC_TRIM_MS=${v}`, {
      value: v,
      hint: 'milliseconds between trims, 0 to turn trimming off',
    });
  return Number(v);
}

let processTrimmer: MemoryTrimmer | undefined;

/** The proxy's trimmer (ztunnel and waypoint main.ts): one per process, started once. */
export function startMemoryTrimmer(
  log?: Logger,
  env: NodeJS.ProcessEnv = process.env,
): MemoryTrimmer {
  if (!processTrimmer) {
    processTrimmer = new MemoryTrimmer({ intervalMs: trimIntervalFromEnv(env), log });
    processTrimmer.start();
    log?.info('memory trimmer', { intervalMs: processTrimmer.o.intervalMs });
  }
  return processTrimmer;
}

/** Stops the process's trimmer (drain); its counters stay readable. */
export function stopMemoryTrimmer(): void {
  processTrimmer?.stop();
}

function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length - 1; // the directory handle readdir opened
  } catch {
    return undefined;
  }
}

/**
 * Process gauges in Prometheus text, under the names Prometheus' own client libraries use
 * (`process_*` from client_golang's process collector, which Istio's Go components export;
 * `nodejs_*` from prom-client), so dashboards made for them read these. The trim counters are
 * ambit's own (`ambit_` prefix: no Istio component has them).
 */
export function memoryMetricLines(trimmer: MemoryTrimmer | undefined = processTrimmer): string[] {
  const m = process.memoryUsage();
  const out: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, v: number) =>
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${v}`);
  metric('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', m.rss);
  const fds = openFds();
  if (fds !== undefined)
    metric('process_open_fds', 'gauge', 'Number of open file descriptors.', fds);
  metric('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap used, bytes.', m.heapUsed);
  metric('nodejs_heap_size_total_bytes', 'gauge', 'V8 heap committed, bytes.', m.heapTotal);
  metric(
    'nodejs_external_memory_bytes',
    'gauge',
    'Memory of C++ objects bound to JavaScript objects (buffers included), bytes.',
    m.external,
  );
  metric(
    'nodejs_array_buffers_bytes',
    'gauge',
    'ArrayBuffer and Buffer backing stores (part of external), bytes.',
    m.arrayBuffers,
  );
  const s = trimmer?.stats;
  metric('ambit_malloc_trims_total', 'counter', 'malloc_trim(0) calls made.', s?.trims ?? 0);
  metric(
    'ambit_malloc_trim_returned_bytes_total',
    'counter',
    'RSS given back by malloc_trim (RSS before - after, summed), bytes.',
    s?.returnedBytes ?? 0,
  );
  return out;
}
