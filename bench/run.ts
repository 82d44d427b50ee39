/**
 * `npm run bench`: builds a fresh lab with the mesh, measures every workload in every mode in
 * alternation, round after round, and writes the report to bench/results/. The lab is torn down
 * at the end, also when a step fails (unless --keep).
 *
 *   node dist/bench/run.js [--rounds 3] [--seconds 10] [--keep] [--profile mesh]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { errorMessage } from '../src/errors.js';
import { resources } from '../src/k8s/resources.js';
import type { Pod } from '../src/k8s/types.js';
import { defaultCluster } from '../src/lab/cluster/cluster.js';
import { labPaths, repoRoot } from '../src/lab/cluster/paths.js';
import { installMesh } from '../src/lab/mesh/install.js';
import { labDown } from '../src/lab/orchestrator/down.js';
import { labClient } from '../src/lab/orchestrator/status.js';
import { labUp } from '../src/lab/orchestrator/up.js';
import {
  aggregate,
  latencySvg,
  markdown,
  MODES,
  targets,
  type Mode,
  type Sample,
} from './report.js';
import { deployBenchPods, type BenchPods } from './setup.js';
import { connrate, iperf, latency, ProcessMeter } from './workloads.js';

const LAB = 'bench';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

/** PIDs of a pod's containers, from the kubelet's records. */
function podPids(pod: Pod): number[] {
  const dir = labPaths(LAB).pids;
  const prefix = `pod-${(pod.metadata.uid ?? '').slice(0, 8)}-`;
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(prefix)) : [];
  return files
    .map((f) => Number(readFileSync(join(dir, f), 'utf8').split('\n')[0]))
    .filter((p) => p > 0);
}

async function meters(): Promise<Record<Mode, ProcessMeter | undefined>> {
  const pods = (await labClient(LAB).list<Pod>(resources.pods)).items;
  const pick = (ns: string, names: string[]) =>
    pods
      .filter((p) => p.metadata.namespace === ns && names.includes(p.metadata.name))
      .flatMap(podPids);
  return {
    direct: undefined,
    mesh: new ProcessMeter(pick('istio-system', ['ztunnel-worker', 'ztunnel-worker2'])),
    stunnel: new ProcessMeter(pick('bench-direct', ['stunnel-client', 'stunnel-server'])),
  };
}

async function measure(pods: BenchPods, rounds: number, seconds: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  const procs = await meters();
  const workloads: [string, (netns: string, mode: Mode) => Promise<Record<string, number>>][] = [
    ['iperf-1', (n, m) => iperf(n, pods.targets[m], 1, seconds)],
    ['iperf-8', (n, m) => iperf(n, pods.targets[m], 8, seconds)],
    ['latency-4', async (n, m) => ({ ...(await latency(n, pods.targets[m], 4, seconds)) })],
    ['latency-16', async (n, m) => ({ ...(await latency(n, pods.targets[m], 16, seconds)) })],
    ['connrate', async (n, m) => ({ ...(await connrate(n, pods.targets[m], seconds)) })],
  ];
  for (let round = 1; round <= rounds; round++) {
    for (const [workload, run] of workloads) {
      // Rotate the order each round so no mode always runs first (cache, frequency effects).
      const order = MODES.map((_, i) => MODES[(i + round) % MODES.length]!);
      for (const mode of order) {
        const netns = mode === 'mesh' ? pods.clientNetns.mesh : pods.clientNetns.direct;
        const meter = procs[mode];
        meter?.start();
        const t = Date.now();
        try {
          const metrics = await run(netns, mode);
          const usage = meter?.stop();
          if (usage) {
            metrics.cpuSeconds = usage.cpuSeconds;
            metrics.peakRssMb = usage.peakRssMb;
            if (metrics.requests)
              metrics.cpuSecondsPer1000Req = (usage.cpuSeconds / metrics.requests) * 1000;
            if (metrics.gbps)
              metrics.cpuSecondsPerGiB =
                usage.cpuSeconds / ((metrics.gbps * seconds) / 8 / 1.073741824);
          }
          samples.push({ round, mode, workload, metrics });
          log(
            `round ${round}/${rounds} ${workload.padEnd(10)} ${mode.padEnd(7)} ${summary(metrics)} (${((Date.now() - t) / 1000).toFixed(1)}s)`,
          );
        } catch (err) {
          log(`round ${round}/${rounds} ${workload} ${mode} FAILED: ${errorMessage(err)}`);
        }
      }
    }
  }
  return samples;
}

function summary(m: Record<string, number>): string {
  if (m.gbps !== undefined) return `${m.gbps.toFixed(2)} Gbit/s`;
  if (m.p50Ms !== undefined) return `p50 ${m.p50Ms} p90 ${m.p90Ms} p99 ${m.p99Ms} ms`;
  if (m.perSecond !== undefined) return `${m.perSecond} conn/s`;
  return JSON.stringify(m);
}

function commit(): string {
  try {
    return execFileSync('git', ['-C', repoRoot(), 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const rounds = Number(arg('rounds', '3'));
  const seconds = Number(arg('seconds', '10'));
  const outDir = join(repoRoot(), 'bench', 'results');
  const workDir = join(labPaths(LAB).dir, '..', `${LAB}-work`);
  mkdirSync(workDir, { recursive: true });
  const started = Date.now();
  try {
    if (existsSync(labPaths(LAB).dir)) await labDown(LAB, () => undefined);
    log('bringing up lab "bench" (the seeds\' cluster)');
    const rc = await labUp({
      cluster: defaultCluster(LAB),
      scenario: false,
      timeoutMs: 120_000,
      print: (l) => log(`  ${l}`),
    });
    if (rc !== 0) throw new Error(`lab up failed (exit ${rc})`);
    const client = labClient(LAB);
    await installMesh(client, {
      progress: (s, ms) => log(`  mesh: ${s} ${(ms / 1000).toFixed(1)}s`),
    });
    const pods = await deployBenchPods(client, workDir);
    log(`targets: ${JSON.stringify(pods.targets)}`);
    const samples = await measure(pods, rounds, seconds);
    const stats = aggregate(samples);
    const meta = {
      commit: commit(),
      date: new Date().toISOString(),
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`,
      rounds: String(rounds),
      seconds: String(seconds),
      command: `npm run bench -- --rounds ${rounds} --seconds ${seconds}`,
    };
    mkdirSync(outDir, { recursive: true });
    const stamp = `${meta.date.slice(0, 10)}-${meta.commit}`;
    writeFileSync(
      join(outDir, `${stamp}.json`),
      JSON.stringify({ meta, stats, targets: targets(stats), samples }, null, 2) + '\n',
    );
    const md = markdown(stats, meta);
    writeFileSync(join(outDir, `${stamp}.md`), md);
    writeFileSync(join(outDir, 'latest.md'), md);
    const svg = join(outDir, `${stamp}-latency.svg`);
    writeFileSync(svg, latencySvg(stats));
    try {
      execFileSync('rsvg-convert', ['-o', join(outDir, 'latest-latency.png'), svg]);
    } catch (err) {
      log(`no PNG chart (${errorMessage(err)}); install librsvg2-bin`);
    }
    process.stdout.write('\n' + md);
    log(
      `done in ${((Date.now() - started) / 1000).toFixed(0)}s; report in bench/results/${stamp}.md`,
    );
    return 0;
  } catch (err) {
    log(`bench failed: ${errorMessage(err)}`);
    return 1;
  } finally {
    if (!flag('keep')) {
      log('tearing the lab down');
      await labDown(LAB, () => undefined).catch((e: unknown) =>
        log(`lab down failed: ${errorMessage(e)}; run \`ambit lab down --name ${LAB}\``),
      );
    }
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(errorMessage(err));
    process.exitCode = 1;
  },
);
