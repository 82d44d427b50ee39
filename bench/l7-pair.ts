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
 * Prints one JSON line per workload. CPU is the waypoint process's own, so it is less disturbed
 * by a busy machine than latency; compare runs made back to back.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import type { WaypointConfig } from '../src/api/waypoint-config.js';
import { createHboneClient } from '../src/hbone/client.js';
import { decideThenSplice } from '../src/hbone/handoff.js';
import { createHboneServer } from '../src/hbone/server.js';
import { createLogger } from '../src/log.js';
import { splice } from '../src/relay/splice.js';
import { Waypoint } from '../src/waypoint/app.js';
import { proxyRuntimeEnv } from '../src/runtime/env.js';
import type { IssuedCertificate } from '../src/xds/types.js';
import { createFakeCa, spiffe } from '../test/helpers/fake-ca.js';
import { endpoint, service } from '../test/helpers/waypoint-fixtures.js';
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

/** The waypoint; its HBONE port is sent first, then it waits for its config. */
async function roleWaypoint(pki: Pki): Promise<void> {
  const certs = { get: () => Promise.resolve(pki.waypoint) };
  let bPort = 0;
  const waypoint = new Waypoint({
    identity: WAYPOINT_ID,
    trustDomain: 'cluster.local',
    ip: WAYPOINT_IP,
    certificates: certs,
    hboneClient: createHboneClient({ certificates: certs, log: quiet }),
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
  process.on(
    'message',
    (m: { config: WaypointConfig; b: number } | 'mem' | { snapshot: string }) => {
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

/** The waypoint's environment: the pod's runtime (unless --pod-runtime no), then --env. */
function childEnv(): NodeJS.ProcessEnv {
  const pod =
    arg('pod-runtime', 'yes') === 'no'
      ? {}
      : Object.fromEntries(proxyRuntimeEnv().map((e) => [e.name, e.value]));
  const extra = Object.fromEntries(
    arg('env', '')
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
  stdout: 'inherit' | number,
): Promise<[ChildProcess, unknown]> {
  const c = fork(fileURLToPath(import.meta.url), ['--role', role, ...extra], {
    execArgv,
    env: role === 'wp' ? childEnv() : process.env,
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

async function driver(): Promise<void> {
  const seconds = Number(arg('seconds', '5'));
  const only = arg('only', 'h1,h2,grpc,max-h1,max-h2').split(',');
  const execArgv = arg('node-options', '').split(' ').filter(Boolean);
  const ca = await createFakeCa();
  const pki: Pki = {
    waypoint: await ca.issue(WAYPOINT_ID),
    client: await ca.issue(CLIENT_ID),
    server: await ca.issue(SERVER_ID),
  };
  const pkiFile = join(os.tmpdir(), `l7-pair-${process.pid}.json`);
  writeFileSync(pkiFile, JSON.stringify(pki));
  const logFile = join(os.tmpdir(), `l7-pair-${process.pid}-access.log`);
  const [wp, wpPort] = await child('wp', ['--pki', pkiFile], execArgv, openSync(logFile, 'w'));
  const [infra, ports] = (await child(
    'infra',
    ['--pki', pkiFile, '--wp', String(wpPort)],
    [],
    'inherit',
  )) as [ChildProcess, InfraPorts];
  await new Promise<void>((resolve) => {
    wp.once('message', () => resolve());
    wp.send({ config: pairConfig(ports), b: ports.b });
  });
  const print = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
  const wpEnv = childEnv();
  print({
    pids: { wp: wp.pid, infra: infra.pid },
    execArgv,
    wpRuntime: { NODE_OPTIONS: wpEnv.NODE_OPTIONS, MALLOC_ARENA_MAX: wpEnv.MALLOC_ARENA_MAX },
    load: os.loadavg().map((l) => round(l, 2)),
  });
  const opts = (proto: Proto, mode: 'latency' | 'max'): L7Options => ({
    mode,
    url: new URL(`http://127.0.0.1:${proto === 'h1' ? ports.h1 : ports.h2}/`),
    proto,
    rate: Number(arg('rate', '1000')),
    connections: Number(arg('connections', '4')),
    concurrency: Number(arg('concurrency', '32')),
    seconds,
    warmup: 2,
    size: 1024,
  });
  if (arg('serve', '') === 'yes') {
    print({ serve: { h1: ports.h1, h2: ports.h2, accessLog: logFile } });
    await new Promise((r) => process.once('SIGINT', r));
  }
  // JIT warm-up on both protocols before anything is measured: until V8 has optimised the
  // hot path, CPU per request is mostly compilation (several times the steady state).
  const warm = Number(arg('warm', '4'));
  if (warm > 0 && arg('serve', '') !== 'yes')
    for (const proto of ['h1', 'h2'] as const)
      await max({ ...opts(proto, 'max'), seconds: warm, warmup: 0 });
  try {
    for (const w of arg('serve', '') === 'yes' ? [] : only) {
      const isMax = w.startsWith('max-');
      const proto = (isMax ? w.slice(4) : w) as Proto;
      const o = opts(proto, isMax ? 'max' : 'latency');
      try {
        writeFileSync(`/proc/${wp.pid}/clear_refs`, '5');
      } catch {
        // not root: VmHWM is then the process's lifetime peak
      }
      let peakAnon = 0;
      const sampler = setInterval(() => (peakAnon = Math.max(peakAnon, memKb(wp.pid!).anon)), 100);
      // CPU over the measured window only (the warm-up's requests are not counted).
      let c0 = cpuSeconds(wp.pid!);
      const mark = setTimeout(() => (c0 = cpuSeconds(wp.pid!)), o.warmup * 1000 + (isMax ? 0 : 50));
      const r = isMax ? await max(o) : await latency(o);
      clearTimeout(mark);
      const cpu = cpuSeconds(wp.pid!) - c0;
      clearInterval(sampler);
      const m = memKb(wp.pid!);
      const requests = Number(r.requests);
      const heap = await new Promise((resolve) => {
        wp.once('message', resolve);
        wp.send('mem');
      });
      const snapshot = arg('heap-snapshot', '')
        ? await new Promise((resolve) => {
            wp.once('message', resolve);
            wp.send({ snapshot: arg('heap-snapshot', '') });
          })
        : undefined;
      print({
        workload: w,
        ...r,
        wpCpuSecondsPer1000Req: round((cpu * 1000) / Math.max(1, requests)),
        wpPeakRssMb: round(m.hwm / 1024, 1),
        wpPeakAnonMb: round(Math.max(peakAnon, m.anon) / 1024, 1),
        load: round(os.loadavg()[0]!, 2),
        heap,
        ...(snapshot ? snapshot : {}),
      });
    }
  } finally {
    for (const c of [wp, infra]) {
      c.disconnect();
      setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
    }
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
