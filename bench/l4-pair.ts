/**
 * ztunnel's L4 hot path without a lab, for before/after comparisons while tuning it (issue 15):
 * per build, two child processes on loopback run ambit's real `Ztunnel` class —
 *  - `a`, the client's ztunnel (node worker2): its outbound listener (15001's code, original
 *    destination from the `originalDst` seam) opens HBONE CONNECTs (TLS 1.3 mTLS with test-CA
 *    certificates, HTTP/2, the pool) to
 *  - `b`, the server's ztunnel (node worker): its 15008 HBONE server and inbound proxy (RBAC,
 *    the bind-spoofed connect) splice each CONNECT to the application —
 * and this process is the client and the application (bench/l4-load.ts). No capture, xDS or CA.
 *
 *   node dist/bench/l4-pair.js [--rounds 3] [--only bulk1,bulk8,rr,conn,idle] [--mb 256]
 *        [--rr 3000] [--rr-size 1024] [--conns 2000] [--concurrency 16] [--idle 1000]
 *        [--baseline <git-ref> | --baseline-dist <dir>/dist] [--keep-baseline yes]
 *        [--node-options "--cpu-prof --cpu-prof-dir=/tmp/x"] [--runtime ztunnel|node]
 *        [--env K=V,K=V] [--base-env K=V,...] [--base-node-options "..."] [--snap <dir>]
 *
 * With a baseline, the same run starts a second pair from another build (`--baseline` builds
 * the ref in a temporary worktree, bench/baseline.ts) and the rounds interleave the two
 * (alternating which goes first), so a busy machine weighs on both alike. What is compared is
 * CPU time of the two proxies (utime + stime from /proc: all threads) per GiB, per 1000 round
 * trips and per 1000 connections, and latency added over the same sink reached directly.
 * Wall-clock throughput is printed but is noise on a shared machine.
 * `--runtime ztunnel` (default) starts each build's proxies as production does, with that
 * build's `proxyRuntimeEnv()` (src/runtime/env.ts: NODE_OPTIONS, MALLOC_ARENA_MAX, …), so a
 * runtime change is compared like a code change; `node` with V8's and glibc's defaults.
 * `--env`/`--node-options` add to this build's proxies (and the baseline's, unless
 * `--base-env`/`--base-node-options` are given): the same dist as `--baseline-dist` then
 * compares two runtimes interleaved. `--snap <dir>`: heap snapshots of both proxies of each
 * build while the `idle` connections are open (retainers per idle connection).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import type * as AppModule from '../src/ztunnel/app.js';
import type * as ClientModule from '../src/hbone/client.js';
import type * as ServerModule from '../src/hbone/server.js';
import type * as ManagerModule from '../src/identity/manager.js';
import type * as LogModule from '../src/log.js';
import type * as TestingModule from '../src/ztunnel/testing.js';
import type * as RuntimeEnvModule from '../src/runtime/env.js';
import type * as ConfigModule from '../test/helpers/ztunnel-config.js';
import type { IssuedCertificate } from '../src/xds/types.js';
import { createFakeCa, spiffe } from '../test/helpers/fake-ca.js';
import { buildBaseline, removeBaseline } from './baseline.js';
import * as load from './l4-load.js';

const NS = 'bench';
const CLIENT_ID = spiffe(NS, 'client');
const SERVER_ID = spiffe(NS, 'server');
/** Pod IPs per build (all of 127/8 is local: the spoofed last hop is a plain bind). */
const clientIp = (k: number) => `127.${71 + k}.2.8`;
const serverIp = (k: number) => `127.${71 + k}.1.7`;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

const round = (n: number, d = 3) => Number(n.toFixed(d));

// ---- the proxies (child processes) ----

interface Ready {
  outbound: number;
  inbound: number;
}

async function roleProxy(role: 'a' | 'b'): Promise<Ready> {
  const dist = arg('impl', '');
  const k = Number(arg('k', '0'));
  const sinkPort = Number(arg('sink', '0'));
  const mod = <T>(p: string) => import(pathToFileURL(join(dist, p)).href) as Promise<T>;
  const { Ztunnel } = await mod<typeof AppModule>('src/ztunnel/app.js');
  const { createHboneClient } = await mod<typeof ClientModule>('src/hbone/client.js');
  const { createHboneServer } = await mod<typeof ServerModule>('src/hbone/server.js');
  const { IdentityManager } = await mod<typeof ManagerModule>('src/identity/manager.js');
  const { createLogger } = await mod<typeof LogModule>('src/log.js');
  const { workload } = await mod<typeof TestingModule>('src/ztunnel/testing.js');
  const { testZtunnelConfig } = await mod<typeof ConfigModule>('test/helpers/ztunnel-config.js');
  // Dates come back from JSON as strings.
  const pki = JSON.parse(readFileSync(arg('pki', ''), 'utf8'), (key, v: unknown) =>
    key === 'notBefore' || key === 'notAfter' ? new Date(v as string) : v,
  ) as Record<string, IssuedCertificate>;
  const quiet = process.env.L4_PAIR_LOG
    ? createLogger(`l4-pair-${role}`)
    : createLogger('l4-pair', () => undefined);
  const identity = new IdentityManager({
    fetch: (id) => (pki[id] ? Promise.resolve(pki[id]) : Promise.reject(new Error(id))),
    log: quiet,
  });
  const config =
    role === 'a'
      ? testZtunnelConfig('worker2', { hbonePort: Number(arg('hbone', '0')) })
      : testZtunnelConfig('worker', { inboundHost: serverIp(k) });
  const z = new Ztunnel(config, {
    identity,
    hboneClient: createHboneClient({ certificates: identity, log: quiet }),
    hboneServer: (o) => createHboneServer({ ...o, log: quiet }),
    accessLogSink: () => undefined,
    originalDst: () => ({ ip: serverIp(k), port: sinkPort }),
    log: quiet,
  });
  z.applyDelta({
    typeUrl: 'l4-pair',
    version: '1',
    addresses: {
      added: [
        { workload: workload('client', clientIp(k), 'worker2', { namespace: NS }) },
        { workload: workload('server', serverIp(k), 'worker', { namespace: NS }) },
      ],
      removed: [],
    },
    authorizations: { added: [], removed: [] },
  });
  z.markSynced();
  const bound = await z.start();
  process.on('message', (m) => {
    if (typeof m === 'object' && m && 'snap' in m) {
      const { snap: dir, tag } = m as { snap: string; tag: string };
      const file = join(dir, `l4-pair-${k}-${role}-${tag}.heapsnapshot`);
      process.send?.({ file: v8.writeHeapSnapshot(file) });
      return;
    }
    if (m !== 'mem') return;
    // With --expose-gc: the live heap, not what the next collection would free.
    (globalThis as { gc?: () => void }).gc?.();
    const mem = process.memoryUsage();
    process.send?.({ heapUsed: mem.heapUsed, external: mem.external, rss: mem.rss });
  });
  return { outbound: bound.outbound, inbound: bound.inbound };
}

// ---- the driver ----

interface Mem {
  heapUsed: number;
  external: number;
  rss: number;
}

interface Pair {
  label: string;
  execArgv: string[];
  env: Record<string, string>;
  a: ChildProcess;
  b: ChildProcess;
  /** Through the mesh: a's outbound listener, from the client pod's IP. */
  mesh: load.Target;
  /** The same sink without the mesh. */
  direct: load.Target;
  sinkClose: () => void;
}

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

/** Minor page faults so far (fresh pages touched: malloc growth after a trim, new mappings). */
function minorFaults(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(f.slice(f.lastIndexOf(')') + 2).split(' ')[7]);
}

/** Starts a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM; needs root). */
function resetPeak(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // not permitted: VmHWM stays the peak since the process started
  }
}

/** Peak RSS (MB) since the last resetPeak(). */
function peakRssMb(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return round(Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024, 1);
}

function anonKb(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/RssAnon:\s+(\d+)/.exec(s)?.[1] ?? 0);
}

function spawnProxy(
  role: 'a' | 'b',
  args: string[],
  execArgv: string[],
  extraEnv: Record<string, string>,
): Promise<[ChildProcess, Ready]> {
  const c = fork(fileURLToPath(import.meta.url), ['--role', role, ...args], {
    execArgv,
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    c.once('message', (m) => resolve([c, m as Ready]));
    c.once('exit', (code) => reject(new Error(`proxy ${role} exited ${code}`)));
  });
}

/** `K=V,K=V` → record. */
function parseEnv(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of s.split(',').filter(Boolean)) {
    const i = kv.indexOf('=');
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/**
 * What a build's proxies start with: its own proxyRuntimeEnv() (NODE_OPTIONS become node flags:
 * fork's execArgv) under `--runtime ztunnel`, then the command line's additions.
 */
async function runtimeOf(
  dist: string,
  isBase: boolean,
): Promise<{ execArgv: string[]; env: Record<string, string> }> {
  const env: Record<string, string> = {};
  const execArgv: string[] = [];
  if (arg('runtime', 'ztunnel') === 'ztunnel') {
    const m = (await import(
      pathToFileURL(join(dist, 'src/runtime/env.js')).href
    )) as typeof RuntimeEnvModule;
    for (const { name, value } of m.proxyRuntimeEnv()) {
      if (name === 'NODE_OPTIONS') execArgv.push(...value.split(' ').filter(Boolean));
      else env[name] = value;
    }
  }
  const pick = (base: string, own: string) =>
    isBase && process.argv.includes(`--${base}`) ? arg(base, '') : arg(own, '');
  Object.assign(env, parseEnv(pick('base-env', 'env')));
  execArgv.push(
    '--expose-gc',
    ...pick('base-node-options', 'node-options').split(' ').filter(Boolean),
  );
  return { execArgv, env };
}

async function startPair(label: string, dist: string, k: number, pkiFile: string): Promise<Pair> {
  const sink = await load.startSink(serverIp(k), Number(arg('rr-size', '1024')));
  const { execArgv, env } = await runtimeOf(dist, k > 0);
  const common = ['--impl', dist, '--k', String(k), '--pki', pkiFile, '--sink', String(sink.port)];
  const [b, rb] = await spawnProxy('b', common, execArgv, env);
  const [a, ra] = await spawnProxy('a', [...common, '--hbone', String(rb.inbound)], execArgv, env);
  return {
    label,
    execArgv,
    env,
    a,
    b,
    mesh: { host: '127.0.0.1', port: ra.outbound, from: clientIp(k) },
    direct: { host: serverIp(k), port: sink.port, from: clientIp(k) },
    sinkClose: sink.close,
  };
}

function mem(c: ChildProcess): Promise<Mem> {
  return new Promise((resolve) => {
    c.once('message', (m) => resolve(m as Mem));
    c.send('mem');
  });
}

function snap(c: ChildProcess, dir: string, tag: string): Promise<void> {
  return new Promise((resolve) => {
    c.once('message', (m) => {
      process.stderr.write(`heap snapshot: ${(m as { file: string }).file}\n`);
      resolve();
    });
    c.send({ snap: dir, tag });
  });
}

/** CPU seconds of a and b while `fn` runs. */
async function metered<T>(p: Pair, fn: () => Promise<T>): Promise<[T, number, number]> {
  for (const c of [p.a, p.b]) resetPeak(c.pid!);
  const a0 = cpuSeconds(p.a.pid!);
  const b0 = cpuSeconds(p.b.pid!);
  const r = await fn();
  return [r, cpuSeconds(p.a.pid!) - a0, cpuSeconds(p.b.pid!) - b0];
}

type Result = Record<string, number>;

/** Peak RSS of each proxy during the workload just run (metered() reset it). */
const peaks = (p: Pair): Result => ({
  aPeakRssMb: peakRssMb(p.a.pid!),
  bPeakRssMb: peakRssMb(p.b.pid!),
});

const lat = (sorted: number[], prefix: string): Result => ({
  [`${prefix}p50Ms`]: round(load.pct(sorted, 50)),
  [`${prefix}p90Ms`]: round(load.pct(sorted, 90)),
  [`${prefix}p99Ms`]: round(load.pct(sorted, 99)),
});

async function runWorkload(w: string, p: Pair): Promise<Result> {
  const mb = Number(arg('mb', '256'));
  const size = Number(arg('rr-size', '1024'));
  if (w === 'bulk1' || w === 'bulk8') {
    const bytes = mb * 2 ** 20;
    const [fa, fb] = [minorFaults(p.a.pid!), minorFaults(p.b.pid!)];
    const [secs, a, b] = await metered(p, () => load.bulk(p.mesh, bytes, w === 'bulk1' ? 1 : 8));
    const gib = bytes / 2 ** 30;
    return {
      faultsPerMiB: round((minorFaults(p.a.pid!) - fa + minorFaults(p.b.pid!) - fb) / mb, 1),
      cpuMsPerGiB: round(((a + b) * 1000) / gib, 0),
      aMsPerGiB: round((a * 1000) / gib, 0),
      bMsPerGiB: round((b * 1000) / gib, 0),
      gbps: round((bytes * 8) / secs / 1e9),
    };
  }
  if (w === 'rr') {
    const n = Number(arg('rr', '3000'));
    const direct = await load.requestResponse(p.direct, n, size);
    const [mesh, a, b] = await metered(p, () => load.requestResponse(p.mesh, n, size));
    return {
      cpuMsPer1000: round(((a + b) * 1e6) / n, 1),
      aMsPer1000: round((a * 1e6) / n, 1),
      bMsPer1000: round((b * 1e6) / n, 1),
      ...lat(mesh, ''),
      ...lat(direct, 'direct'),
      addedP50Ms: round(load.pct(mesh, 50) - load.pct(direct, 50)),
      addedP90Ms: round(load.pct(mesh, 90) - load.pct(direct, 90)),
      addedP99Ms: round(load.pct(mesh, 99) - load.pct(direct, 99)),
    };
  }
  if (w === 'conn') {
    const n = Number(arg('conns', '2000'));
    const c = Number(arg('concurrency', '16'));
    const t0 = performance.now();
    const [l, a, b] = await metered(p, () => load.connections(p.mesh, n, c, size));
    return {
      cpuMsPer1000: round(((a + b) * 1e6) / n, 0),
      aMsPer1000: round((a * 1e6) / n, 0),
      bMsPer1000: round((b * 1e6) / n, 0),
      connPerSec: round(n / ((performance.now() - t0) / 1000), 0),
      ...lat(l, ''),
    };
  }
  if (w === 'idle') {
    const n = Number(arg('idle', '1000'));
    // Before (a diff of the two snapshots is what the idle connections hold).
    if (arg('snap', '')) for (const c of [p.a, p.b]) await snap(c, arg('snap', ''), 'before');
    const [ma0, mb0] = await Promise.all([mem(p.a), mem(p.b)]);
    const [anonA0, anonB0] = [anonKb(p.a.pid!), anonKb(p.b.pid!)];
    const socks = await load.holdIdle(p.mesh, n);
    await new Promise((r) => setTimeout(r, 500));
    const [ma1, mb1] = await Promise.all([mem(p.a), mem(p.b)]);
    const [anonA1, anonB1] = [anonKb(p.a.pid!), anonKb(p.b.pid!)];
    if (arg('snap', '')) for (const c of [p.a, p.b]) await snap(c, arg('snap', ''), 'open');
    await load.closeAll(socks);
    const per = (x: number) => round(x / n, 0);
    return {
      aHeapB: per(ma1.heapUsed - ma0.heapUsed),
      bHeapB: per(mb1.heapUsed - mb0.heapUsed),
      aExternalB: per(ma1.external - ma0.external),
      bExternalB: per(mb1.external - mb0.external),
      aAnonB: per((anonA1 - anonA0) * 1024),
      bAnonB: per((anonB1 - anonB0) * 1024),
      aRssB: per(ma1.rss - ma0.rss),
      bRssB: per(mb1.rss - mb0.rss),
    };
  }
  throw new Error(`unknown workload ${w}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function driver(): Promise<void> {
  const print = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
  const here = dirname(dirname(fileURLToPath(import.meta.url))); // dist/
  const repo = dirname(here);
  const builds: { label: string; dist: string }[] = [{ label: 'this', dist: here }];
  const ref = arg('baseline', '');
  let baseline: ReturnType<typeof buildBaseline> | undefined;
  if (ref) {
    baseline = buildBaseline(repo, ref, (l) => process.stderr.write(l + '\n'));
    builds.push({ label: `base ${baseline.commit}`, dist: join(baseline.dir, 'dist') });
  } else if (arg('baseline-dist', '')) {
    builds.push({ label: 'base', dist: arg('baseline-dist', '') });
  }
  const ca = await createFakeCa();
  const pkiFile = join(os.tmpdir(), `l4-pair-${process.pid}.json`);
  writeFileSync(
    pkiFile,
    JSON.stringify({
      [CLIENT_ID]: await ca.issue(CLIENT_ID),
      [SERVER_ID]: await ca.issue(SERVER_ID),
    }),
  );
  const pairs: Pair[] = [];
  try {
    for (const [k, b] of builds.entries()) pairs.push(await startPair(b.label, b.dist, k, pkiFile));
    print({
      builds: builds.map((b, k) => {
        const p = pairs[k]!;
        return { ...b, a: p.a.pid, b: p.b.pid, execArgv: p.execArgv, env: p.env };
      }),
      runtime: arg('runtime', 'ztunnel'),
      nodeOptions: arg('node-options', ''),
      load: os.loadavg().map((l) => round(l, 2)),
    });
    // JIT warm-up, unmeasured: until V8 has optimised the path, CPU is mostly compilation.
    for (const p of pairs) {
      await load.bulk(p.mesh, 64 * 2 ** 20, 2);
      await load.requestResponse(p.mesh, 500, 1024);
      await load.connections(p.mesh, 200, 8, 1024);
    }
    const only = arg('only', 'bulk1,bulk8,rr,conn,idle').split(',');
    const rounds = Number(arg('rounds', '3'));
    const all: Record<string, Record<string, Result[]>> = {};
    for (let r = 0; r < rounds; r++) {
      for (const w of only) {
        const order = r % 2 ? [...pairs].reverse() : pairs;
        for (const p of order) {
          const res = await runWorkload(w, p);
          if (w !== 'idle') Object.assign(res, peaks(p));
          ((all[w] ??= {})[p.label] ??= []).push(res);
          print({
            round: r,
            workload: w,
            build: p.label,
            ...res,
            load: round(os.loadavg()[0]!, 2),
          });
        }
      }
    }
    // Medians per build, and this / base of the medians (lower is better for CPU and latency).
    for (const w of only) {
      const byBuild = all[w] ?? {};
      const med = Object.fromEntries(
        Object.entries(byBuild).map(([label, rs]) => [
          label,
          Object.fromEntries(
            Object.keys(rs[0]!).map((m) => [m, round(median(rs.map((x) => x[m]!)))]),
          ),
        ]),
      );
      const summary: Record<string, unknown> = { summary: w, ...med };
      if (pairs.length > 1) {
        const [t, base] = [med[pairs[0]!.label]!, med[pairs[1]!.label]!];
        summary.ratio = Object.fromEntries(
          Object.keys(t).map((m) => [m, base[m] ? round(t[m]! / base[m]!) : null]),
        );
      }
      print(summary);
    }
  } finally {
    for (const p of pairs) {
      p.sinkClose();
      for (const c of [p.a, p.b]) {
        c.disconnect();
        setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
      }
    }
    if (baseline && arg('keep-baseline', '') !== 'yes') removeBaseline(repo, baseline);
    else if (baseline) process.stderr.write(`baseline kept: ${baseline.dir}/dist\n`);
  }
}

async function main(): Promise<void> {
  const role = arg('role', '');
  if (!role) return driver();
  process.on('disconnect', () => process.exit(0));
  process.send?.(await roleProxy(role as 'a' | 'b'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
