/**
 * `ambit lab up`: state directory, network, daemons (apiserver first), Node objects,
 * manifests, then wait until every pod is ready. Each step prints a progress line; a failure
 * says which step failed, where the logs are, and how to clean up.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError, errorMessage } from '../../errors.js';
import { KubeClient } from '../../k8s/client.js';
import { netnsList } from '../../sys/ip.js';
import { cliCommand } from '../../repo.js';
import { controlPlane, inLabServer, netnsNames, type Cluster } from '../cluster/cluster.js';
import { run } from '../../sys/exec.js';
import { alive } from '../../sys/process.js';
import {
  daemonKubeconfig,
  labPaths,
  repoRoot,
  stateBase,
  type LabPaths,
} from '../cluster/paths.js';
import { createNode, createUnderlay } from '../net/cluster-net.js';
import {
  checkAlive,
  daemonRunning,
  entryExists,
  startDaemon,
  type Daemon,
  type DaemonSpec,
} from './daemons.js';
import { adaptBase, applyFile, applyObjects, parseManifests } from './manifests.js';
import { registerNode } from './nodes.js';
import { waitForPods } from './wait.js';

export interface UpOptions {
  cluster: Cluster;
  scenario: boolean;
  timeoutMs: number;
  print?: (line: string) => void;
}

interface Step {
  title: string;
  /** Returns a note to show instead of the duration (e.g. why it was skipped). */
  fn: () => Promise<string | void> | string | void;
}

export function labEnv(c: Cluster, server: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AMBIT_LAB: c.name,
    AMBIT_STATE_DIR: stateBase(),
    AMBIT_KUBE_SERVER: server,
  };
}

async function waitForApiServer(paths: LabPaths, d: Daemon, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no apiserver.url yet';
  while (Date.now() < deadline) {
    checkAlive(d);
    // The API server writes the kubeconfigs before apiserver.url.
    if (existsSync(paths.apiserverUrl)) {
      const url = readFileSync(paths.apiserverUrl, 'utf8').trim();
      try {
        await KubeClient.fromKubeconfig(paths.kubeconfig).request('GET', '/version');
        return url;
      } catch (err) {
        last = errorMessage(err);
      }
    }
    await sleep(100);
  }
  throw new AmbitError('LAB_APISERVER_TIMEOUT', `API server not answering /version: ${last}`, {
    value: paths.apiserverUrl,
    hint: `see ${d.log}`,
  });
}

/** Pods and node daemons use the in-lab address; check it from inside the control-plane node. */
async function waitForInLabApiServer(
  c: Cluster,
  paths: LabPaths,
  d: Daemon,
  timeoutMs: number,
): Promise<void> {
  const url = `${inLabServer(c)}/version`;
  const netns = netnsNames.node(c.name, controlPlane(c).name);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    checkAlive(d);
    // /version is open to anyone (system:public-info-viewer); the server's certificate must verify.
    const r = await run(
      'curl',
      [
        '-sS',
        '-m',
        '2',
        '--cacert',
        join(paths.pki, 'ca.crt'),
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        url,
      ],
      { netns, allowFail: true },
    );
    if (r.stdout.trim() === '200') return;
    last = r.stderr.trim() || `HTTP ${r.stdout.trim()}`;
    await sleep(200);
  }
  throw new AmbitError(
    'LAB_APISERVER_NOT_IN_LAB',
    `API server not reachable at ${url} inside ${netns}: ${last}`,
    {
      value: url,
      hint: `see ${d.log}`,
    },
  );
}

export async function labUp(opts: UpOptions): Promise<number> {
  const c = opts.cluster;
  const print = opts.print ?? ((l: string) => console.log(l));
  const paths = labPaths(c.name);
  // A lab that came up. Its network still there (not after a reboot), a dead daemon — the API
  // server too: its state is on disk — is started again; pods and nodes kept running.
  const network = existsSync(`/run/netns/${netnsNames.underlay(c.name)}`);
  if (existsSync(paths.upDone) && (network || daemonRunning(paths, 'apiserver'))) {
    const running = JSON.parse(readFileSync(paths.cluster, 'utf8')) as Cluster;
    if (!daemonRunning(paths, 'apiserver')) {
      print(`lab ${c.name}: the API server is not running; restarting it`);
      const d = startDaemon(paths, apiserverSpec(running));
      await waitForApiServer(paths, d, 60_000);
      await waitForInLabApiServer(running, paths, d, 20_000);
      print(`  restarted apiserver (it was not running)`);
    }
    print(`lab ${c.name} is already running`);
    const url = readFileSync(paths.apiserverUrl, 'utf8').trim();
    for (const spec of daemonSpecs(running, url)) {
      if (daemonRunning(paths, spec.name) || !entryExists(spec.entry)) continue;
      startDaemon(paths, spec);
      print(`  restarted ${spec.name} (it was not running)`);
    }
    printSummary(print, running, paths);
    return 0;
  }
  const leftovers = (await netnsList()).filter((n) => n.startsWith(`${c.name}-`));
  if (existsSync(paths.dir) || leftovers.length > 0) {
    throw new AmbitError(
      'LAB_LEFTOVERS',
      `lab ${c.name} is half-built or stopped: an earlier up did not finish or it was stopped`,
      {
        value: leftovers.length > 0 ? leftovers.join(' ') : paths.dir,
        hint: `run \`ambit lab down --name ${c.name}\` first`,
      },
    );
  }

  const daemons: Daemon[] = [];
  let client: KubeClient | undefined;
  let userUrl = '';
  const startOptional = (spec: NamedSpec): string | undefined => {
    if (!entryExists(spec.entry)) return notBuilt(spec.entry);
    daemons.push(startDaemon(paths, spec));
    return undefined;
  };
  const steps: Step[] = [
    {
      title: `creating state directory ${paths.dir}`,
      fn: () => {
        for (const d of [paths.dir, paths.logs, paths.pids, paths.pods, paths.nodes])
          mkdirSync(d, { recursive: true });
        writeFileSync(paths.cluster, JSON.stringify(c, null, 2) + '\n');
      },
    },
    {
      title: `creating underlay ${netnsNames.underlay(c.name)} (br0 ${c.underlay.gateway})`,
      fn: () => createUnderlay(c, paths.created),
    },
    ...c.nodes.map((n, i) => ({
      title: `creating node ${n.name} (${netnsNames.node(c.name, n.name)}, ${n.ip}, pods ${n.podCIDR})`,
      fn: () => createNode(c, n, i, paths.created),
    })),
    {
      title: 'starting apiserver',
      fn: async () => {
        const d = startDaemon(paths, apiserverSpec(c));
        daemons.push(d);
        userUrl = await waitForApiServer(paths, d, 60_000);
        await waitForInLabApiServer(c, paths, d, 20_000);
        client = KubeClient.fromKubeconfig(paths.kubeconfig);
      },
    },
    {
      title: 'registering Node objects',
      fn: async () => {
        for (const n of c.nodes) await registerNode(client!, n);
      },
    },
    {
      title: 'starting controller-manager',
      fn: () =>
        startOptional(daemonSpecs(c, userUrl).find((d) => d.name === 'controller-manager')!),
    },
    ...c.nodes.map((n) => ({
      title: `starting kubelet and kube-proxy on ${n.name}`,
      fn: () => {
        const specs = daemonSpecs(c, userUrl);
        const notes = [`kubelet-${n.name}`, `kube-proxy-${n.name}`].map((name) =>
          startOptional(specs.find((d) => d.name === name)!),
        );
        return notes.find((x) => x !== undefined);
      },
    })),
    {
      title: 'applying base manifests (cluster DNS)',
      fn: async () => {
        const f = manifest('base.yaml');
        if (!f) return notBuilt('manifests/base.yaml');
        await applyObjects(client!, adaptBase(parseManifests(readFileSync(f, 'utf8'), f), c));
        return undefined;
      },
    },
  ];
  if (opts.scenario) {
    steps.push({
      title: 'applying the seeds scenario (sleep, httpbin)',
      fn: async () => {
        const f = manifest('scenario.yaml');
        if (!f) return notBuilt('manifests/scenario.yaml');
        const need = ['worker', 'worker2'].filter((n) => !c.nodes.some((x) => x.name === n));
        if (need.length > 0) return `skipped: the scenario needs nodes named ${need.join(' and ')}`;
        await applyFile(client!, f);
        return undefined;
      },
    });
  }
  steps.push({
    title: 'waiting for all pods to be ready',
    fn: async () => {
      await waitForPods(client!, opts.timeoutMs, () => daemons.forEach(checkAlive), print);
    },
  });

  for (const [i, step] of steps.entries()) {
    const t0 = Date.now();
    const prefix = `[${i + 1}/${steps.length}] ${step.title}`;
    let note: string | void;
    try {
      note = await step.fn();
    } catch (err) {
      print(`${prefix} … FAILED`);
      print(`lab up failed: ${errorMessage(err)}`);
      for (const d of daemons.filter((x) => !alive(x.pid))) {
        print(`  ${d.name} exited; the end of ${d.log}:`);
        for (const l of tail(d.log, 5)) print(`    ${l}`);
      }
      print(`  logs:     ${paths.logs}/`);
      print(`  clean up: ambit lab down --name ${c.name}`);
      return 1;
    }
    print(`${prefix} … ${note ?? `${((Date.now() - t0) / 1000).toFixed(1)}s`}`);
  }
  writeFileSync(paths.upDone, new Date().toISOString() + '\n');
  print(`lab ${c.name} is up`);
  printSummary(print, c, paths);
  return 0;
}

type NamedSpec = DaemonSpec & { entry: string };

function apiserverSpec(c: Cluster): DaemonSpec {
  return { name: 'apiserver', args: ['lab', 'apiserver', '--lab', c.name], env: labEnv(c, '') };
}

/** The daemons besides the apiserver: controller-manager, and per node kubelet + kube-proxy. */
export function daemonSpecs(c: Cluster, userUrl: string): NamedSpec[] {
  const specs: NamedSpec[] = [
    {
      name: 'controller-manager',
      entry: 'controllers/main',
      args: ['lab', 'controller-manager', '--lab', c.name],
      env: {
        ...labEnv(c, userUrl),
        AMBIT_KUBECONFIG: daemonKubeconfig(labPaths(c.name).dir, 'controller-manager'),
      },
    },
  ];
  for (const n of c.nodes) {
    const netns = netnsNames.node(c.name, n.name);
    // Each daemon authenticates as itself (its kubeconfig, written by the API server).
    const env = (name: string): NodeJS.ProcessEnv => ({
      ...labEnv(c, inLabServer(c)),
      AMBIT_KUBECONFIG: daemonKubeconfig(labPaths(c.name).dir, name),
    });
    specs.push(
      {
        name: `kubelet-${n.name}`,
        entry: 'kubelet/main',
        args: ['lab', 'kubelet', '--lab', c.name, '--node', n.name],
        netns,
        env: env(`kubelet-${n.name}`),
      },
      {
        name: `kube-proxy-${n.name}`,
        entry: 'kubeproxy/main',
        args: ['lab', 'kube-proxy', '--lab', c.name, '--node', n.name],
        netns,
        env: env(`kube-proxy-${n.name}`),
      },
    );
  }
  return specs;
}

function tail(file: string, n: number): string[] {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n);
  } catch {
    return [];
  }
}

function manifest(name: string): string | undefined {
  const src = join(repoRoot(), 'src', 'lab', 'manifests', name);
  return existsSync(src) ? src : undefined;
}

/** A piece another component provides is not in this checkout yet: say so, go on without it. */
function notBuilt(rel: string): string {
  return `skipped: src/lab/${rel} is not in this checkout`;
}

export function printSummary(print: (l: string) => void, c: Cluster, paths: LabPaths): void {
  const dash = c.name === 'ambit' ? '' : ` --name ${c.name}`;
  print(`  kubeconfig: ${paths.kubeconfig}`);
  print(`  kubectl:    kubectl --kubeconfig ${paths.kubeconfig} get pods -A -o wide`);
  const ambit = cliCommand();
  print(`  status:     ${ambit} lab status${dash}`);
  print(`  exec:       ${ambit} lab exec${dash} <pod> -- curl -s http://httpbin:8000/get`);
  print(`  down:       ${ambit} lab down${dash}`);
}
