/** One measurement each, run from inside the client pod's network namespace. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError } from '../src/errors.js';
import { repoRoot } from '../src/lab/cluster/paths.js';
import { out } from '../src/sys/exec.js';
import type { Endpoint } from './setup.js';

export async function iperf(
  netns: string,
  t: Endpoint,
  streams: number,
  seconds: number,
): Promise<{ gbps: number; gib: number }> {
  const text = await out(
    'iperf3',
    ['-c', t.host, '-p', String(t.iperfPort), '-t', String(seconds), '-P', String(streams), '-J'],
    {
      netns,
      timeoutMs: (seconds + 30) * 1000,
    },
  );
  const j = JSON.parse(text) as {
    end?: { sum_received?: { bits_per_second?: number; bytes?: number } };
    error?: string;
  };
  const bps = j.end?.sum_received?.bits_per_second;
  if (j.error || bps === undefined) {
    throw new AmbitError(
      'BENCH_IPERF_FAILED',
      `iperf3 to ${t.host}:${t.iperfPort} failed: ${j.error ?? 'no result'}`,
      { value: t },
    );
  }
  return { gbps: bps / 1e9, gib: (j.end?.sum_received?.bytes ?? 0) / 2 ** 30 };
}

function loadgen(
  netns: string,
  args: string[],
  timeoutMs: number,
): Promise<Record<string, number>> {
  const js = join(repoRoot(), 'dist', 'bench', 'tools', 'loadgen.js');
  return out(process.execPath, [js, ...args], { netns, timeoutMs }).then(
    (s) => JSON.parse(s) as Record<string, number>,
  );
}

export interface LatencyResult {
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  serviceP50Ms: number;
  requests: number;
  /** Requests sent, warm-up included (what the proxies' CPU time was spent on). */
  sent: number;
  errors: number;
}

export async function latency(
  netns: string,
  t: Endpoint,
  connections: number,
  seconds: number,
  rate = 1000,
): Promise<LatencyResult> {
  const r = await loadgen(
    netns,
    [
      'latency',
      '--host',
      t.host,
      '--port',
      String(t.echoPort),
      '--rate',
      String(rate),
      '--connections',
      String(connections),
      '--size',
      '1024',
      '--seconds',
      String(seconds),
      '--warmup',
      '2',
    ],
    (seconds + 30) * 1000,
  );
  return r as unknown as LatencyResult;
}

export async function connrate(
  netns: string,
  t: Endpoint,
  seconds: number,
): Promise<{ perSecond: number; connections: number; errors: number }> {
  const r = await loadgen(
    netns,
    [
      'connrate',
      '--host',
      t.host,
      '--port',
      String(t.echoPort),
      '--concurrency',
      '8',
      '--seconds',
      String(seconds),
    ],
    (seconds + 30) * 1000,
  );
  return { perSecond: r.perSecond ?? 0, connections: r.connections ?? 0, errors: r.errors ?? 0 };
}

/** Reads `Name: <n> kB` from /proc/<pid>/status, in MB (0 when absent). */
function statusMb(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

export interface Usage {
  cpuSeconds: number;
  /** Largest peak RSS (VmHWM) among the processes, MB: what `ps`/`top` and the target use. */
  peakRssMb: number;
  /**
   * Largest anonymous (private) RSS seen among the processes, sampled every 100 ms, MB. RSS also
   * counts the mapped executable (~45 MB for node, shared by every Node process on the host).
   */
  peakAnonMb: number;
}

/** CPU seconds and peak memory of a set of processes (the two ztunnels, or the two stunnels). */
export class ProcessMeter {
  private startCpu = 0;
  private peakAnon = 0;
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly pids: number[]) {}

  private cpuSeconds(): number {
    let ticks = 0;
    for (const pid of this.pids) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    }
    return ticks / 100; // USER_HZ is 100 on Linux
  }

  private sample(): void {
    for (const pid of this.pids) {
      try {
        this.peakAnon = Math.max(this.peakAnon, statusMb(pid, 'RssAnon'));
      } catch {
        /* exited: stop() reports it */
      }
    }
  }

  /** Resets the peak-RSS watermark (VmHWM) and notes CPU time so far. */
  start(): void {
    for (const pid of this.pids) writeFileSync(`/proc/${pid}/clear_refs`, '5');
    this.startCpu = this.cpuSeconds();
    this.peakAnon = 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), 100);
  }

  /** Usage since start(). */
  stop(): Usage {
    clearInterval(this.timer);
    this.sample();
    let peak = 0;
    for (const pid of this.pids) peak = Math.max(peak, statusMb(pid, 'VmHWM'));
    return {
      cpuSeconds: Math.round((this.cpuSeconds() - this.startCpu) * 100) / 100,
      peakRssMb: Math.round(peak * 10) / 10,
      peakAnonMb: Math.round(this.peakAnon * 10) / 10,
    };
  }
}

/** `bench/l7-loadgen.ts` from the client pod: open-loop latency at `rate`, or closed-loop max. */
export async function l7Load(
  netns: string,
  t: { host: string; h1: number; h2: number },
  proto: 'h1' | 'h2' | 'grpc',
  kind: 'latency' | 'max',
  seconds: number,
): Promise<Record<string, number>> {
  const js = join(repoRoot(), 'dist', 'bench', 'l7-loadgen.js');
  const port = proto === 'h1' ? t.h1 : t.h2;
  const args = [
    kind,
    '--url',
    `http://${t.host}:${port}/bench`,
    '--proto',
    proto,
    '--connections',
    '4',
    '--seconds',
    String(seconds),
    '--warmup',
    '2',
    ...(kind === 'latency' ? ['--rate', '1000'] : ['--concurrency', '32']),
  ];
  const text = await out(process.execPath, [js, ...args], {
    netns,
    timeoutMs: (seconds + 40) * 1000,
  });
  const r = JSON.parse(text) as Record<string, unknown>;
  const nums: Record<string, number> = {};
  for (const [k, v] of Object.entries(r)) if (typeof v === 'number') nums[k] = v;
  return nums;
}
