/**
 * Control-plane cost vs scale (issue 15): for each workload count, a fresh API server holding
 * that many Running pods on hollow nodes (API objects only, no kubelet, like kubemark), a
 * control plane in its own process, and one delta-xDS subscriber per ztunnel. Measures the
 * initial push (subscriber start → every subscriber holds every address), the control plane's
 * CPU and peak RSS, and one incremental change (a pod relabelled → the delta each subscriber
 * gets, in resources and wire bytes).
 *
 *   node dist/bench/scale-controlplane.js [--workloads 100,1000,10000] [--ztunnels 3[,10]]
 *                                         [--cpu-prof <dir>]   (the control plane's V8 profile)
 *                                         [--out bench/results/<date>-scale-controlplane.md]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { TYPE_ADDRESS } from '../src/api/workload.js';
import { AmbitError } from '../src/errors.js';
import { resources } from '../src/k8s/resources.js';
import type { Pod } from '../src/k8s/types.js';
import { startApiServer } from '../src/lab/apiserver/server.js';
import { createLogger } from '../src/log.js';
import { repoRoot } from '../src/repo.js';
import { KubeClient } from '../src/k8s/client.js';
import { createXdsClient, type DeltaXdsClient } from '../src/xds/client.js';
import type { XdsDelta } from '../src/xds/types.js';
import { createPod, ensureNamespace, podToken, until } from '../test/helpers/xds-cluster.js';
import { lineSvg, writeChart } from './plot.js';

const quiet = createLogger('bench', () => undefined);
/** Pod relabels measured per workload count (median latency reported). */
const UPDATES = 5;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** CPU seconds (user + system) and peak RSS of a process, from /proc. */
function usage(pid: number): { cpu: number; hwmMb: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpu: ticks / 100, hwmMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024 };
}

async function inBatches<T>(n: number, width: number, fn: (i: number) => Promise<T>) {
  for (let i = 0; i < n; i += width) {
    await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, k) => fn(i + k)));
  }
}

interface Row {
  workloads: number;
  load: number;
  ztunnels: number;
  pushMs: number;
  cpCpuSeconds: number;
  cpPeakRssMb: number;
  addressesPerZtunnel: number;
  updateMs: number;
  updateMaxMs: number;
  updateResources: number;
  updateBytes: number;
  fullBytes: number;
}

const cpuProfDir = process.argv.includes('--cpu-prof') ? arg('cpu-prof', '') : '';

async function measure(workloads: number, ztunnels: number): Promise<Row> {
  const load = loadavg()[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'ambit-scale-'));
  const api = await startApiServer({
    stateDir: join(dir, 'lab'),
    listen: [{ host: '127.0.0.1', port: 0 }],
    log: quiet,
  });
  const kube = new KubeClient({ server: api.urls[0]! });
  let cp: ChildProcess | undefined;
  const subs: DeltaXdsClient[] = [];
  try {
    await ensureNamespace(kube, 'istio-system');
    await ensureNamespace(kube, 'scale', { 'istio.io/dataplane-mode': 'ambient' });
    const nodes = Math.max(ztunnels, Math.ceil(workloads / 100));
    const zt: Pod[] = [];
    for (let z = 0; z < ztunnels; z++) {
      zt.push(
        await createPod(kube, {
          name: `ztunnel-${z}`,
          namespace: 'istio-system',
          node: `hollow-${z}`,
          sa: 'ztunnel',
          ip: `10.${200 + Math.floor(z / 250)}.${z % 250}.3`,
          labels: { app: 'ztunnel' },
          annotations: { 'ambient.istio.io/redirection': 'disabled' },
          image: 'ambit/ztunnel',
        }),
      );
    }
    log(`  ${workloads} pods on ${nodes} hollow nodes, ${Math.ceil(workloads / 10)} services …`);
    await inBatches(workloads, 64, (i) =>
      createPod(kube, {
        name: `app-${i}`,
        namespace: 'scale',
        node: `hollow-${i % nodes}`,
        sa: `sa-${i % 50}`,
        ip: `10.${16 + Math.floor(i / 65000)}.${Math.floor(i / 250) % 260}.${(i % 250) + 2}`,
        labels: { app: `svc-${Math.floor(i / 10)}` },
      }).then(() => undefined),
    );
    await inBatches(Math.ceil(workloads / 10), 64, (s) =>
      kube
        .create(resources.services, {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: `svc-${s}`, namespace: 'scale' },
          spec: {
            clusterIP: `10.96.${Math.floor(s / 250) + 1}.${(s % 250) + 2}`,
            selector: { app: `svc-${s}` },
            ports: [{ name: 'http', port: 80, targetPort: 8080 }],
          },
        })
        .then(() => undefined),
    );
    const tokens = await Promise.all(zt.map((p) => podToken(kube, p, dir)));

    const port = await freePort();
    const debugPort = await freePort();
    cp = spawn(
      process.execPath,
      [
        join(repoRoot(), 'bin', 'ambit'),
        'controlplane',
        '--state-dir',
        join(dir, 'controlplane'),
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--debug-port',
        String(debugPort),
      ],
      {
        env: {
          ...process.env,
          AMBIT_KUBE_SERVER: api.urls[0]!,
          AMBIT_LOG: 'warn',
          // --cpu-prof <dir>: a V8 CPU profile of the control plane, written when it exits.
          ...(cpuProfDir
            ? {
                NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${cpuProfDir}`,
              }
            : {}),
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    const pid = cp.pid!;
    const rootCa = await until(
      'the control plane CA',
      () => {
        try {
          return readFileSync(join(dir, 'controlplane', 'root-cert.pem'), 'utf8');
        } catch {
          return undefined;
        }
      },
      60_000,
    );
    await until(
      'the control plane to listen',
      async () => {
        const r = await fetch(`http://127.0.0.1:${debugPort}/ready`).catch(() => undefined);
        return r?.ok;
      },
      120_000,
    );
    // Wait until the control plane has read the whole API (its informers are synced).
    const cpu0 = usage(pid).cpu;
    const expected = workloads + ztunnels + Math.ceil(workloads / 10);
    const t0 = performance.now();
    for (let z = 0; z < ztunnels; z++) {
      const c = createXdsClient({
        address: `127.0.0.1:${port}`,
        rootCa,
        tokenFile: tokens[z],
        node: {
          id: `ztunnel~${zt[z]!.status!.podIP}~ztunnel-${z}.istio-system~istio-system.svc.cluster.local`,
          nodeName: `hollow-${z}`,
          podName: `ztunnel-${z}`,
          podNamespace: 'istio-system',
          podIp: zt[z]!.status!.podIP!,
        },
        logger: quiet,
      });
      subs.push(c);
      c.start();
    }
    await until(
      `${expected} addresses at each of ${ztunnels} subscribers`,
      () => subs.every((c) => c.addresses.size >= expected),
      120_000,
    );
    const pushMs = performance.now() - t0;
    const u = usage(pid);
    const fullBytes = subs[0]!.bytesReceived;

    // Incremental changes: one pod at a time leaves its service (relabelled), UPDATES times;
    // latency is patch → every subscriber has the change (median), bytes are one subscriber's.
    const updateSamples: { ms: number; bytes: number; resources: number }[] = [];
    for (let k = 0; k < UPDATES; k++) {
      const deltas: XdsDelta[][] = subs.map(() => []);
      const listeners = subs.map((c, i) => {
        const l = (d: XdsDelta) => deltas[i]!.push(d);
        c.on('delta', l);
        return l;
      });
      const before = subs[0]!.bytesReceived;
      const t1 = performance.now();
      await kube.patch(
        resources.pods,
        `app-${k}`,
        { metadata: { labels: { app: 'moved' } } },
        { namespace: 'scale' },
      );
      await until(
        'the relabelled pod at every subscriber',
        () => deltas.every((d) => d.some((x) => x.typeUrl === TYPE_ADDRESS)),
        30_000,
      );
      updateSamples.push({
        ms: performance.now() - t1,
        bytes: subs[0]!.bytesReceived - before,
        resources: deltas[0]!
          .filter((x) => x.typeUrl === TYPE_ADDRESS)
          .reduce(
            (n, x) => n + (x.addresses?.added.length ?? 0) + (x.addresses?.removed.length ?? 0),
            0,
          ),
      });
      subs.forEach((c, i) => c.off('delta', listeners[i]!));
    }
    const mid = [...updateSamples].sort((a, b) => a.ms - b.ms)[Math.floor(UPDATES / 2)]!;
    const updateMs = mid.ms;
    const updateResources = Math.max(...updateSamples.map((x) => x.resources));
    const updateBytes = Math.max(...updateSamples.map((x) => x.bytes));
    return {
      workloads,
      load,
      ztunnels,
      pushMs,
      cpCpuSeconds: u.cpu - cpu0,
      cpPeakRssMb: u.hwmMb,
      addressesPerZtunnel: subs[0]!.addresses.size,
      updateMs,
      updateMaxMs: Math.max(...updateSamples.map((x) => x.ms)),
      updateResources,
      updateBytes,
      fullBytes,
    };
  } finally {
    await Promise.all(subs.map((c) => c.stop()));
    if (cp && cp.exitCode === null) {
      const exited = new Promise((r) => cp!.once('exit', r));
      cp.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (cp.exitCode === null) cp.kill('SIGKILL');
    }
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function markdown(rows: Row[]): string {
  const l = [
    `# Control plane vs scale — ${new Date().toISOString().slice(0, 10)}, Node ${process.version}`,
    '',
    'Initial push: subscriber start → every subscriber holds every address (pods + services +',
    'ztunnels). CPU and peak RSS are the control-plane process alone, over the push. The update',
    `is one pod relabelled out of its service, ${UPDATES} times: latency patch → every subscriber has it`,
    '(median, and max), resources and gRPC message bytes one subscriber received (max).',
    `Machine: ${cpus().length} CPUs; load is the 1-minute load average when each row started.`,
    '',
    '| workloads | ztunnels | load | push (ms) | CP CPU (s) | CP peak RSS (MB) | addresses / ztunnel | full push bytes / ztunnel | update median (max) ms | update resources | update bytes |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    l.push(
      `| ${r.workloads} | ${r.ztunnels} | ${r.load.toFixed(1)} | ${r.pushMs.toFixed(0)} | ${r.cpCpuSeconds.toFixed(2)} | ${r.cpPeakRssMb.toFixed(0)} | ${r.addressesPerZtunnel} | ${r.fullBytes} | ${r.updateMs.toFixed(0)} (${r.updateMaxMs.toFixed(0)}) | ${r.updateResources} | ${r.updateBytes} |`,
    );
  }
  // The target row: the most workloads, to the most ztunnels ("every ztunnel").
  const big = rows.filter((r) => r.workloads >= 10_000).sort((a, b) => b.ztunnels - a.ztunnels)[0];
  if (big) {
    l.push('', '| target (issue 15) | measured | goal | met |', '|---|---|---|---|');
    l.push(
      `| push of ${big.workloads} workloads to every ztunnel | ${(big.pushMs / 1000).toFixed(2)} s | < 2 s | ${big.pushMs < 2000 ? 'yes' : 'no'} |`,
    );
    l.push(
      `| control plane memory during it | ${big.cpPeakRssMb.toFixed(0)} MB | < 512 MB | ${big.cpPeakRssMb < 512 ? 'yes' : 'no'} |`,
    );
    l.push(
      `| update bytes vs full push | ${big.updateBytes} of ${big.fullBytes} | proportional to the change | ${big.updateBytes * 100 < big.fullBytes ? 'yes' : 'no'} |`,
    );
    const small = rows.find((r) => r.workloads <= 100 && r.ztunnels === big.ztunnels);
    if (small)
      l.push(
        `| update latency at ${big.workloads} vs ${small.workloads} workloads | ${big.updateMs.toFixed(0)} vs ${small.updateMs.toFixed(0)} ms | does not grow with the cluster (≤ 2×) | ${big.updateMs <= 2 * small.updateMs ? 'yes' : 'no'} |`,
      );
  }
  return l.join('\n') + '\n';
}

/** Push time and update latency (ms, left) and the control plane's peak RSS (MB, right). */
function pushSvg(rows: Row[]): string {
  const zt = [...new Set(rows.map((r) => r.ztunnels))];
  return lineSvg({
    title: 'Control plane: initial push and one-pod update vs workloads',
    xLabel: 'workloads (log scale)',
    yLabel: 'ms',
    rightLabel: 'control plane peak RSS (MB, dashed)',
    xLog: true,
    series: zt.flatMap((z) => {
      const of = rows.filter((r) => r.ztunnels === z);
      const pts = (f: (r: Row) => number) => of.map((r) => [r.workloads, f(r)] as [number, number]);
      return [
        { name: `push to ${z} ztunnels`, points: pts((r) => r.pushMs) },
        { name: `update (${z} ztunnels)`, points: pts((r) => r.updateMs) },
        { name: `CP RSS (${z} ztunnels)`, points: pts((r) => r.cpPeakRssMb), right: true },
      ];
    }),
  });
}

async function main(): Promise<void> {
  const counts = arg('workloads', '100,1000,10000')
    .split(',')
    .map((s) => Number(s));
  const zts = arg('ztunnels', '3')
    .split(',')
    .map((s) => Number(s));
  for (const n of [...counts, ...zts]) {
    if (!Number.isInteger(n) || n < 1 || n > 60_000)
      throw new AmbitError('BENCH_BAD_ARG', `counts must be integers in 1..60000, got ${n}`, {
        value: String(n),
        hint: 'node dist/bench/scale-controlplane.js --workloads 100,1000,10000 --ztunnels 3',
      });
  }
  const rows: Row[] = [];
  for (const ztunnels of zts)
    for (const n of counts) {
      log(`${n} workloads, ${ztunnels} ztunnels`);
      const r = await measure(n, ztunnels);
      log(
        `  push ${r.pushMs.toFixed(0)} ms, CP ${r.cpCpuSeconds.toFixed(2)} s CPU, ${r.cpPeakRssMb.toFixed(0)} MB peak; update ${r.updateMs.toFixed(0)} ms, ${r.updateBytes} B`,
      );
      rows.push(r);
    }
  const out = arg(
    'out',
    join(
      repoRoot(),
      'bench',
      'results',
      `${new Date().toISOString().slice(0, 10)}-scale-controlplane.md`,
    ),
  );
  const chart = writeChart(out.replace(/\.md$/, ''), pushSvg(rows), log);
  const md =
    markdown(rows) +
    `\n![push time and control-plane memory vs workloads](${chart.png ?? chart.svg})\n`;
  writeFileSync(out, md);
  process.stdout.write(`\n${md}\nwritten to ${out}\n`);
}

await main();
