/**
 * `npm run bench`: builds a fresh lab with the mesh, measures every workload in every mode in
 * alternation, round after round, and writes the report to bench/results/. The lab is torn down
 * at the end, also when a step fails (unless --keep).
 *
 *   node dist/bench/run.js [--rounds 3] [--seconds 10] [--only w1,w2] [--keep]
 *                          [--profile mesh:<workload>] [--lab bench] [--reuse] [--ebpf]
 *                          [--l7] [--scale 100,1000,10000] [--all] [--baseline <git-ref>]
 *
 * --baseline <ref> builds that commit in a temporary worktree (bench/baseline.ts) and adds the
 * mode mesh-baseline: two more nodes whose ztunnels run it, in the same rounds as mesh; the
 * report gains a "this commit vs baseline" table.
 *
 * --l7 adds the waypoint vs HAProxy workloads (bench/l7-setup.ts); --scale runs
 * scale-controlplane.js first (no lab yet, so nothing else on the cores) and embeds its table;
 * --all is --ebpf --l7 --scale 100,1000,10000: the whole report from one command.
 *
 * --lab names the lab (two benches on one machine need two names); --reuse keeps a lab left
 * by --keep and only restarts its ztunnels on the current build (implies --keep).
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { AmbitError, errorMessage } from '../src/errors.js';
import { resources } from '../src/k8s/resources.js';
import type { Pod } from '../src/k8s/types.js';
import { defaultCluster } from '../src/lab/cluster/cluster.js';
import { labPaths, repoRoot } from '../src/lab/cluster/paths.js';
import { installMesh } from '../src/lab/mesh/install.js';
import { labDown } from '../src/lab/orchestrator/down.js';
import { labClient } from '../src/lab/orchestrator/status.js';
import { labUp } from '../src/lab/orchestrator/up.js';
import {
  baselineZtunnelCommand,
  buildBaseline,
  removeBaseline,
  type Baseline,
} from './baseline.js';
import {
  addedLatency,
  aggregate,
  BASELINE_MODE,
  EBPF_MODE,
  latencySvg,
  MODES,
  type Failure,
  type Mode,
  type Sample,
} from './report.js';
import {
  checkMoved,
  delta,
  moved,
  readCounters,
  type Backend,
  type CaptureNode,
  type CaptureSpec,
} from './capture.js';
import { LabAnnotation } from '../src/lab/conventions.js';
import { allTargets, reportMarkdown } from './report-all.js';
import { L7_LATENCY, L7_MAX, L7_WORKLOADS } from './l7-report.js';
import { L7_MODES } from './l7-setup.js';
import {
  parseProfileArg,
  profileZtunnels,
  replaceZtunnels,
  type ProfileRequest,
} from './profile.js';
import { writeChart } from './plot.js';
import { podPids } from './pods.js';
import {
  BASELINE_NODES,
  deployBenchPods,
  EBPF_NODES,
  EXTRA_MESH_NODES,
  type BenchPods,
  type ExtraMesh,
} from './setup.js';
import { proxyRuntimeEnv } from '../src/runtime/env.js';
import { connrate, iperf, l7Load, latency, ProcessMeter, type Usage } from './workloads.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
/** --ebpf and --l7, also implied by --all (which implies nothing else: not --keep, --reuse). */
const part = (name: 'ebpf' | 'l7') => flag(name) || flag('all');

const USAGE =
  'node dist/bench/run.js [--rounds 3] [--seconds 10] [--only w1,w2] [--keep] [--profile mesh:<workload>]\n' +
  '                       [--lab bench] [--reuse] [--ebpf] [--l7] [--scale 100,1000,10000] [--all]\n' +
  '                       [--baseline <git-ref>]';
const VALUED = ['rounds', 'seconds', 'only', 'profile', 'lab', 'scale', 'baseline'];
const FLAGS = ['keep', 'reuse', 'ebpf', 'l7', 'all'];

/** A typo must not start a 15-minute run with defaults: only the options above are taken. */
// Exits rather than throws: this runs at import, where a throw prints a stack, not the usage.
function checkArgs(argv: string[]): void {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.replace(/^--/, '');
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    if (VALUED.includes(name) && a.startsWith('--')) i++;
    else if (!(FLAGS.includes(name) && a.startsWith('--'))) {
      process.stderr.write(`BENCH_BAD_ARG: unknown bench option ${a}\nusage: ${USAGE}\n`);
      process.exit(2);
    }
  }
}
checkArgs(process.argv.slice(2));

/** The lab's name (`--lab`, default `bench`): also names the work folder beside the labs. */
const LAB = labName(arg('lab', 'bench'));

function labName(v: string): string {
  if (!/^[a-z][a-z0-9]{0,11}$/.test(v)) {
    throw new AmbitError('BENCH_BAD_ARG', `--lab must be a short lowercase name, got ${v}`, {
      value: v,
      hint: 'a letter then up to 11 letters or digits, e.g. --lab pfbench',
    });
  }
  return v;
}

function count(name: string, def: string, min: number): number {
  const v = arg(name, def);
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) {
    throw new AmbitError('BENCH_BAD_ARG', `--${name} must be a number ≥ ${min}, got ${v}`, {
      value: v,
      hint: USAGE,
    });
  }
  return n;
}

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

async function meters(l7: BenchPods['l7']): Promise<Record<Mode, ProcessMeter | undefined>> {
  const pods = (await labClient(LAB).list<Pod>(resources.pods)).items;
  const pick = (ns: string, names: string[]) =>
    pods
      .filter((p) => p.metadata.namespace === ns && names.includes(p.metadata.name))
      .flatMap((p) => podPids(LAB, p));
  return {
    direct: undefined,
    mesh: new ProcessMeter(pick('istio-system', ['ztunnel-worker', 'ztunnel-worker2'])),
    stunnel: new ProcessMeter(pick('bench-direct', ['stunnel-client', 'stunnel-server'])),
    [EBPF_MODE]: new ProcessMeter(
      pick(
        'istio-system',
        EBPF_NODES.map((n) => `ztunnel-${n.name}`),
      ),
    ),
    [BASELINE_MODE]: new ProcessMeter(
      pick(
        'istio-system',
        BASELINE_NODES.map((n) => `ztunnel-${n.name}`),
      ),
    ),
    // The L7 proxies alone: their L4 tunnels are metered in the mesh and stunnel modes.
    waypoint: l7 ? new ProcessMeter(podPids(LAB, l7.waypoint)) : undefined,
    haproxy: l7 ? new ProcessMeter(podPids(LAB, l7.haproxy)) : undefined,
  };
}

type Run = (netns: string, mode: Mode) => Promise<Record<string, number>>;

function workloadTable(pods: BenchPods, seconds: number): [string, Run][] {
  const t = (m: Mode) => target(pods, m);
  const l7t = (m: Mode) => {
    const x = pods.l7?.targets[m as (typeof L7_MODES)[number]];
    return x ?? notDeployed(m);
  };
  return [
    ['iperf-1', (n, m) => iperf(n, t(m), 1, seconds)],
    ['iperf-8', (n, m) => iperf(n, t(m), 8, seconds)],
    ['latency-4', async (n, m) => ({ ...(await latency(n, t(m), 4, seconds)) })],
    ['latency-16', async (n, m) => ({ ...(await latency(n, t(m), 16, seconds)) })],
    ['connrate', async (n, m) => ({ ...(await connrate(n, t(m), seconds)) })],
    ...L7_LATENCY.map((w): [string, Run] => [
      w,
      (n, m) => l7Load(n, l7t(m), l7Proto(w), 'latency', seconds),
    ]),
    ...L7_MAX.map((w): [string, Run] => [
      w,
      (n, m) => l7Load(n, l7t(m), l7Proto(w), 'max', seconds),
    ]),
  ];
}
const L4_WORKLOADS = ['iperf-1', 'iperf-8', 'latency-4', 'latency-16', 'connrate'];
const WORKLOADS = [...L4_WORKLOADS, ...L7_WORKLOADS];

function l7Proto(w: string): 'h1' | 'h2' | 'grpc' {
  const p = w.slice(w.indexOf('-') + 1);
  return p === 'h2' || p === 'grpc' ? p : 'h1';
}

/** The modes a workload runs in: L4 in direct/mesh/stunnel(/mesh-ebpf); the L7 ones in theirs. */
function modesFor(workload: string, l4: Mode[]): Mode[] {
  if (L7_MAX.includes(workload)) return ['waypoint', 'haproxy'];
  if (L7_LATENCY.includes(workload)) return [...L7_MODES];
  return l4;
}

const isExtraMesh = (mode: Mode): mode is ExtraMesh => mode in EXTRA_MESH_NODES;

const clientNetns = (pods: BenchPods, mode: Mode) =>
  mode === 'mesh' || mode === 'waypoint'
    ? pods.clientNetns.mesh
    : isExtraMesh(mode)
      ? (pods.clientNetns[mode] ?? notDeployed(mode))
      : pods.clientNetns.direct;

function notDeployed(mode: Mode): never {
  throw new AmbitError('BENCH_BAD_ARG', `mode ${mode} was not deployed`, {
    value: mode,
    hint: 'mesh-ebpf needs --ebpf, mesh-baseline --baseline <ref>; the l7 workloads need --l7',
  });
}

function target(pods: BenchPods, mode: Mode) {
  const t = mode === 'waypoint' || mode === 'haproxy' ? undefined : pods.targets[mode];
  return t ?? notDeployed(mode);
}

/** Per-unit costs of the proxies from the meter reading and the workload's own counts. */
function withUsage(metrics: Record<string, number>, usage: Usage): void {
  metrics.cpuSeconds = usage.cpuSeconds;
  metrics.peakRssMb = usage.peakRssMb;
  metrics.peakAnonMb = usage.peakAnonMb;
  if (metrics.sent) metrics.cpuSecondsPer1000Req = (usage.cpuSeconds / metrics.sent) * 1000;
  if (metrics.gib) metrics.cpuSecondsPerGiB = usage.cpuSeconds / metrics.gib;
  if (metrics.perSecond && metrics.connections)
    metrics.cpuSecondsPer1000Conn = (usage.cpuSeconds / metrics.connections) * 1000;
}

/** The capture check of each mesh mode (bench/capture.ts): its nodes, their backend. */
async function captureSpecs(): Promise<Partial<Record<Mode, CaptureSpec>>> {
  const pods = (await labClient(LAB).list<Pod>(resources.pods, { namespace: 'istio-system' }))
    .items;
  const spec = (backend: Backend, [clientNode, serverNode]: string[]): CaptureSpec => ({
    lab: LAB,
    backend,
    nodes: [
      [clientNode!, 'client'],
      [serverNode!, 'server'],
    ].map(([node, side]) => {
      const z = pods.find((p) => p.metadata.name === `ztunnel-${node}`);
      return {
        node: node!,
        side: side as CaptureNode['side'],
        ztunnelNetns: z?.metadata.annotations?.[LabAnnotation.netns] ?? '',
      };
    }),
  });
  const names = (m: ExtraMesh) => EXTRA_MESH_NODES[m].map((n) => n.name);
  return {
    mesh: spec('iptables', ['worker2', 'worker']),
    [EBPF_MODE]: spec('ebpf', names(EBPF_MODE)),
    [BASELINE_MODE]: spec('iptables', names(BASELINE_MODE)),
  };
}

async function measure(
  pods: BenchPods,
  rounds: number,
  seconds: number,
  only: string[],
  modes: Mode[],
): Promise<{ samples: Sample[]; failures: Failure[] }> {
  const samples: Sample[] = [];
  const failures: Failure[] = [];
  const procs = await meters(pods.l7);
  const captures = await captureSpecs();
  const workloads = workloadTable(pods, seconds).filter(([w]) => only.includes(w));
  for (let round = 1; round <= rounds; round++) {
    for (const [workload, run] of workloads) {
      // Rotate the order each round so no mode always runs first (cache, frequency effects).
      const ms = modesFor(workload, modes);
      const order = ms.map((_, i) => ms[(i + round) % ms.length]!);
      for (const mode of order) {
        const meter = procs[mode];
        // The L7 modes' traffic also crosses a mesh's nodes, but their check is the L4 modes'.
        const cap = L4_WORKLOADS.includes(workload) ? captures[mode] : undefined;
        const t = Date.now();
        let capture: Record<string, number> | undefined;
        try {
          const before = cap ? await readCounters(cap) : undefined;
          meter?.start();
          const metrics = await run(clientNetns(pods, mode), mode);
          const usage = meter?.stop();
          if (usage) withUsage(metrics, usage);
          if (cap && before) {
            const d = delta(before, await readCounters(cap));
            capture = moved(d);
            checkMoved(cap, d, mode);
          }
          samples.push({ round, mode, workload, metrics, ...(capture ? { capture } : {}) });
          log(
            `round ${round}/${rounds} ${workload.padEnd(10)} ${mode.padEnd(7)} ${summary(metrics)} (${((Date.now() - t) / 1000).toFixed(1)}s)`,
          );
        } catch (err) {
          try {
            meter?.stop(); // its sampling timer; the reading itself is dropped
          } catch {
            /* a metered process exited: the failure below says why the run failed */
          }
          failures.push({
            round,
            mode,
            workload,
            error: errorMessage(err),
            ...(capture ? { capture } : {}),
          });
          log(`round ${round}/${rounds} ${workload} ${mode} FAILED: ${errorMessage(err)}`);
        }
      }
    }
  }
  return { samples, failures };
}

async function profile(
  pods: BenchPods,
  req: ProfileRequest,
  seconds: number,
  dir: string,
): Promise<string> {
  const mode = req.mode as Mode;
  const run = workloadTable(pods, seconds).find(([w]) => w === req.workload)![1];
  const netns = clientNetns(pods, mode);
  const out = await profileZtunnels(labClient(LAB), {
    nodes: ['worker2', 'worker'],
    dir,
    label: `${req.mode}:${req.workload}, ${seconds}s`,
    probe: async () => {
      const r = await connrate(netns, target(pods, mode), 0.5);
      return r.errors === 0 && r.perSecond > 0;
    },
    run: () => run(netns, mode),
    log,
  });
  log(`profile: ${req.workload} under --cpu-prof: ${summary(out.metrics)}`);
  log(`profile: raw profiles: ${out.files.join(', ')}`);
  return (
    out.markdown +
    `\nWorkload result while profiled (the profiler slows ztunnel): ${summary(out.metrics)}.\n` +
    `Open the raw .cpuprofile files in Chrome DevTools (Performance → Load profile) for the` +
    ` call trees: ${out.files.join(', ')}\n`
  );
}

function summary(m: Record<string, number>): string {
  if (m.gbps !== undefined) return `${m.gbps.toFixed(2)} Gbit/s`;
  if (m.p50Ms !== undefined)
    return `p50 ${m.p50Ms} p90 ${m.p90Ms} p99 ${m.p99Ms} ms, ${m.errors} errors`;
  if (m.perSecond !== undefined && m.concurrency !== undefined)
    return `${m.perSecond} req/s, ${m.errors} errors`;
  if (m.perSecond !== undefined) return `${m.perSecond} conn/s, ${m.errors} errors`;
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

/** `node --version` of the binary each metered lab process runs (ztunnels, waypoint). */
async function labNodeVersions(l7: BenchPods['l7']): Promise<string> {
  const pods = (await labClient(LAB).list<Pod>(resources.pods, { namespace: 'istio-system' }))
    .items;
  const who: [string, number[]][] = pods
    .filter((p) => p.metadata.name.startsWith('ztunnel-'))
    .map((p) => [p.metadata.name, podPids(LAB, p)]);
  if (l7) who.push(['waypoint', podPids(LAB, l7.waypoint)]);
  const byVersion = new Map<string, string[]>();
  for (const [name, pids] of who) {
    let v = 'unknown (no process)';
    try {
      const exe = readlinkSync(`/proc/${pids[0]}/exe`);
      v = `${execFileSync(exe, ['--version'], { encoding: 'utf8' }).trim()} (${exe})`;
    } catch {
      /* no pid or exited */
    }
    byVersion.set(v, [...(byVersion.get(v) ?? []), name]);
  }
  return [...byVersion].map(([v, names]) => `${v}: ${names.join(', ')}`).join('; ');
}

/** bench/scale-controlplane.js in its own process; its markdown for the report. */
function runScale(counts: string, workDir: string): string {
  const file = join(workDir, 'scale-controlplane.md');
  log(`control plane vs scale: --workloads ${counts}`);
  execFileSync(
    process.execPath,
    [
      join(repoRoot(), 'dist', 'bench', 'scale-controlplane.js'),
      '--workloads',
      counts,
      '--out',
      file,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'], timeout: 900_000 },
  );
  return readFileSync(file, 'utf8');
}

/** The baseline's build (--baseline), removed after the lab that runs it. */
let baseline: Baseline | undefined;

async function tearDown(): Promise<void> {
  log('tearing the lab down');
  await labDown(LAB, () => undefined).catch((e: unknown) =>
    log(`lab down failed: ${errorMessage(e)}; run \`ambit lab down --name ${LAB}\``),
  );
  if (baseline) {
    log(`removing the baseline worktree ${baseline.dir}`);
    removeBaseline(repoRoot(), baseline);
  }
}

async function main(): Promise<number> {
  const rounds = count('rounds', '3', 0);
  const seconds = count('seconds', '10', 1);
  const l7 = part('l7');
  const only = arg('only', (l7 ? WORKLOADS : L4_WORKLOADS).join(',')).split(',');
  for (const w of only) {
    if (!WORKLOADS.includes(w)) {
      throw new AmbitError('BENCH_BAD_ARG', `--only: unknown workload ${w}`, {
        value: w,
        hint: `workloads: ${WORKLOADS.join(', ')}`,
      });
    }
  }
  const profileArg = arg('profile', '');
  const profileReq = profileArg ? parseProfileArg(profileArg, WORKLOADS) : undefined;
  const reuse = flag('reuse') && existsSync(labPaths(LAB).dir);
  const keep = flag('keep') || flag('reuse');
  // mesh-ebpf: two more nodes (worker3 client, worker4 server) whose agents run the eBPF
  // backend, measured in the same rounds as mesh (iptables) — see bench/README.md.
  const ebpf = part('ebpf');
  const scaleArg =
    flag('all') && !process.argv.includes('--scale') ? '100,1000,10000' : arg('scale', '');
  if (!l7 && only.some((w) => L7_WORKLOADS.includes(w))) {
    throw new AmbitError('BENCH_BAD_ARG', `--only names an L7 workload without --l7`, {
      value: only.join(','),
      hint: 'add --l7 (it deploys the waypoint and HAProxy)',
    });
  }
  const baselineRef = arg('baseline', '');
  const modes: Mode[] = [
    ...MODES,
    ...(ebpf ? [EBPF_MODE] : []),
    ...(baselineRef ? [BASELINE_MODE] : []),
  ];
  const outDir = join(repoRoot(), 'bench', 'results');
  // Outside the labs folder, so `ambit lab list` never mistakes it for a lab; kept after the run
  // because the raw .cpuprofile files of --profile live there.
  const workDir = join(labPaths(LAB).dir, '..', '..', LAB);
  mkdirSync(workDir, { recursive: true });
  const started = Date.now();
  const loadAtStart = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  // Ctrl-C (or a CI timeout's SIGTERM) must not leave a lab of namespaces and daemons behind.
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: stopping`);
    void (keep ? Promise.resolve() : tearDown()).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // First, with no lab up: the control plane vs scale bench needs no root and no lab, and
    // nothing else then competes for the cores.
    const scaleMd = scaleArg ? runScale(scaleArg, workDir) : undefined;
    if (baselineRef) baseline = buildBaseline(repoRoot(), baselineRef, log);
    if (reuse) {
      log(`reusing lab "${LAB}": restarting its ztunnels on the current build`);
      await replaceZtunnels(labClient(LAB), ['worker2', 'worker'], () => undefined);
    } else {
      if (existsSync(labPaths(LAB).dir)) await labDown(LAB, () => undefined);
      log(`bringing up lab "${LAB}" (the seeds' cluster)`);
      const base = defaultCluster(LAB);
      const extraNodes = [...(ebpf ? EBPF_NODES : []), ...(baseline ? BASELINE_NODES : [])];
      const rc = await labUp({
        cluster: { ...base, nodes: [...base.nodes, ...extraNodes] },
        scenario: false,
        timeoutMs: 120_000,
        print: (l) => log(`  ${l}`),
      });
      if (rc !== 0) throw new Error(`lab up failed (exit ${rc})`);
      // Bare per-node pods: the profiler respawns ztunnels with its own command line, which a
      // DaemonSet would undo, and --ebpf runs two backends side by side.
      await installMesh(labClient(LAB), {
        lab: LAB,
        mode: 'pods',
        progress: (s, ms) => log(`  mesh: ${s} ${(ms / 1000).toFixed(1)}s`),
        ...(ebpf ? { redirectByNode: { worker3: 'ebpf', worker4: 'ebpf' } } : {}),
      });
    }
    const client = labClient(LAB);
    if (baseline) {
      const b = baseline;
      log(`baseline: ztunnels of ${BASELINE_NODES.map((n) => n.name).join(', ')} on ${b.commit}`);
      await replaceZtunnels(
        client,
        BASELINE_NODES.map((n) => n.name),
        () => baselineZtunnelCommand(b),
      );
    }
    const pods = await deployBenchPods(client, workDir, {
      extra: modes.filter(isExtraMesh),
      ...(l7 ? { l7: { labDir: labPaths(LAB).dir } } : {}),
    });
    log(`targets: ${JSON.stringify(pods.targets)}`);
    const { samples, failures } = await measure(pods, rounds, seconds, only, modes);
    const meta: Record<string, string> = {
      commit: commit(),
      date: new Date().toISOString(),
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`,
      'ztunnel runtime': `Node ${process.version} (the lab's ztunnels run this node), ${proxyRuntimeEnv()
        .map((e) => `${e.name}=${e.value}`)
        .join(' ')}`,
      'lab processes, node --version': await labNodeVersions(pods.l7),
      ...(baseline ? { baseline: `${baseline.ref} = ${baseline.commit}` } : {}),
      'load average at start': loadAtStart,
      rounds: String(rounds),
      seconds: String(seconds),
      command: `node dist/bench/run.js --rounds ${rounds} --seconds ${seconds}${only.length < WORKLOADS.length ? ` --only ${only.join(',')}` : ''}${ebpf ? ' --ebpf' : ''}${l7 ? ' --l7' : ''}${scaleArg ? ` --scale ${scaleArg}` : ''}${baselineRef ? ` --baseline ${baselineRef}` : ''}`,
    };
    const stamp = `${meta.date!.slice(0, 10)}-${meta.commit}`;
    mkdirSync(outDir, { recursive: true });
    if (profileReq) {
      const md = await profile(pods, profileReq, seconds, join(workDir, 'profile'));
      const file = `${stamp}-profile-${profileReq.mode}-${profileReq.workload}.md`;
      writeFileSync(join(outDir, file), `# ambit ztunnel profile\n\n${md}`);
      meta.profile = file;
      log(`profile summary in bench/results/${file}`);
    }
    if (samples.length === 0) {
      log(rounds === 0 ? 'no rounds asked for: no report' : 'no sample succeeded: no report');
      return rounds === 0 ? 0 : 1;
    }
    const stats = aggregate(samples);
    writeFileSync(
      join(outDir, `${stamp}.json`),
      JSON.stringify(
        {
          meta,
          stats,
          targets: allTargets(stats),
          added: addedLatency(stats),
          samples,
          failures,
        },
        null,
        2,
      ) + '\n',
    );
    const chart = writeChart(join(outDir, `${stamp}-latency`), latencySvg(stats), log);
    if (chart.png) copyFileSync(join(outDir, chart.png), join(outDir, 'latest-latency.png'));
    const md =
      reportMarkdown(stats, meta, scaleMd, { samples, failures }) +
      `\n![latency percentiles per mode](${chart.png ?? chart.svg})\n`;
    writeFileSync(join(outDir, `${stamp}.md`), md);
    writeFileSync(join(outDir, 'latest.md'), md);
    process.stdout.write('\n' + md);
    log(
      `done in ${((Date.now() - started) / 1000).toFixed(0)}s; report in bench/results/${stamp}.md`,
    );
    return 0;
  } catch (err) {
    log(`bench failed: ${errorMessage(err)}`);
    return 1;
  } finally {
    if (!keep && !interrupted) await tearDown();
    else if (baseline && keep) log(`baseline worktree kept: ${baseline.dir} (git worktree remove)`);
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(errorMessage(err));
    process.exitCode = 1;
  },
);
