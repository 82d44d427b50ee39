/**
 * The ztunnel L4 hot path without a lab, for quick before/after comparisons while tuning:
 * two child processes on loopback run ambit's real HBONE code — A: a TCP listener whose
 * connections go through the HBONE client pool (TLS 1.3 mTLS, HTTP/2 CONNECT) and the relay's
 * splice, as ztunnel's outbound 15001; B: the HBONE server handing each CONNECT to a splice to
 * the application, as inbound 15008 — and this process is the client and the application.
 * No capture, no spoofing, no xDS, no policy: only the per-byte and per-connection work.
 *
 *   node dist/bench/tools/hbone-pair.js [--mb 1000] [--streams 1] [--latency-seconds 5]
 *        [--hold 0] [--node-options "--max-semi-space-size=1"] [--rounds 1]
 *
 * Prints one JSON line per measurement: bulk throughput and CPU seconds per GiB of A and B;
 * 1 KiB request/response round trips (closed loop, one connection) with their p50/p90 against
 * the same echo reached directly; with --hold N, the anonymous RSS of A and B before and with
 * N idle tunnelled connections open, and after they closed. CPU time is the children's own
 * (utime + stime from /proc), so it is less disturbed by a busy machine than the throughput.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { createHboneClient } from '../../src/hbone/client.js';
import { decideThenSplice } from '../../src/hbone/handoff.js';
import { createHboneServer } from '../../src/hbone/server.js';
import { createLogger } from '../../src/log.js';
import { splice } from '../../src/relay/splice.js';
import { createFakeCa, spiffe } from '../../test/helpers/fake-ca.js';
import type { IssuedCertificate } from '../../src/xds/types.js';

const SERVER_ID = spiffe('bench', 'server');
const CLIENT_ID = spiffe('bench', 'client');
const quiet = createLogger('hbone-pair', () => undefined);

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

interface Pki {
  server: IssuedCertificate;
  client: IssuedCertificate;
}

function listen(s: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve((s.address() as net.AddressInfo).port));
  });
}

/** B: the HBONE server (15008); every CONNECT is spliced to its authority. */
async function roleB(pki: Pki): Promise<number> {
  const server = net.createServer();
  createHboneServer({
    server,
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
  return listen(server);
}

/** A: the outbound listener (15001); every connection becomes a CONNECT to B for `app`. */
async function roleA(pki: Pki, bPort: number, app: string): Promise<number> {
  const hbone = createHboneClient({
    certificates: { get: () => Promise.resolve(pki.client) },
    log: quiet,
  });
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (down) => {
    down.on('error', () => undefined);
    hbone
      .connect({
        srcIdentity: CLIENT_ID,
        dstIdentities: [SERVER_ID],
        srcIp: '127.0.0.1',
        dstIp: '127.0.0.1',
        dstPort: bPort,
        authority: app,
        headers: {},
      })
      .then(
        ({ stream }) => splice(down, stream),
        () => down.destroy(),
      );
  });
  return listen(server);
}

/** `--env A=1,B=2`: extra environment of the two proxies (e.g. glibc malloc tunables). */
function childEnv(): NodeJS.ProcessEnv {
  const extra = Object.fromEntries(
    arg('env', '')
      .split(',')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  return { ...process.env, ...extra };
}

function child(
  role: string,
  extra: string[],
  nodeOptions: string[],
): Promise<[ChildProcess, number]> {
  const c = fork(fileURLToPath(import.meta.url), ['--role', role, ...extra], {
    execArgv: nodeOptions,
    env: childEnv(),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    c.once('message', (m) => resolve([c, Number(m)]));
    c.once('exit', (code) => reject(new Error(`${role} exited ${code}`)));
  });
}

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

function memKb(pid: number): { rss: number; anon: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), hwm: kb('VmHWM') };
}

interface MemReply {
  mem?: NodeJS.MemoryUsage;
  heap?: v8.HeapInfo;
  snap?: string;
}
const used = (r: MemReply) => r.heap?.used_heap_size ?? 0;
const ext = (r: MemReply) => (r.mem?.external ?? 0) + (r.mem?.arrayBuffers ?? 0);

function ask(c: ChildProcess, what: string): Promise<MemReply> {
  return new Promise((resolve) => {
    c.once('message', (m) => resolve(m as MemReply));
    c.send(what);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends `mb` MiB on each of `streams` connections to `port`; resolves when the sink got it all. */
async function bulk(port: number, sinkBytes: () => number, mb: number, streams: number) {
  const chunk = Buffer.alloc(128 * 1024, 7);
  const start = sinkBytes();
  const total = mb * 1024 * 1024 * streams;
  const t0 = process.hrtime.bigint();
  const socks = await Promise.all(Array.from({ length: streams }, () => connect(port)));
  for (const s of socks) {
    let left = (mb * 1024 * 1024) / chunk.length;
    const pump = () => {
      while (left > 0) {
        left--;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    pump();
  }
  while (sinkBytes() - start < total) await sleep(5);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const s of socks) s.destroy();
  return { secs, gib: total / 2 ** 30 };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Sequential 1 KiB round trips on one connection for `seconds`; latencies in ms. */
async function pingPong(port: number, seconds: number): Promise<number[]> {
  const s = await connect(port);
  const req = Buffer.alloc(1024, 1);
  const out: number[] = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve) => {
      let got = 0;
      const onData = (d: Buffer) => {
        got += d.length;
        if (got >= req.length) {
          s.off('data', onData);
          resolve();
        }
      };
      s.on('data', onData);
      s.write(req);
    });
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  s.destroy();
  return out;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Number((s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0).toFixed(4));
}

async function driver(): Promise<void> {
  const mb = Number(arg('mb', '1000'));
  const streams = Number(arg('streams', '1'));
  const latencySeconds = Number(arg('latency-seconds', '5'));
  const hold = Number(arg('hold', '0'));
  const rounds = Number(arg('rounds', '1'));
  const nodeOptions = arg('node-options', '').split(' ').filter(Boolean);
  const ca = await createFakeCa();
  const pki: Pki = { server: await ca.issue(SERVER_ID), client: await ca.issue(CLIENT_ID) };
  const pkiFile = join(os.tmpdir(), `hbone-pair-${process.pid}.json`);
  writeFileSync(pkiFile, JSON.stringify(pki));
  // The application: a sink that counts, and an echo.
  let sunk = 0;
  const sink = net.createServer((s) => {
    s.on('data', (d: Buffer) => (sunk += d.length));
    s.on('error', () => undefined);
  });
  const held: net.Socket[] = [];
  const echo = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  const sinkPort = await listen(sink);
  const echoPort = await listen(echo);
  const [b, bPort] = await child('b', ['--pki', pkiFile], nodeOptions);
  const [a, aPortSink] = await child(
    'a',
    ['--pki', pkiFile, '--b', String(bPort), '--app', `127.0.0.1:${sinkPort}`],
    nodeOptions,
  );
  const [a2, aPortEcho] = await child(
    'a',
    ['--pki', pkiFile, '--b', String(bPort), '--app', `127.0.0.1:${echoPort}`],
    nodeOptions,
  );
  const print = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
  print({ pids: { a: a.pid, aEcho: a2.pid, b: b.pid }, nodeOptions });
  try {
    await bulk(aPortSink, () => sunk, 64, 1); // warm-up: JIT, pool connection
    for (let r = 1; r <= rounds; r++) {
      if (mb > 0) {
        const ca0 = cpuSeconds(a.pid!);
        const cb0 = cpuSeconds(b.pid!);
        const { secs, gib } = await bulk(aPortSink, () => sunk, mb, streams);
        const cpuA = cpuSeconds(a.pid!) - ca0;
        const cpuB = cpuSeconds(b.pid!) - cb0;
        print({
          round: r,
          bulk: { streams, gbps: Number(((gib * 8 * 1.073741824) / secs).toFixed(3)) },
          cpuPerGiB: {
            a: Number((cpuA / gib).toFixed(3)),
            b: Number((cpuB / gib).toFixed(3)),
            sum: Number(((cpuA + cpuB) / gib).toFixed(3)),
          },
          anonKb: { a: memKb(a.pid!).anon, b: memKb(b.pid!).anon },
        });
      }
      if (latencySeconds > 0) {
        await pingPong(aPortEcho, 0.5);
        const direct = await pingPong(echoPort, latencySeconds);
        const ca0 = cpuSeconds(a2.pid!) + cpuSeconds(b.pid!);
        const mesh = await pingPong(aPortEcho, latencySeconds);
        const cpu = cpuSeconds(a2.pid!) + cpuSeconds(b.pid!) - ca0;
        print({
          round: r,
          latency: {
            n: mesh.length,
            directP50: pct(direct, 50),
            meshP50: pct(mesh, 50),
            addedP50: Number((pct(mesh, 50) - pct(direct, 50)).toFixed(4)),
            addedP90: Number((pct(mesh, 90) - pct(direct, 90)).toFixed(4)),
            cpuMsPerReq: Number(((cpu * 1000) / mesh.length).toFixed(4)),
          },
          memKb: { a: memKb(a2.pid!), b: memKb(b.pid!) },
        });
      }
    }
    if (hold > 0) {
      const gc = () => sleep(2000);
      await gc();
      const before = { a: memKb(a2.pid!), b: memKb(b.pid!) };
      const heapBefore = { a: await ask(a2, 'mem'), b: await ask(b, 'mem') };
      for (let i = 0; i < hold; i += 100) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(100, hold - i) }, () => connect(aPortEcho)),
        );
        // One byte each way proves the tunnel is open end to end.
        await Promise.all(
          batch.map(
            (s) =>
              new Promise<void>((resolve) => {
                s.once('data', () => resolve());
                s.write('x');
              }),
          ),
        );
        held.push(...batch);
      }
      await gc();
      const open = { a: memKb(a2.pid!), b: memKb(b.pid!) };
      const heapOpen = { a: await ask(a2, 'mem'), b: await ask(b, 'mem') };
      const perHeap = (k: 'a' | 'b') =>
        Math.round((used(heapOpen[k]) - used(heapBefore[k])) / hold);
      const perExt = (k: 'a' | 'b') => Math.round((ext(heapOpen[k]) - ext(heapBefore[k])) / hold);
      print({
        hold,
        heapBytesPerIdleConn: { a: perHeap('a'), b: perHeap('b') },
        externalBytesPerIdleConn: { a: perExt('a'), b: perExt('b') },
      });
      if (arg('snap', '') === 'yes')
        print({ snaps: [await ask(a2, 'snap'), await ask(b, 'snap')] });
      for (const s of held) s.destroy();
      await sleep(5000);
      const after = { a: memKb(a2.pid!), b: memKb(b.pid!) };
      const per = (k: 'a' | 'b') => Math.round(((open[k].anon - before[k].anon) * 1024) / hold);
      print({ hold, before, open, after, bytesPerIdleConn: { a: per('a'), b: per('b') } });
    }
  } finally {
    // A disconnect lets the children exit normally (so --cpu-prof can write its profile).
    for (const c of [a, a2, b]) {
      c.disconnect();
      setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
    }
    sink.close();
    echo.close();
  }
}

async function main(): Promise<void> {
  const role = arg('role', '');
  if (!role) return driver();
  const pki = JSON.parse(readFileSync(arg('pki', ''), 'utf8')) as Pki;
  const port =
    role === 'b' ? await roleB(pki) : await roleA(pki, Number(arg('b', '0')), arg('app', ''));
  process.send?.(port);
  process.on('disconnect', () => process.exit(0));
  // 'mem': the heap after a full GC (needs --expose-gc); 'snap': a heap snapshot's file name.
  process.on('message', (m) => {
    const g = (globalThis as { gc?: () => void }).gc;
    g?.();
    if (m === 'snap') process.send?.({ snap: v8.writeHeapSnapshot() });
    else process.send?.({ mem: process.memoryUsage(), heap: v8.getHeapStatistics() });
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
