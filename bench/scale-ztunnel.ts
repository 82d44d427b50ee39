/**
 * ztunnel cost vs connections (issue 15): on the benchmark lab, the mesh client holds 100,
 * 1,000 and 10,000 concurrent connections to the echo server through both ztunnels (capture →
 * ztunnel A → HBONE → ztunnel B → server). For each count: both ztunnels' RSS and anonymous RSS
 * idle (all open), then CPU and peak RSS while every connection echoes 64 bytes once a second,
 * then RSS again a few seconds after all closed (is memory given back?).
 *
 *   node dist/bench/scale-ztunnel.js [--connections 100,1000,10000] [--active-seconds 5] [--keep]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
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
import { commandLine } from '../src/sys/exec.js';
import { lineSvg, writeChart } from './plot.js';
import { podPids } from './pods.js';
import { deployBenchPods } from './setup.js';

const LAB = 'bscale';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

interface Mem {
  rssMb: number;
  anonMb: number;
  cpu: number;
}

function mem(pid: number): Mem {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    rssMb: kb('VmRSS') / 1024,
    anonMb: kb('RssAnon') / 1024,
    cpu: (Number(f[11]) + Number(f[12])) / 100,
  };
}

interface Row {
  connections: number;
  open: number;
  errors: number;
  openMs: number;
  /** Per ztunnel, [client side A, server side B]. */
  baseline: [Mem, Mem];
  idle: [Mem, Mem];
  activeCpu: [number, number];
  activePeakRssMb: [number, number];
  activeErrors: number;
  after: [Mem, Mem];
}

/** A running hold tool in the client pod: resolves each JSON line it prints, in order. */
function startHold(netns: string, host: string, port: number, n: number) {
  const js = join(repoRoot(), 'dist', 'bench', 'tools', 'hold.js');
  const [cmd, ...args] = commandLine(
    process.execPath,
    [js, '--host', host, '--port', String(port), '--connections', String(n)],
    netns,
  );
  const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: Record<string, number>[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => {
    lines.push(JSON.parse(l) as Record<string, number>);
    waiters.shift()?.();
  });
  const next = async (timeoutMs: number): Promise<Record<string, number>> => {
    if (!lines.length) {
      await Promise.race([
        new Promise<void>((r) => waiters.push(r)),
        sleep(timeoutMs).then(() => {
          throw new AmbitError('BENCH_HOLD_TIMEOUT', `hold tool silent for ${timeoutMs} ms`, {
            value: n,
            hint: 'the machine may be overloaded; try fewer --connections',
          });
        }),
      ]);
    }
    return lines.shift()!;
  };
  return {
    next,
    send: (line: string) => child.stdin.write(line + '\n'),
    close: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin.end();
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

async function measure(
  pids: [number, number],
  netns: string,
  host: string,
  port: number,
  n: number,
  activeSeconds: number,
): Promise<Row> {
  const baseline: [Mem, Mem] = [mem(pids[0]), mem(pids[1])];
  const hold = startHold(netns, host, port, n);
  try {
    const opened = await hold.next(300_000);
    await sleep(2000);
    const idle: [Mem, Mem] = [mem(pids[0]), mem(pids[1])];
    let peak: [number, number] = [idle[0].rssMb, idle[1].rssMb];
    const timer = setInterval(() => {
      const a = mem(pids[0]);
      const b = mem(pids[1]);
      peak = [Math.max(peak[0], a.rssMb), Math.max(peak[1], b.rssMb)];
    }, 200);
    hold.send(`active ${activeSeconds} 64`);
    const act = await hold.next((activeSeconds + 120) * 1000);
    clearInterval(timer);
    const busy: [Mem, Mem] = [mem(pids[0]), mem(pids[1])];
    await hold.close();
    await sleep(5000);
    const after: [Mem, Mem] = [mem(pids[0]), mem(pids[1])];
    return {
      connections: n,
      open: opened.open ?? 0,
      errors: opened.errors ?? 0,
      openMs: opened.ms ?? 0,
      baseline,
      idle,
      activeCpu: [busy[0].cpu - idle[0].cpu, busy[1].cpu - idle[1].cpu],
      activePeakRssMb: peak,
      activeErrors: act.errors ?? 0,
      after,
    };
  } finally {
    await hold.close();
  }
}

const f1 = (x: number) => x.toFixed(1);

function markdown(rows: Row[], activeSeconds: number): string {
  const l = [
    `# ztunnel vs connections — ${new Date().toISOString().slice(0, 10)}, Node ${process.version}`,
    '',
    'Connections held by the mesh client through ztunnel A (client node) and ztunnel B (server',
    `node). Idle: all open, 2 s later. Active: each echoes 64 B once a second for ${activeSeconds} s.`,
    'After: 5 s after all closed. RSS includes the mapped node binary (~45 MB); anon is private.',
    '',
    '| connections | open (errors) | open time (ms) | A idle RSS / anon (MB) | B idle RSS / anon (MB) | A, B bytes per idle conn (anon) | A, B CPU active (s) | A, B peak RSS active (MB) | A, B RSS after close (MB) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const per = (i: 0 | 1) =>
      Math.round(((r.idle[i].anonMb - r.baseline[i].anonMb) * 2 ** 20) / Math.max(1, r.open));
    l.push(
      `| ${r.connections} | ${r.open} (${r.errors}) | ${r.openMs} | ${f1(r.idle[0].rssMb)} / ${f1(r.idle[0].anonMb)} | ${f1(r.idle[1].rssMb)} / ${f1(r.idle[1].anonMb)} | ${per(0)}, ${per(1)} | ${r.activeCpu.map((x) => x.toFixed(2)).join(', ')} | ${r.activePeakRssMb.map(f1).join(', ')} | ${f1(r.after[0].rssMb)}, ${f1(r.after[1].rssMb)} |`,
    );
  }
  return l.join('\n') + '\n';
}

/** Idle RSS and anonymous RSS of both ztunnels vs held connections (log x). */
function ztunnelSvg(rows: Row[]): string {
  const side = (i: 0 | 1, k: 'rssMb' | 'anonMb') =>
    rows.map((r) => [r.connections, r.idle[i][k]] as [number, number]);
  return lineSvg({
    title: 'ztunnel memory with N idle connections held',
    xLabel: 'connections (log scale)',
    yLabel: 'MB',
    xLog: true,
    series: [
      { name: 'A (client side) RSS', points: side(0, 'rssMb') },
      { name: 'A anonymous', points: side(0, 'anonMb') },
      { name: 'B (server side) RSS', points: side(1, 'rssMb') },
      { name: 'B anonymous', points: side(1, 'anonMb') },
    ],
  });
}

async function main(): Promise<number> {
  const counts = arg('connections', '100,1000,10000').split(',').map(Number);
  const activeSeconds = Number(arg('active-seconds', '5'));
  for (const n of counts)
    if (!Number.isInteger(n) || n < 1 || n > 30_000)
      throw new AmbitError('BENCH_BAD_ARG', `--connections: integers in 1..30000, got ${n}`, {
        value: String(n),
        hint: 'node dist/bench/scale-ztunnel.js --connections 100,1000,10000',
      });
  const keep = process.argv.includes('--keep');
  const workDir = join(labPaths(LAB).dir, '..', '..', 'bench-scale');
  mkdirSync(workDir, { recursive: true });
  try {
    log(`bringing up lab "${LAB}"`);
    const rc = await labUp({
      cluster: defaultCluster(LAB),
      scenario: false,
      timeoutMs: 180_000,
      print: (l) => log(`  ${l}`),
    });
    if (rc !== 0) throw new Error(`lab up failed (exit ${rc})`);
    const client = labClient(LAB);
    await installMesh(client, {
      lab: LAB,
      progress: (s, ms) => log(`  mesh: ${s} ${(ms / 1000).toFixed(1)}s`),
    });
    const pods = await deployBenchPods(client, workDir);
    const all = (await client.list<Pod>(resources.pods, { namespace: 'istio-system' })).items;
    const pid = (name: string) => {
      const p = all.find((x) => x.metadata.name === name);
      const found = p ? podPids(LAB, p) : [];
      if (!found[0])
        throw new AmbitError('BENCH_NO_ZTUNNEL', `no process for pod ${name}`, { value: name });
      return found[0];
    };
    const pids: [number, number] = [pid('ztunnel-worker2'), pid('ztunnel-worker')];
    const rows: Row[] = [];
    for (const n of counts) {
      log(`${n} connections`);
      const r = await measure(
        pids,
        pods.clientNetns.mesh,
        pods.targets.mesh.host,
        pods.targets.mesh.echoPort,
        n,
        activeSeconds,
      );
      log(
        `  open ${r.open} (${r.errors} errors) in ${r.openMs} ms; idle RSS ${f1(r.idle[0].rssMb)} / ${f1(r.idle[1].rssMb)} MB; after ${f1(r.after[0].rssMb)} / ${f1(r.after[1].rssMb)} MB`,
      );
      rows.push(r);
    }
    const out = join(
      repoRoot(),
      'bench',
      'results',
      `${new Date().toISOString().slice(0, 10)}-scale-ztunnel.md`,
    );
    const chart = writeChart(out.replace(/\.md$/, ''), ztunnelSvg(rows), log);
    const md =
      markdown(rows, activeSeconds) +
      `\n![ztunnel memory vs connections](${chart.png ?? chart.svg})\n`;
    writeFileSync(out, md);
    process.stdout.write(`\n${md}\nwritten to ${out}\n`);
    return 0;
  } catch (err) {
    log(`scale bench failed: ${errorMessage(err)}`);
    return 1;
  } finally {
    if (!keep) {
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
