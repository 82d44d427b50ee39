/**
 * The profiling aid (`--profile mesh:<workload>`): restarts the client- and server-side
 * ztunnel pods as `node --cpu-prof <repo>/bin/ambit ztunnel` (Node 20 refuses --cpu-prof in
 * NODE_OPTIONS, so it goes on the container's command line), runs one workload through them, stops them
 * gracefully (SIGTERM → drain → exit, which is when V8 writes the .cpuprofile), writes a
 * hot-spot summary, and puts plain ztunnels back.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError } from '../src/errors.js';
import type { KubeClient } from '../src/k8s/client.js';
import { resources } from '../src/k8s/resources.js';
import type { KubeObject, Pod } from '../src/k8s/types.js';
import { repoRoot } from '../src/lab/cluster/paths.js';
import { MESH_NAMESPACE } from '../src/lab/mesh/install.js';
import { applyObjects } from '../src/lab/orchestrator/manifests.js';
import { podReady } from '../src/lab/orchestrator/wait.js';
import {
  profileMarkdown,
  summarizeProfile,
  wallWindow,
  type CpuProfile,
} from './profile-summary.js';

export interface ProfileRequest {
  mode: string;
  workload: string;
}

/** Parses `<mode>:<workload>`; only the mesh mode has ztunnels on its path. */
export function parseProfileArg(v: string, workloads: string[]): ProfileRequest {
  const [mode, workload, ...rest] = v.split(':');
  if (mode !== 'mesh' || !workload || rest.length > 0 || !workloads.includes(workload)) {
    throw new AmbitError('BENCH_BAD_PROFILE', `--profile ${JSON.stringify(v)} is not valid`, {
      value: v,
      hint: `use mesh:<workload> with a workload of ${workloads.join(', ')} (ztunnel is only on the mesh path)`,
    });
  }
  return { mode, workload };
}

const podName = (node: string) => `ztunnel-${node}`;

async function waitFor(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ok().catch(() => false)) return;
    await sleep(250);
  }
  throw new AmbitError('BENCH_PROFILE_TIMEOUT', `timed out waiting for ${what}`, {
    value: what,
    hint: 'see the ztunnel pod logs under the lab state dir (pods/istio-system_ztunnel-*)',
  });
}

async function ztunnels(client: KubeClient): Promise<Pod[]> {
  return (await client.list<Pod>(resources.pods, { namespace: MESH_NAMESPACE })).items.filter((p) =>
    p.metadata.name.startsWith('ztunnel-'),
  );
}

/**
 * The pod `cur` again, as the installer made it (name, labels, annotations such as the pinned
 * IP, spec), without what the API and kubelet added, its container running `command`
 * (`undefined`: the image's built-in command).
 */
export function respawnSpec(cur: Pod, command: string[] | undefined): Pod {
  const { name, namespace, labels, annotations } = cur.metadata;
  const keep = Object.fromEntries(
    Object.entries(annotations ?? {}).filter(
      ([k]) => !k.startsWith('lab.ambit.dev/') || k === 'lab.ambit.dev/ip',
    ),
  );
  const spec = structuredClone(cur.spec) as NonNullable<Pod['spec']>;
  // A profiled ztunnel writes its profile as it exits, after draining: give it time to, so
  // the kubelet's SIGKILL at the end of the grace period does not lose the profile. 10 s is
  // the installer's (src/lab/mesh/install.ts).
  spec.terminationGracePeriodSeconds = command ? 60 : 10;
  for (const c of spec.containers) {
    if (command) c.command = command;
    else delete c.command;
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels, annotations: keep },
    spec,
  };
}

/** ztunnel under V8's sampling profiler, writing into `dir` when it exits. */
export function profiledCommand(dir: string): string[] {
  return [
    process.execPath,
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    join(repoRoot(), 'bin', 'ambit'),
    'ztunnel',
  ];
}

/** Deletes the nodes' ztunnel pods (graceful) and creates them again running `command`. */
export async function replaceZtunnels(
  client: KubeClient,
  nodes: string[],
  command: (node: string) => string[] | undefined,
): Promise<void> {
  const before = await ztunnels(client);
  const specs: Pod[] = [];
  for (const n of nodes) {
    const cur = before.find((p) => p.metadata.name === podName(n));
    if (!cur) {
      throw new AmbitError('BENCH_NO_ZTUNNEL', `no pod ${podName(n)} in ${MESH_NAMESPACE}`, {
        value: podName(n),
        hint: 'the mesh must be installed (installMesh) before profiling',
      });
    }
    specs.push(respawnSpec(cur, command(n)));
  }
  for (const n of nodes) await client.delete(resources.pods, podName(n), MESH_NAMESPACE);
  await waitFor('the old ztunnel pods to go', 60_000, async () => {
    const names = (await ztunnels(client)).map((p) => p.metadata.name);
    return nodes.every((n) => !names.includes(podName(n)));
  });
  await applyObjects(client, specs as KubeObject[]);
  await waitFor('the new ztunnel pods to be ready', 60_000, async () => {
    const pods = await ztunnels(client);
    return nodes.every((n) => pods.some((p) => p.metadata.name === podName(n) && podReady(p)));
  });
}

export interface ProfileOutcome {
  metrics: Record<string, number>;
  /** Markdown: one hot-spot section per ztunnel. */
  markdown: string;
  files: string[];
}

/**
 * Runs `workload` once with profiled ztunnels on `nodes`. `probe` must succeed before the
 * workload runs (the restarted ztunnels take over the pods' traffic asynchronously).
 */
export async function profileZtunnels(
  client: KubeClient,
  opts: {
    nodes: string[];
    dir: string;
    label: string;
    probe: () => Promise<boolean>;
    run: () => Promise<Record<string, number>>;
    log: (line: string) => void;
  },
): Promise<ProfileOutcome> {
  rmSync(opts.dir, { recursive: true, force: true });
  const dirOf = (n: string) => join(opts.dir, n);
  for (const n of opts.nodes) mkdirSync(dirOf(n), { recursive: true });
  opts.log(`profile: restarting ${opts.nodes.map(podName).join(', ')} under --cpu-prof`);
  await replaceZtunnels(client, opts.nodes, (n) => profiledCommand(dirOf(n)));
  let metrics: Record<string, number> = {};
  let from = 0;
  let to = 0;
  try {
    await waitFor('traffic through the restarted ztunnels', 60_000, opts.probe);
    opts.log(`profile: running ${opts.label}`);
    from = Date.now();
    metrics = await opts.run();
    to = Date.now();
    // Let the workload's connections close, so the drain does not wait for them.
    await sleep(1000);
  } finally {
    // Deleting the pods SIGTERMs the ztunnels: they drain and exit, and V8 writes the profiles.
    opts.log('profile: stopping the profiled ztunnels; starting plain ones');
    await replaceZtunnels(client, opts.nodes, () => undefined);
  }
  const sections: string[] = [];
  const files: string[] = [];
  for (const n of opts.nodes) {
    const found = existsSync(dirOf(n))
      ? readdirSync(dirOf(n)).filter((f) => f.endsWith('.cpuprofile'))
      : [];
    if (found.length === 0) {
      sections.push(`### ${podName(n)}\n\nno .cpuprofile written (did it exit by SIGKILL?)\n`);
      continue;
    }
    for (const f of found) {
      const file = join(dirOf(n), f);
      files.push(file);
      const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
      // Only the workload's span: startup (module loading, xDS) and drain are not its cost.
      const window = wallWindow(profile, statSync(file).mtimeMs, from, to);
      const s = summarizeProfile(profile, { root: join(repoRoot(), 'dist'), top: 20, window });
      sections.push(profileMarkdown(`${podName(n)} (${f})`, s));
    }
  }
  await waitFor('traffic through the plain ztunnels', 60_000, opts.probe);
  const md = [`## Profile: ${opts.label}`, '', ...sections].join('\n');
  return { metrics, markdown: md, files };
}
