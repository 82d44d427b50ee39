/**
 * The waypoint's hot path without a lab, for quick before/after comparisons while tuning the
 * L7 proxy (issue 15): three processes on loopback run ambit's real code —
 *  - `wp`: the waypoint (src/waypoint/app.ts) with one served Service `l7` (8080 HTTP,
 *    8081 HTTP2), one endpoint, its access log on stdout into a file (as in a pod);
 *  - `infra`: the client's ztunnel (a TCP listener per port whose connections become HBONE
 *    CONNECTs to the waypoint for `VIP:port`, spliced), the server's ztunnel (an HBONE server
 *    splicing each CONNECT to `:authority`) and bench/l7-server.ts (1 KiB answers);
 *  - this process: the load generator (bench/l7-loadgen.ts, in-process).
 * No capture, xDS or kubelet: what the waypoint costs per request, metered from /proc
 * (utime + stime, VmHWM reset before each run, RssAnon sampled).
 *
 *   node dist/bench/l7-pair.js [--seconds 5] [--rate 1000] [--connections 4] [--concurrency 32]
 *        [--only h1,h2,grpc,max-h1,max-h2] [--node-options "--cpu-prof --cpu-prof-dir=/tmp/x"]
 *        [--env A=1,B=2] [--pod-runtime no] [--warm 4] [--serve yes] [--heap-snapshot <dir>]
 *        [--rounds 1] [--baseline <git-ref> | --baseline-dist <dir>/dist] [--keep-baseline yes]
 *        [--base-node-options "…"] [--base-env A=1] [--base-pod-runtime no]
 *
 * With a baseline the same run starts a second waypoint (and its own infra) from another build
 * (`--baseline` builds the ref in a temporary worktree, bench/baseline.ts; `--baseline-dist` takes
 * a built dist/) or from this build with other V8 flags or environment (`--base-node-options`,
 * `--base-env`, `--base-pod-runtime` alone: the same dist, another runtime), and the rounds
 * interleave the two (alternating which goes first), so a busy machine weighs on both alike. A
 * summary line per workload gives the medians per build and this / base.
 *
 * The waypoint runs with its pod's runtime environment (src/runtime/env.ts:
 * NODE_OPTIONS=--max-semi-space-size=2, MALLOC_ARENA_MAX=2), as the lab's waypoint does:
 * with V8's default young generation its GC costs (and its RSS) are not the lab's.
 * `--pod-runtime no` drops it; --env adds to it or overrides it.
 *
 * Both protocols are first driven for --warm seconds, unmeasured (JIT warm-up). --serve yes
 * only prints the ports and keeps everything up until Ctrl-C (for curl, strace, perf).
 * --heap-snapshot writes the waypoint's heap after each workload into <dir> (with
 * `--node-options --expose-gc`, after a full GC): open it in Chrome DevTools (Memory).
 * --alloc-prof <dir> samples the waypoint's allocations over each measured window (garbage
 * included) into <dir>; `node dist/bench/tools/alloc-summary.js <file>` lists where they are.
 * Prints one JSON line per workload and build (`bash scripts/node.sh` runs it on the pods' Node).
 * CPU is the waypoint process's own, so it is less disturbed by a busy machine than latency, but
 * an A/A run (`--baseline-dist` of the same build) at load average 10 still differed 1.4× in one
 * round: compare builds in the same run, over several rounds.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { WaypointConfig } from '../src/api/waypoint-config.js';
import { createHboneClient } from '../src/hbone/client.js';
import { decideThenSplice } from '../src/hbone/handoff.js';
import { createHboneServer } from '../src/hbone/server.js';
import { createLogger } from '../src/log.js';
import { splice } from '../src/relay/splice.js';
import type * as AppModule from '../src/waypoint/app.js';
import type * as ClientModule from '../src/hbone/client.js';
import type * as LogModule from '../src/log.js';
import { proxyRuntimeEnv } from '../src/runtime/env.js';
import type { IssuedCertificate } from '../src/xds/types.js';
import { createFakeCa, spiffe } from '../test/helpers/fake-ca.js';
import { endpoint, service } from '../test/helpers/waypoint-fixtures.js';
import { buildBaseline, removeBaseline } from './baseline.js';
import { latency, max, type L7Options, type Proto } from './l7-loadgen.js';
import { startL7Servers } from './l7-server.js';

const NS = 'bench';
const WAYPOINT_ID = spiffe(NS, 'waypoint');
const CLIENT_ID = spiffe(NS, 'client');
const SERVER_ID = spiffe(NS, 'server');
const VIP = '10.96.0.50';
const CLIENT_IP = '10.244.2.9';
const SERVER_IP = '127.0.0.11';
const WAYPOINT_IP = '127.0.0.2';
const quiet = createLogger('l7-pair', () => undefined);

interface Pki {
  waypoint: IssuedCertificate;
  client: IssuedCertificate;
  server: IssuedCertificate;
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

function listen(s: net.Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, host, () => resolve((s.address() as net.AddressInfo).port));
  });
}

interface InfraPorts {
  h1: number;
  h2: number;
  b: number;
  serverH1: number;
  serverH2: number;
}

/** The client's ztunnel (one listener per service port), the server's ztunnel, the server. */
async function roleInfra(pki: Pki, wpPort: number): Promise<InfraPorts> {
  const servers = await startL7Servers(SERVER_IP, 0);
  const bListener = net.createServer({ allowHalfOpen: true, noDelay: true });
  createHboneServer({
    server: bListener,
    trustDomain: 'cluster.local',
    log: quiet,
    certificateFor: () => Promise.resolve(pki.server),
    handler: decideThenSplice(
      (req) =>
        new Promise((resolve) => {
          const [host, port] = req.authority.split(':');
          const app = net.connect({ host, port: Number(port), allowHalfOpen: true, noDelay: true });
          app.once('connect', () => resolve({ status: 200, upstream: app }));
          app.once('error', () => resolve({ status: 503, reason: 'app unreachable' }));
        }),
    ),
  });
  const b = await listen(bListener, '127.0.0.3');
  const hbone = createHboneClient({
    certificates: { get: () => Promise.resolve(pki.client) },
    log: quiet,
  });
  const outbound = (servicePort: number) =>
    net.createServer({ allowHalfOpen: true, noDelay: true }, (down) => {
      down.on('error', () => undefined);
      hbone
        .connect({
          srcIdentity: CLIENT_ID,
          dstIdentities: [WAYPOINT_ID],
          srcIp: CLIENT_IP,
          dstIp: WAYPOINT_IP,
          dstPort: wpPort,
          authority: `${VIP}:${servicePort}`,
          headers: { forwarded: `for="${CLIENT_IP}:40000"` },
        })
        .then(
          ({ stream }) => splice(down, stream),
          () => down.destroy(),
        );
    });
  return {
    h1: await listen(outbound(8080)),
    h2: await listen(outbound(8081)),
    b,
    serverH1: servers.h1Port,
    serverH2: servers.h2Port,
  };
}

function pairConfig(p: InfraPorts): WaypointConfig {
  const ep = endpoint(
    'l7-server-6d8f9c7b4-x2k4q',
    SERVER_IP,
    [
      [8080, p.serverH1],
      [8081, p.serverH2],
    ],
    { identity: SERVER_ID, namespace: NS },
  );
  return {
    version: '1',
    waypoint: {
      name: 'waypoint',
      namespace: NS,
      trustDomain: 'cluster.local',
      identity: WAYPOINT_ID,
      trafficType: 'service',
    },
    services: [
      {
        ...service('l7', VIP, [ep], {
          ports: [
            { port: 8080, name: 'http', protocol: 'HTTP' },
            { port: 8081, name: 'http2', protocol: 'HTTP2' },
          ],
        }),
        namespace: NS,
        hostname: `l7.${NS}.svc.cluster.local`,
      },
    ],
    workloads: [],
    httpRoutes: [],
    grpcRoutes: [],
    authorizationPolicies: [],
  };
}

/**
 * Where the process's anonymous memory is, from /proc/self/smaps: V8 allocates its heap in
 * 256 KiB pages (one mapping each), glibc's main arena is `[heap]`, the rest (V8's code range
 * and reservations, thread stacks, large mallocs) is `other`.
 */
function anonByMapping(): { v8Pages: number; v8PageCount: number; brk: number; other: number } {
  const r = { v8Pages: 0, v8PageCount: 0, brk: 0, other: 0 };
  let size = 0;
  let name = '';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      size = (parseInt(m[2]!, 16) - parseInt(m[1]!, 16)) / 1024;
      name = m[3] ?? '';
      continue;
    }
    const a = /^Anonymous:\s+(\d+) kB/.exec(line);
    if (!a || a[1] === '0') continue;
    const kb = Number(a[1]);
    if (name === '[heap]') r.brk += kb;
    else if (name === '' && size === 256) {
      r.v8Pages += kb;
      r.v8PageCount++;
    } else r.other += kb;
  }
  const mb = (kb: number) => Math.round(kb / 102.4) / 10;
  return { v8Pages: mb(r.v8Pages), v8PageCount: r.v8PageCount, brk: mb(r.brk), other: mb(r.other) };
}

let inspector: Session | undefined;

/**
 * V8's sampling heap profiler over the measured window, counting what the next collections
 * freed too (Node's --heap-prof keeps only what is still alive): where the per-request
 * allocations, hence the scavenges, come from. Written as a .heapprofile (Chrome DevTools,
 * Memory) and summarised by bench/tools/alloc-summary.ts.
 */
async function allocSampling(m: 'alloc-start' | { allocStop: string }): Promise<object> {
  if (m === 'alloc-start') {
    inspector ??= new Session();
    inspector.connect();
    await inspector.post('HeapProfiler.enable');
    await inspector.post('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    return { allocSampling: true };
  }
  const { profile } = await inspector!.post('HeapProfiler.stopSampling');
  inspector!.disconnect();
  const file = join(m.allocStop, `wp-${process.pid}-${Date.now()}.heapprofile`);
  writeFileSync(file, JSON.stringify(profile));
  return { allocProfile: file };
}

/**
 * The waypoint of the build in `--impl` (a dist/ directory); its HBONE port is sent first, then
 * it waits for its config.
 */
async function roleWaypoint(pki: Pki): Promise<void> {
  const dist = arg('impl', '');
  const mod = <T>(p: string) => import(pathToFileURL(join(dist, p)).href) as Promise<T>;
  const { Waypoint } = await mod<typeof AppModule>('src/waypoint/app.js');
  const { createHboneClient: hboneClient } = await mod<typeof ClientModule>('src/hbone/client.js');
  const { createLogger: logger } = await mod<typeof LogModule>('src/log.js');
  const quiet = logger('l7-pair', () => undefined);
  const certs = { get: () => Promise.resolve(pki.waypoint) };
  let bPort = 0;
  const waypoint = new Waypoint({
    identity: WAYPOINT_ID,
    trustDomain: 'cluster.local',
    ip: WAYPOINT_IP,
    certificates: certs,
    hboneClient: hboneClient({ certificates: certs, log: quiet }),
    listen: {
      hbone: { host: WAYPOINT_IP, port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      metrics: { host: '127.0.0.1', port: 0 },
      readiness: { host: '127.0.0.1', port: 0 },
    },
    hbonePort: () => ({ ip: '127.0.0.3', port: bPort }),
    log: quiet,
  });
  await waypoint.start();
  // Collections so far, by kind: scavenges × the young generation's size is what the waypoint
  // allocated, a figure a busy machine does not change (its CPU time it does).
  const gc = { scavenges: 0, markCompacts: 0, ms: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gc.scavenges++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.markCompacts++;
      gc.ms += e.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  process.on(
    'message',
    (
      m:
        | { config: WaypointConfig; b: number }
        | 'mem'
        | 'gc'
        | 'alloc-start'
        | { allocStop: string }
        | { snapshot: string },
    ) => {
      if (m === 'gc') {
        process.send?.({ ...gc });
        return;
      }
      if (m === 'alloc-start' || (typeof m === 'object' && 'allocStop' in m)) {
        void allocSampling(m).then((r) => process.send?.(r));
        return;
      }
      if (typeof m === 'object' && 'snapshot' in m) {
        // After each workload's 'mem' (a full GC with --expose-gc): what the live heap holds.
        process.send?.({
          snapshot: v8.writeHeapSnapshot(join(m.snapshot, `wp-${Date.now()}.heapsnapshot`)),
        });
        return;
      }
      if (m === 'mem') {
        // With --expose-gc: the live heap, not what the next collection would free.
        (globalThis as { gc?: () => void }).gc?.();
        const mb = (n: number) => Math.round(n / 2 ** 20);
        const mem = process.memoryUsage();
        process.send?.({
          heapUsedMb: mb(mem.heapUsed),
          heapTotalMb: mb(mem.heapTotal),
          externalMb: mb(mem.external),
          arrayBuffersMb: mb(mem.arrayBuffers),
          spacesMb: Object.fromEntries(
            v8.getHeapSpaceStatistics().map((sp) => [sp.space_name, mb(sp.space_size)]),
          ),
          anonMb: anonByMapping(),
        });
        return;
      }
      bPort = m.b;
      waypoint.store.apply(m.config);
      process.send?.('configured');
    },
  );
  process.send?.(waypoint.bound.hbone!.port);
}

/** One waypoint under test: which build, with which V8 flags and environment. */
interface Build {
  label: string;
  dist: string;
  execArgv: string[];
  env: NodeJS.ProcessEnv;
}

/** A waypoint's environment: the pod's runtime (unless `podRuntime` is no), then `env` (A=1,B=2). */
function waypointEnv(podRuntime: string, env: string): NodeJS.ProcessEnv {
  const pod =
    podRuntime === 'no' ? {} : Object.fromEntries(proxyRuntimeEnv().map((e) => [e.name, e.value]));
  const extra = Object.fromEntries(
    env
      .split(',')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  return { ...process.env, ...pod, ...extra };
}

function child(
  role: string,
  extra: string[],
  execArgv: string[],
  env: NodeJS.ProcessEnv,
  stdout: 'inherit' | number,
): Promise<[ChildProcess, unknown]> {
  const c = fork(fileURLToPath(import.meta.url), ['--role', role, ...extra], {
    execArgv,
    env,
    stdio: ['ignore', stdout, 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    c.once('message', (m) => resolve([c, m]));
    c.once('exit', (code) => reject(new Error(`${role} exited ${code}`)));
  });
}

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

function memKb(pid: number): { rss: number; anon: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), hwm: kb('VmHWM') };
}

const round = (n: number, d = 3) => Number(n.toFixed(d));

/** A running waypoint with its own infra (client ztunnel, server ztunnel, l7-server). */
interface Pair {
  build: Build;
  wp: ChildProcess;
  infra: ChildProcess;
  ports: InfraPorts;
  logFile: string;
}

async function startPair(build: Build, k: number, pkiFile: string): Promise<Pair> {
  const logFile = join(os.tmpdir(), `l7-pair-${process.pid}-${k}-access.log`);
  const [wp, wpPort] = await child(
    'wp',
    ['--pki', pkiFile, '--impl', build.dist],
    build.execArgv,
    build.env,
    openSync(logFile, 'w'),
  );
  const [infra, ports] = (await child(
    'infra',
    ['--pki', pkiFile, '--wp', String(wpPort)],
    [],
    process.env,
    'inherit',
  )) as [ChildProcess, InfraPorts];
  await new Promise<void>((resolve) => {
    wp.once('message', () => resolve());
    wp.send({ config: pairConfig(ports), b: ports.b });
  });
  return { build, wp, infra, ports, logFile };
}

function ask<T>(c: ChildProcess, m: unknown): Promise<T> {
  return new Promise((resolve) => {
    c.once('message', (r) => resolve(r as T));
    c.send(m as string);
  });
}

function options(p: Pair, proto: Proto, mode: 'latency' | 'max'): L7Options {
  return {
    mode,
    url: new URL(`http://127.0.0.1:${proto === 'h1' ? p.ports.h1 : p.ports.h2}/`),
    proto,
    rate: Number(arg('rate', '1000')),
    connections: Number(arg('connections', '4')),
    concurrency: Number(arg('concurrency', '32')),
    seconds: Number(arg('seconds', '5')),
    warmup: 2,
    size: 1024,
  };
}

interface Gc {
  scavenges: number;
  markCompacts: number;
  ms: number;
}

/** One workload on one pair, metered: the waypoint's CPU per 1000 requests, peak memory, heap. */
async function runWorkload(w: string, p: Pair): Promise<Record<string, unknown>> {
  const pid = p.wp.pid!;
  const isMax = w.startsWith('max-');
  const proto = (isMax ? w.slice(4) : w) as Proto;
  const o = options(p, proto, isMax ? 'max' : 'latency');
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // not root: VmHWM is then the process's lifetime peak
  }
  let peakAnon = 0;
  const sampler = setInterval(() => (peakAnon = Math.max(peakAnon, memKb(pid).anon)), 100);
  // CPU and collections over the measured window only (the warm-up's requests are not counted).
  let c0 = cpuSeconds(pid);
  let gc0 = ask<Gc>(p.wp, 'gc');
  const allocDir = arg('alloc-prof', '');
  const mark = setTimeout(
    () => {
      c0 = cpuSeconds(pid);
      gc0 = ask<Gc>(p.wp, 'gc');
      if (allocDir) void gc0.then(() => ask(p.wp, 'alloc-start'));
    },
    o.warmup * 1000 + (isMax ? 0 : 50),
  );
  const r = isMax ? await max(o) : await latency(o);
  clearTimeout(mark);
  const cpu = cpuSeconds(pid) - c0;
  const [g0, g1] = [await gc0, await ask<Gc>(p.wp, 'gc')];
  const alloc = allocDir ? await ask<object>(p.wp, { allocStop: allocDir }) : undefined;
  clearInterval(sampler);
  const m = memKb(pid);
  const requests = Number(r.requests);
  const heap = await ask(p.wp, 'mem');
  const dir = arg('heap-snapshot', '');
  const snapshot = dir ? await ask<object>(p.wp, { snapshot: dir }) : undefined;
  return {
    ...r,
    wpCpuSecondsPer1000Req: round((cpu * 1000) / Math.max(1, requests)),
    wpScavengesPer1000Req: round(((g1.scavenges - g0.scavenges) * 1000) / Math.max(1, requests), 2),
    wpGcMsPer1000Req: round(((g1.ms - g0.ms) * 1000) / Math.max(1, requests), 1),
    wpMarkCompacts: g1.markCompacts - g0.markCompacts,
    wpPeakRssMb: round(m.hwm / 1024, 1),
    wpPeakAnonMb: round(Math.max(peakAnon, m.anon) / 1024, 1),
    load: round(os.loadavg()[0]!, 2),
    heap,
    ...(snapshot ?? {}),
    ...(alloc ?? {}),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The figures compared between builds (lower is better except the rates). */
const COMPARED = [
  'wpCpuSecondsPer1000Req',
  'wpScavengesPer1000Req',
  'wpGcMsPer1000Req',
  'wpPeakRssMb',
  'wpPeakAnonMb',
  'perSecond',
  'achievedRate',
  'p50Ms',
  'p90Ms',
  'p99Ms',
  'serviceP50Ms',
  'errors',
];

function summarize(w: string, byBuild: Map<string, Record<string, unknown>[]>): object {
  const med = Object.fromEntries(
    [...byBuild].map(([label, rs]) => [
      label,
      Object.fromEntries(
        COMPARED.filter((k) => typeof rs[0]![k] === 'number').map((k) => [
          k,
          round(median(rs.map((x) => x[k] as number))),
        ]),
      ),
    ]),
  );
  const labels = [...byBuild.keys()];
  const out: Record<string, unknown> = {
    summary: w,
    rounds: byBuild.get(labels[0]!)!.length,
    ...med,
  };
  if (labels.length > 1) {
    const [t, b] = [med[labels[0]!]!, med[labels[1]!]!];
    out.ratio = Object.fromEntries(
      Object.keys(t).map((k) => [k, b[k] ? round(t[k]! / b[k]!) : null]),
    );
  }
  return out;
}

async function driver(): Promise<void> {
  const here = dirname(dirname(fileURLToPath(import.meta.url))); // dist/
  const repo = dirname(here);
  const only = arg('only', 'h1,h2,grpc,max-h1,max-h2').split(',');
  const builds: Build[] = [
    {
      label: 'this',
      dist: here,
      execArgv: arg('node-options', '').split(' ').filter(Boolean),
      env: waypointEnv(arg('pod-runtime', 'yes'), arg('env', '')),
    },
  ];
  const ref = arg('baseline', '');
  let baseline: ReturnType<typeof buildBaseline> | undefined;
  if (ref) baseline = buildBaseline(repo, ref, (l) => process.stderr.write(l + '\n'));
  const baseDist = baseline ? join(baseline.dir, 'dist') : arg('baseline-dist', '');
  const baseRuntime = ['base-node-options', 'base-env', 'base-pod-runtime'].some((k) =>
    process.argv.includes(`--${k}`),
  );
  if (baseDist || baseRuntime)
    builds.push({
      label: baseline ? `base ${baseline.commit}` : 'base',
      dist: baseDist || here,
      execArgv: arg('base-node-options', '').split(' ').filter(Boolean),
      env: waypointEnv(arg('base-pod-runtime', 'yes'), arg('base-env', '')),
    });
  const ca = await createFakeCa();
  const pki: Pki = {
    waypoint: await ca.issue(WAYPOINT_ID),
    client: await ca.issue(CLIENT_ID),
    server: await ca.issue(SERVER_ID),
  };
  const pkiFile = join(os.tmpdir(), `l7-pair-${process.pid}.json`);
  writeFileSync(pkiFile, JSON.stringify(pki));
  const print = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
  const pairs: Pair[] = [];
  try {
    for (const [k, b] of builds.entries()) pairs.push(await startPair(b, k, pkiFile));
    print({
      builds: pairs.map((p) => ({
        label: p.build.label,
        dist: p.build.dist,
        wp: p.wp.pid,
        infra: p.infra.pid,
        execArgv: p.build.execArgv,
        NODE_OPTIONS: p.build.env.NODE_OPTIONS,
        MALLOC_ARENA_MAX: p.build.env.MALLOC_ARENA_MAX,
      })),
      load: os.loadavg().map((l) => round(l, 2)),
    });
    if (arg('serve', '') === 'yes') {
      for (const p of pairs)
        print({
          serve: { build: p.build.label, h1: p.ports.h1, h2: p.ports.h2, accessLog: p.logFile },
        });
      await new Promise((r) => process.once('SIGINT', r));
      return;
    }
    // JIT warm-up on both protocols before anything is measured: until V8 has optimised the
    // hot path, CPU per request is mostly compilation (several times the steady state).
    const warm = Number(arg('warm', '4'));
    if (warm > 0)
      for (const p of pairs)
        for (const proto of ['h1', 'h2'] as const)
          await max({ ...options(p, proto, 'max'), seconds: warm, warmup: 0 });
    const rounds = Number(arg('rounds', '1'));
    const all = new Map<string, Map<string, Record<string, unknown>[]>>();
    for (let r = 0; r < rounds; r++)
      for (const w of only) {
        for (const p of r % 2 ? [...pairs].reverse() : pairs) {
          const res = await runWorkload(w, p);
          let byBuild = all.get(w);
          if (!byBuild) all.set(w, (byBuild = new Map(pairs.map((q) => [q.build.label, []]))));
          byBuild.get(p.build.label)!.push(res);
          print({ round: r, workload: w, build: p.build.label, ...res });
        }
      }
    if (rounds > 1 || pairs.length > 1)
      for (const [w, byBuild] of all) print(summarize(w, byBuild));
  } finally {
    for (const p of pairs)
      for (const c of [p.wp, p.infra]) {
        c.disconnect();
        setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
      }
    if (baseline && arg('keep-baseline', '') !== 'yes') removeBaseline(repo, baseline);
    else if (baseline) process.stderr.write(`baseline kept: ${baseline.dir}/dist\n`);
  }
}

async function main(): Promise<void> {
  const role = arg('role', '');
  if (!role) return driver();
  const pki = JSON.parse(readFileSync(arg('pki', ''), 'utf8')) as Pki;
  process.on('disconnect', () => process.exit(0));
  if (role === 'wp') return roleWaypoint(pki);
  process.send?.(await roleInfra(pki, Number(arg('wp', '0'))));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
