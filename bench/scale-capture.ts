/**
 * Capture update time vs enrolled pods (issue 15): on one node (`scale-capture-topology.ts`: a
 * node netns, a ztunnel pod netns with transparent listeners on :15001/:15006/:15008, an
 * unenrolled server pod and the enrolled pods, each its own netns wired by a veth), the real
 * node agent (`src/redirect/agent.ts`, its informers on an in-process API server) with the real
 * backend enrols 10, 100, 1,000 pods through CNI ADD, then times one more pod:
 *
 * - ADD: the plugin's request to the agent's socket → its reply (capture in place), and → the
 *   first connection from the new pod to the server that ztunnel's :15001 accepts with the
 *   server's address as its original destination (traffic redirected);
 * - DEL: request → reply, and → the first connection that reaches the server itself.
 *
 *   node dist/bench/scale-capture.js [--pods 10,100,1000] [--backends iptables,ebpf]
 *                                    [--samples 5] [--out bench/results/<date>-scale-capture.md]
 *   node dist/bench/scale-capture.js --render a.json,b.json --out …   (one report of several runs)
 *
 * Root. eBPF needs dist/bpf/*.o (`bash scripts/build-bpf.sh`).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AmbitError, errorMessage } from '../src/errors.js';
import { KubeClient } from '../src/k8s/client.js';
import { resources } from '../src/k8s/resources.js';
import type { Pod } from '../src/k8s/types.js';
import { startApiServer } from '../src/lab/apiserver/server.js';
import { createLogger } from '../src/log.js';
import { NodeAgent, type CniEvent } from '../src/redirect/agent.js';
import { ebpfPinDir } from '../src/redirect/backends.js';
import { EbpfBackend } from '../src/redirect/ebpf/backend.js';
import { IptablesBackend } from '../src/redirect/iptables/backend.js';
import type { RedirectBackend } from '../src/redirect/types.js';
import { repoRoot } from '../src/repo.js';
import { startCaptureListeners, startHttpbin } from '../test/helpers/redirect-probe.js';
import { createPod, ensureNamespace, ensureServiceAccount } from '../test/helpers/xds-cluster.js';
import { captureMarkdown, captureSvg, type CaptureRow } from './scale-capture-report.js';
import { buildScaleNode, type ScaleNode, type ScalePod } from './scale-capture-topology.js';
import { probeLabel } from './scale-capture-probe.js';
import { writeChart } from './plot.js';

const NODE = 'scale-node';
const NS = 'scale';
/** Warnings and errors of the agent and backends go to stderr; the rest is dropped. */
const log = createLogger('bench', (line) => {
  if (/^\S+ (warn|error) /.test(line)) process.stderr.write(line + '\n');
});

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

function say(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `every` ms for at most `ms`; the elapsed ms, or throws naming `what`. */
async function until(what: string, check: () => Promise<boolean>, ms: number, every = 20) {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    if (await check()) return performance.now() - t0;
    await sleep(every);
  }
  throw new AmbitError('BENCH_CAPTURE_TIMEOUT', `timed out after ${ms} ms waiting for ${what}`, {
    hint: 'warnings of the node agent are on stderr',
  });
}

/** What `ambit cni plugin` sends the agent (src/redirect/plugin.ts), without its process. */
function cni(socketPath: string, ev: CniEvent): Promise<{ captured: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, path: '/cni', method: 'POST', timeout: 60_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(JSON.parse(text) as { captured: boolean })
            : reject(new AmbitError('BENCH_CNI_FAILED', `agent: ${res.statusCode} ${text}`)),
        );
      },
    );
    req.on('timeout', () => req.destroy(new AmbitError('BENCH_CNI_FAILED', 'agent: no answer')));
    req.on('error', reject);
    req.end(JSON.stringify(ev));
  });
}

const addEvent = (pod: Pod, p: ScalePod): CniEvent => ({
  command: 'ADD',
  uid: pod.metadata.uid!,
  namespace: pod.metadata.namespace!,
  name: pod.metadata.name,
  ip: p.ip,
  hostVeth: p.hostVeth,
  netns: `/run/netns/${p.netns}`,
});

async function inBatches<T>(items: T[], width: number, fn: (t: T) => Promise<void>) {
  for (let i = 0; i < items.length; i += width)
    await Promise.all(items.slice(i, i + width).map(fn));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Phase {
  backend: RedirectBackend;
  agent: NodeAgent;
  socket: string;
  dir: string;
}

function backendFor(mode: string, node: ScaleNode, dir: string): RedirectBackend {
  if (mode === 'iptables')
    return new IptablesBackend({
      netns: node.netns,
      stateFile: join(dir, 'iptables-state.json'),
      hostIp: node.hostIp,
      log: log.child('iptables'),
    });
  if (mode === 'ebpf')
    return new EbpfBackend({
      netns: node.netns,
      stateFile: join(dir, 'ebpf-state.json'),
      hostIp: node.hostIp,
      pinDir: ebpfPinDir(node.tag, NODE),
      log: log.child('ebpf'),
    });
  throw new AmbitError('BENCH_BAD_ARG', `unknown backend ${mode}`, {
    value: mode,
    hint: '--backends iptables,ebpf',
  });
}

async function startPhase(mode: string, node: ScaleNode, kube: KubeClient, zt: Pod) {
  const dir = mkdtempSync(join(tmpdir(), `ambit-scale-capture-${mode}-`));
  const cniDir = join(dir, 'net.d');
  mkdirSync(cniDir);
  // The node's primary network config, which the agent chains its plugin into.
  writeFileSync(
    join(cniDir, '05-ptp.conflist'),
    JSON.stringify({ cniVersion: '1.0.0', name: 'ptp', plugins: [{ type: 'ptp' }] }),
  );
  const backend = backendFor(mode, node, dir);
  const socket = join(dir, 'agent.sock');
  const agent = new NodeAgent({
    client: kube,
    node: NODE,
    backend,
    cniDir,
    socketPath: socket,
    podRecordFile: join(dir, 'pods.json'),
    cniConfigWaitMs: 5_000,
    netns: node.netns,
    log: log.child('agent'),
  });
  await agent.start();
  await cni(socket, addEvent(zt, node.ztunnel));
  await until(
    'the agent to wire the ztunnel',
    () => Promise.resolve(backend.status().ztunnel?.podIp === node.ztunnel.ip),
    60_000,
  );
  return { backend, agent, socket, dir } satisfies Phase;
}

async function annotatedCount(kube: KubeClient): Promise<number> {
  const list = await kube.list<Pod>(resources.pods, { namespace: NS });
  return list.items.filter(
    (p) => p.metadata.annotations?.['ambient.istio.io/redirection'] === 'enabled',
  ).length;
}

/** Writes the pod's status as the kubelet does after ADD (retried: the agent annotates it too). */
async function setRunning(kube: KubeClient, name: string, ip: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const cur = await kube.get<Pod>(resources.pods, name, NS);
    try {
      await kube.updateStatus(resources.pods, {
        ...cur,
        status: {
          phase: 'Running',
          podIP: ip,
          podIPs: [{ ip }],
          conditions: [{ type: 'Ready', status: 'True' }],
        },
      });
      return;
    } catch (err) {
      if ((err as { status?: number }).status !== 409 || attempt >= 10) throw err;
    }
  }
}

/**
 * Enrols pods until `n` are captured: API object, CNI ADD, status Running. Two ADDs at a time: the
 * backend serializes them, and at a load of ~30 eight queued ones outlasted the 60 s we wait.
 */
async function enrol(ph: Phase, node: ScaleNode, kube: KubeClient, mode: string, n: number) {
  const have = (await ph.backend.capturedPods()).size;
  const t0 = performance.now();
  await inBatches(node.pods.slice(have, n), 2, async (p) => {
    const created = await kube.create<Pod>(resources.pods, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${mode}-${p.index}`, namespace: NS },
      spec: { nodeName: NODE, containers: [{ name: 'c', image: 'ambit/sleep' }] },
    });
    const r = await cni(ph.socket, addEvent(created, p));
    if (!r.captured) throw new AmbitError('BENCH_CAPTURE_UNPROVEN', `pod ${p.ip} not captured`);
    await setRunning(kube, created.metadata.name, p.ip);
  });
  const seconds = (performance.now() - t0) / 1000;
  // The agent's reconcile annotates each pod after its ADD: let it finish before measuring.
  await until(
    'every enrolled pod annotated',
    async () => (await annotatedCount(kube)) >= n,
    300_000,
    250,
  );
  const captured = (await ph.backend.capturedPods()).size;
  if (captured !== n)
    throw new AmbitError('BENCH_CAPTURE_UNPROVEN', `${captured} pods captured, wanted ${n}`);
  return seconds;
}

interface Sample {
  addMs: number;
  addTrafficMs: number;
  delMs: number;
  delTrafficMs: number;
}

/** One more pod: ADD, a connection through ztunnel, DEL, a connection straight to the server. */
async function sampleOnce(
  ph: Phase,
  node: ScaleNode,
  kube: KubeClient,
  probe: ScalePod,
  name: string,
): Promise<Sample> {
  const pod = await kube.create<Pod>(resources.pods, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: { nodeName: NODE, containers: [{ name: 'c', image: 'ambit/sleep' }] },
  });
  const dst = { ip: node.server.ip, port: 80 };
  try {
    // As a kubelet would, ADD follows the pod's creation; the agent marks the pod
    // (ambient.istio.io/redirection) only once it is captured, so there is nothing to wait
    // for but the informer's event of the new pod (the pass it triggers has nothing to do).
    await sleep(300);
    const before = await probeLabel(probe.netns, dst.ip, dst.port);
    if (before?.label !== 'httpbin')
      throw new AmbitError('BENCH_CAPTURE_UNPROVEN', `${name} before ADD reached ${before?.label}`);
    const t0 = performance.now();
    const r = await cni(ph.socket, addEvent(pod, probe));
    const addMs = performance.now() - t0;
    if (!r.captured) throw new AmbitError('BENCH_CAPTURE_UNPROVEN', `${name} not captured`);
    const addTrafficMs = await until(
      `${name}'s connection at ztunnel :15001`,
      async () => {
        const h = await probeLabel(probe.netns, dst.ip, dst.port);
        return h?.label === 'ztunnel' && h.port === 15001 && h.local === `${dst.ip}:${dst.port}`;
      },
      10_000,
      5,
    ).then((ms) => ms + addMs);
    await sleep(200);
    const t1 = performance.now();
    await cni(ph.socket, { ...addEvent(pod, probe), command: 'DEL' });
    const delMs = performance.now() - t1;
    const delTrafficMs = await until(
      `${name}'s connection at the server itself`,
      async () => (await probeLabel(probe.netns, dst.ip, dst.port))?.label === 'httpbin',
      10_000,
      5,
    ).then((ms) => ms + delMs);
    return { addMs, addTrafficMs, delMs, delTrafficMs };
  } finally {
    await kube.delete(resources.pods, name, NS).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const render = arg('render', '');
  if (render) {
    const rows = render
      .split(',')
      .flatMap((f) => JSON.parse(readFileSync(f, 'utf8')) as CaptureRow[]);
    writeReport(rows, true);
    return;
  }
  if (process.getuid?.() !== 0)
    throw new AmbitError('BENCH_NEEDS_ROOT', 'scale-capture builds network namespaces', {
      hint: 'sudo node dist/bench/scale-capture.js',
    });
  const counts = arg('pods', '10,100,1000').split(',').map(Number);
  const modes = arg('backends', 'iptables,ebpf').split(',');
  const samples = Number(arg('samples', '5'));
  for (const n of [...counts, samples]) {
    if (!Number.isInteger(n) || n < 1 || n > 1000)
      throw new AmbitError('BENCH_BAD_ARG', `counts must be integers in 1..1000, got ${n}`, {
        value: String(n),
        hint: 'node dist/bench/scale-capture.js --pods 10,100,1000 --samples 5 (eBPF: 1024 pods)',
      });
  }
  counts.sort((a, b) => a - b);
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const f of cleanups.splice(0).reverse())
      await f().catch((err: unknown) => say(`cleanup: ${errorMessage(err)}`));
  };
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const rows: CaptureRow[] = [];
  try {
    const dir = mkdtempSync(join(tmpdir(), 'ambit-scale-capture-'));
    cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
    const api = await startApiServer({
      stateDir: join(dir, 'api'),
      listen: [{ host: '127.0.0.1', port: 0 }],
      log: createLogger('apiserver', () => undefined),
    });
    cleanups.push(() => api.close());
    const kube = new KubeClient({ server: api.urls[0]! });
    await ensureNamespace(kube, 'istio-system');
    await ensureNamespace(kube, NS, { 'istio.io/dataplane-mode': 'ambient' });
    await ensureServiceAccount(kube, NS, 'default');

    let t = performance.now();
    const node = await buildScaleNode(samples);
    cleanups.push(() => node.destroy());
    say(
      `node ${node.netns}: ztunnel, server, ${samples} probe pods in ${(performance.now() - t).toFixed(0)} ms`,
    );
    const zt = await createPod(kube, {
      name: 'ztunnel-node',
      namespace: 'istio-system',
      node: NODE,
      sa: 'ztunnel',
      ip: node.ztunnel.ip,
      labels: { app: 'ztunnel' },
      annotations: { 'ambient.istio.io/redirection': 'disabled' },
      image: 'ambit/ztunnel',
    });
    const listeners = await startCaptureListeners(node.ztunnel.netns, 'ztunnel');
    cleanups.push(() => listeners.close());
    const server = await startHttpbin(node.server.netns, 80);
    cleanups.push(() => server.close());

    for (const mode of modes) {
      say(`${mode}: agent starting`);
      const ph = await startPhase(mode, node, kube, zt);
      const stop = async () => {
        await ph.agent.stop();
        await ph.backend.uninstall();
        rmSync(ph.dir, { recursive: true, force: true });
      };
      cleanups.push(stop);
      try {
        for (const n of counts) {
          if (node.pods.length < n) {
            t = performance.now();
            const added = await node.grow(n);
            say(`  ${added.length} pod netns in ${(performance.now() - t).toFixed(0)} ms`);
          }
          const load = loadavg()[0]!;
          const enrolSeconds = await enrol(ph, node, kube, mode, n);
          say(`  ${n} pods enrolled (this step ${enrolSeconds.toFixed(1)} s), measuring`);
          const got: Sample[] = [];
          for (let k = 0; k < samples; k++)
            got.push(await sampleOnce(ph, node, kube, node.probes[k]!, `probe-${mode}-${n}-${k}`));
          const pick = (f: (s: Sample) => number) => ({
            median: median(got.map(f)),
            max: Math.max(...got.map(f)),
          });
          const row: CaptureRow = {
            backend: mode,
            pods: n,
            load,
            samples,
            add: pick((s) => s.addMs),
            addTraffic: pick((s) => s.addTrafficMs),
            del: pick((s) => s.delMs),
            delTraffic: pick((s) => s.delTrafficMs),
            enrolSeconds,
            enrolled: n - (rows.filter((r) => r.backend === mode).at(-1)?.pods ?? 0),
          };
          rows.push(row);
          writeReport(rows, false);
          say(
            `  ADD ${row.add.median.toFixed(0)} ms (→ traffic ${row.addTraffic.median.toFixed(0)}), DEL ${row.del.median.toFixed(0)} ms (→ traffic ${row.delTraffic.median.toFixed(0)})`,
          );
        }
      } finally {
        // Next backend starts from a node with no capture and no pods of this one.
        cleanups.splice(cleanups.indexOf(stop), 1);
        await stop();
        const list = await kube.list<Pod>(resources.pods, { namespace: NS });
        await inBatches(list.items, 32, (p) => kube.delete(resources.pods, p.metadata.name, NS));
      }
    }
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
  writeReport(rows, true);
}

/** The report so far (after every row, so a failure late in the run keeps the rows measured). */
function writeReport(rows: CaptureRow[], final: boolean): void {
  const outDir = join(repoRoot(), 'bench', 'results');
  const base = `${new Date().toISOString().slice(0, 10)}-scale-capture`;
  const out = arg('out', join(outDir, `${base}.md`));
  const chart = writeChart(out.replace(/\.md$/, ''), captureSvg(rows), say);
  const md = captureMarkdown(rows, { cpus: cpus().length, node: process.version, chart });
  writeFileSync(out, md);
  // The rows as data: `--render a.json,b.json` draws one report of several runs (one per backend).
  writeFileSync(out.replace(/\.md$/, '.json'), JSON.stringify(rows, null, 2) + '\n');
  if (final) process.stdout.write(`\n${md}\nwritten to ${out}\n`);
}

await main();
