/**
 * `npm run bench:soak`: the soak of issue 15 — steady mixed L4 + L7 traffic through both
 * ztunnels and a waypoint for `--minutes` (default 30), and whether the proxies' memory and fds
 * stay flat. The bench lab (bench/setup.ts, with the waypoint of bench/l7-setup.ts), then:
 *
 *   idle-before (--idle-minutes, default 2) → load (--minutes) → idle-after (--idle-minutes + 1)
 *
 * Load, all from the mesh client pod on worker2, each generator restarted every minute so
 * connections come and go as well as requests:
 *  - L4: bench/tools/loadgen.js latency to the mesh echo server, 200 req/s over 4 connections,
 *    1 KiB (client → ztunnel worker2 → HBONE → ztunnel worker → server), and 5 s of
 *    connection churn (connrate, 2 at a time) each minute;
 *  - L7: bench/l7-loadgen.js latency to the waypoint'd Service, 100 req/s over 4 connections,
 *    HTTP/1.1, h2c and gRPC in turn (client → ztunnel → waypoint → ztunnel → server).
 * Rates are low on purpose: this measures what stays behind, not throughput, on a shared
 * 2-core machine; every 10 s it samples each proxy's RSS and anonymous RSS and open fds
 * (/proc), V8 heap and trim counters (/metrics) and connection table (/config_dump).
 *
 * The report (bench/results/<date>-soak-<commit>.md and .svg) judges flatness
 * (bench/soak-report.ts). The lab is removed at the end unless --keep.
 *
 *   node dist/bench/soak.js [--minutes 30] [--idle-minutes 2] [--lab soak] [--keep]
 *   node dist/bench/soak.js --from <lab work dir>/soak-<ms>.json   # the report again, no lab
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError, errorMessage } from '../src/errors.js';
import { resources } from '../src/k8s/resources.js';
import type { Pod } from '../src/k8s/types.js';
import { defaultCluster } from '../src/lab/cluster/cluster.js';
import { labPaths, repoRoot } from '../src/lab/cluster/paths.js';
import { installMesh } from '../src/lab/mesh/install.js';
import { labDown } from '../src/lab/orchestrator/down.js';
import { labClient } from '../src/lab/orchestrator/status.js';
import { labUp } from '../src/lab/orchestrator/up.js';
import { proxyRuntimeEnv } from '../src/runtime/env.js';
import { httpGetInNetns } from '../src/sys/netns-http.js';
import { writeChart } from './plot.js';
import { podPids } from './pods.js';
import { deployBenchPods, ECHO_PORT } from './setup.js';
import {
  judge,
  soakMarkdown,
  soakSvg,
  type Phase,
  type ProxySample,
  type SoakSample,
} from './soak-report.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

function minutes(name: string, def: string): number {
  const v = Number(arg(name, def));
  if (!Number.isFinite(v) || v <= 0)
    throw new AmbitError('BENCH_BAD_ARG', `--${name} must be a positive number of minutes`, {
      value: arg(name, def),
      hint: 'node dist/bench/soak.js [--minutes 30] [--idle-minutes 2] [--lab soak] [--keep]',
    });
  return v;
}

const LAB = arg('lab', 'soak');
if (!/^[a-z][a-z0-9]{0,11}$/.test(LAB))
  throw new AmbitError('BENCH_BAD_ARG', `--lab must be a short lowercase name, got ${LAB}`, {
    value: LAB,
  });
const SAMPLE_MS = 10_000;
const MB = 1024 * 1024;

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

/** A proxy to watch: its main process and its pod's network namespace. */
interface Watched {
  name: string;
  pid: number;
  netns: string;
  kind: 'ztunnel' | 'waypoint';
}

/** The node process of a pod (the sandbox's shell execs it, but check the command line). */
function nodePid(pod: Pod): number {
  for (const pid of podPids(LAB, pod)) {
    const seen = [pid];
    // Depth-first through children until a process whose argv[0] is node.
    while (seen.length > 0) {
      const p = seen.shift()!;
      try {
        const argv0 = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0] ?? '';
        if (/node$/.test(argv0)) return p;
        const kids = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
        if (kids) seen.push(...kids.split(/\s+/).map(Number));
      } catch {
        /* gone */
      }
    }
  }
  throw new AmbitError('BENCH_NO_ZTUNNEL', `no node process for pod ${pod.metadata.name}`, {
    value: pod.metadata.name,
  });
}

function status(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

function metric(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

async function sampleProxy(w: Watched): Promise<ProxySample | undefined> {
  try {
    const s: ProxySample = {
      rssMb: status(w.pid, 'VmRSS'),
      anonMb: status(w.pid, 'RssAnon'),
      fds: readdirSync(`/proc/${w.pid}/fd`).length,
    };
    const [metrics, dump] = await Promise.all([
      httpGetInNetns(w.netns, 'http://127.0.0.1:15020/metrics').catch(() => ''),
      httpGetInNetns(w.netns, 'http://127.0.0.1:15000/config_dump').catch(() => ''),
    ]);
    const mb = (n: string) => {
      const v = metric(metrics, n);
      return v === undefined ? undefined : v / MB;
    };
    s.heapUsedMb = mb('nodejs_heap_size_used_bytes');
    s.heapTotalMb = mb('nodejs_heap_size_total_bytes');
    s.externalMb = mb('nodejs_external_memory_bytes');
    s.trims = metric(metrics, 'ambit_malloc_trims_total');
    s.trimReturnedMb = mb('ambit_malloc_trim_returned_bytes_total');
    if (dump) {
      const d = JSON.parse(dump) as {
        connections?: unknown[];
        hbone?: { serverConnections?: number };
      };
      s.connections = w.kind === 'ztunnel' ? d.connections?.length : d.hbone?.serverConnections;
    }
    return s;
  } catch (e) {
    log(`sample of ${w.name} failed: ${errorMessage(e)}`);
    return undefined;
  }
}

/** A generator that reruns one command every `everyMs` until stopped, counting what it did. */
class Repeater {
  private child?: ChildProcess;
  private stopped = false;
  readonly done: Promise<void>;
  /** Requests (or connections) reported by runs finished since the last take(). */
  private finished = 0;
  errors = 0;

  constructor(
    readonly name: string,
    netns: string,
    args: () => string[],
    everyMs: number,
  ) {
    this.done = (async () => {
      while (!this.stopped) {
        const started = Date.now();
        await new Promise<void>((resolve) => {
          const c = spawn('ip', ['netns', 'exec', netns, process.execPath, ...args()], {
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          this.child = c;
          let out = '';
          c.stdout.on('data', (b: Buffer) => (out += b.toString()));
          c.stderr.on('data', () => undefined);
          c.on('close', () => {
            try {
              const r = JSON.parse(out) as Record<string, number>;
              this.finished += r.requests ?? r.connections ?? 0;
              this.errors += r.errors ?? 0;
            } catch {
              if (!this.stopped) this.errors++;
            }
            resolve();
          });
        });
        const wait = everyMs - (Date.now() - started);
        if (wait > 0 && !this.stopped) await sleep(wait);
      }
    })();
  }

  take(): number {
    const n = this.finished;
    this.finished = 0;
    return n;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.child?.kill('SIGINT');
    await this.done;
  }
}

function commit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot() })
      .toString()
      .trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: repoRoot(),
    })
      .toString()
      .trim();
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

/** Judges the samples and writes bench/results/<date>-soak-<commit>.{md,svg,png}; 0 when flat. */
function writeReport(
  meta: Record<string, string>,
  samples: SoakSample[],
  warmupMin: number,
): number {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.proxies)))];
  const judgements = names.map((n) => judge(samples, n, warmupMin));
  const base = `${meta.date!.slice(0, 10)}-soak-${meta.commit!.replace('+dirty', '')}`;
  const outDir = join(repoRoot(), 'bench', 'results');
  const chart = writeChart(join(outDir, base), soakSvg(samples, names), log);
  writeFileSync(
    join(outDir, `${base}.md`),
    soakMarkdown(samples, judgements, meta, chart.png ?? chart.svg),
  );
  log(`report: bench/results/${base}.md`);
  for (const j of judgements)
    log(
      `${j.proxy}: RSS ${j.rssFirst.toFixed(1)} → ${j.rssLast.toFixed(1)} MB (${j.memoryFlat ? 'flat' : 'grew'}), fds ${j.fdsFirst} → ${j.fdsLast} (${j.fdsFlat ? 'flat' : 'grew'}), idle ${j.rssIdleBefore?.toFixed(1)} → ${j.rssIdleAfter?.toFixed(1)} MB, trims ${j.trims}`,
    );
  return judgements.every((j) => j.memoryFlat && j.fdsFlat) ? 0 : 1;
}

async function main(): Promise<number> {
  const from = arg('from', '');
  if (from) {
    const r = JSON.parse(readFileSync(from, 'utf8')) as {
      meta: Record<string, string>;
      samples: SoakSample[];
      warmupMin: number;
    };
    return writeReport(r.meta, r.samples, r.warmupMin);
  }
  const loadMin = minutes('minutes', '30');
  const idleMin = minutes('idle-minutes', '2');
  const keep = process.argv.includes('--keep');
  const workDir = join(labPaths(LAB).dir, '..', '..', LAB);
  mkdirSync(workDir, { recursive: true });
  const loadAtStart = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  let interrupted = false;
  const down = () =>
    labDown(LAB, () => undefined).catch((e: unknown) =>
      log(`lab down failed: ${errorMessage(e)}; run \`ambit lab down --name ${LAB}\``),
    );
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: stopping`);
    void (keep ? Promise.resolve() : down()).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    log(`bringing up lab "${LAB}"`);
    const rc = await labUp({
      cluster: defaultCluster(LAB),
      scenario: false,
      timeoutMs: 120_000,
      print: (l) => log(`  ${l}`),
    });
    if (rc !== 0) throw new Error(`lab up failed (exit ${rc})`);
    const client = labClient(LAB);
    await installMesh(client, {
      lab: LAB,
      mode: 'pods',
      progress: (s, ms) => log(`  mesh: ${s} ${(ms / 1000).toFixed(1)}s`),
    });
    const pods = await deployBenchPods(client, workDir, { l7: { labDir: labPaths(LAB).dir } });
    const l7 = pods.l7!;
    const all = (await client.list<Pod>(resources.pods)).items;
    const netnsOf = (p: Pod) => p.metadata.annotations?.['lab.ambit.dev/netns'] ?? '';
    const watched: Watched[] = [];
    for (const node of ['worker2', 'worker']) {
      const p = all.find(
        (x) => x.metadata.namespace === 'istio-system' && x.metadata.name === `ztunnel-${node}`,
      );
      if (!p)
        throw new AmbitError('BENCH_NO_ZTUNNEL', `no ztunnel pod on ${node}`, { value: node });
      watched.push({
        name: `ztunnel-${node}`,
        pid: nodePid(p),
        netns: netnsOf(p),
        kind: 'ztunnel',
      });
    }
    watched.push({
      name: 'waypoint',
      pid: nodePid(l7.waypoint),
      netns: netnsOf(l7.waypoint),
      kind: 'waypoint',
    });
    log(`watching ${watched.map((w) => `${w.name}=${w.pid}`).join(' ')}`);

    const samples: SoakSample[] = [];
    const t0 = Date.now();
    let phase: Phase = 'idle-before';
    let gens: Repeater[] = [];
    const sampler = async () => {
      const s: SoakSample = { t: (Date.now() - t0) / 60_000, phase, proxies: {} };
      for (const w of watched) s.proxies[w.name] = await sampleProxy(w);
      if (gens.length) s.load = Object.fromEntries(gens.map((g) => [g.name, g.take()]));
      samples.push(s);
      const z = s.proxies[watched[0]!.name];
      const wp = s.proxies.waypoint;
      log(
        `${phase} t=${s.t.toFixed(1)}m ztunnel-worker2 ${z?.rssMb.toFixed(1)} MB ${z?.fds} fds, ` +
          `waypoint ${wp?.rssMb.toFixed(1)} MB ${wp?.fds} fds`,
      );
    };
    const runPhase = async (p: Phase, ms: number) => {
      phase = p;
      const end = Date.now() + ms;
      while (Date.now() < end && !interrupted) {
        const next = Date.now() + SAMPLE_MS;
        await sampler();
        await sleep(Math.max(0, next - Date.now()));
      }
    };

    await runPhase('idle-before', idleMin * 60_000);
    const mesh = pods.targets.mesh;
    const loadgen = join(repoRoot(), 'dist', 'bench', 'tools', 'loadgen.js');
    const l7gen = join(repoRoot(), 'dist', 'bench', 'l7-loadgen.js');
    const wt = l7.targets.waypoint;
    const protos = ['h1', 'h2', 'grpc'] as const;
    let turn = 0;
    const host = ['--host', mesh.host, '--port', String(ECHO_PORT)];
    gens = [
      new Repeater(
        'l4 req',
        pods.clientNetns.mesh,
        () => [
          loadgen,
          'latency',
          ...host,
          '--rate',
          '200',
          '--connections',
          '4',
          '--size',
          '1024',
          '--seconds',
          '55',
          '--warmup',
          '0',
        ],
        60_000,
      ),
      new Repeater(
        'l4 conn',
        pods.clientNetns.mesh,
        () => [loadgen, 'connrate', ...host, '--concurrency', '2', '--seconds', '5'],
        60_000,
      ),
      new Repeater(
        'l7 req',
        pods.clientNetns.mesh,
        () => {
          const proto = protos[turn++ % protos.length]!;
          const port = proto === 'h1' ? wt.h1 : wt.h2;
          return [
            l7gen,
            'latency',
            '--url',
            `http://${wt.host}:${port}/bench`,
            '--proto',
            proto,
            '--rate',
            '100',
            '--connections',
            '4',
            '--seconds',
            '55',
            '--warmup',
            '0',
          ];
        },
        60_000,
      ),
    ];
    await runPhase('load', loadMin * 60_000);
    await Promise.all(gens.map((g) => g.stop()));
    const errors = Object.fromEntries(gens.map((g) => [g.name, g.errors]));
    gens = [];
    // One more minute than before, so at least two trimmer wake-ups (30 s) see an idle loop.
    await runPhase('idle-after', (idleMin + 1) * 60_000);

    const meta = {
      commit: commit(),
      date: new Date().toISOString(),
      command: `node dist/bench/soak.js ${process.argv.slice(2).join(' ')}`.trim(),
      phases: `idle ${idleMin} min, load ${loadMin} min, idle ${idleMin + 1} min; samples every 10 s`,
      load: 'L4 200 req/s × 1 KiB over 4 connections to the mesh echo server (new connections each minute) + 5 s of connection churn per minute; L7 100 req/s over 4 connections through the waypoint, h1 / h2c / gRPC in turn',
      'load generator errors': JSON.stringify(errors),
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Linux ${os.release()}, Node ${process.version}`,
      'proxy runtime': proxyRuntimeEnv()
        .map((e) => `${e.name}=${e.value}`)
        .concat(`AMBIT_MALLOC_TRIM_MS=${process.env.AMBIT_MALLOC_TRIM_MS ?? 'default (30000)'}`)
        .join(' '),
      'load average at start / end': `${loadAtStart} / ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} (the machine is shared: other agents' builds and tests ran during the soak)`,
    };
    // The raw samples first: a report that fails can be redone with --from.
    const raw = join(workDir, `soak-${Date.now()}.json`);
    writeFileSync(raw, JSON.stringify({ meta, samples, warmupMin: Math.min(5, loadMin / 5) }));
    log(`samples: ${raw}`);
    return writeReport(meta, samples, Math.min(5, loadMin / 5));
  } finally {
    if (!keep && !interrupted) await down();
  }
}

main().then(
  (rc) => process.exit(rc),
  (e: unknown) => {
    console.error(`soak failed: ${errorMessage(e)}`);
    process.exit(1);
  },
);
