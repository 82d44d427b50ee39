/**
 * One lab for a GAMMA / waypoint netns test file: `ambit lab up --no-scenario`, the mesh, the
 * conformance base manifests (gamma-manifests.ts), and a namespace waypoint named `namespace`
 * in gateway-conformance-mesh made with `ambit waypoint apply --enroll-namespace --wait`, as
 * Istio's ambient conformance run does (docs/istio/gamma-conformance.md §1). Commands inside a
 * pod run in the pod's network namespace as `ambit lab exec` runs them (pod-exec.ts).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from '../../src/k8s/client.js';
import { resources } from '../../src/k8s/resources.js';
import type { Pod } from '../../src/k8s/types.js';
import { installMesh } from '../../src/lab/mesh/install.js';
import { repoRoot } from '../../src/repo.js';
import { run, type RunResult } from '../../src/sys/exec.js';
import { baseManifests, CONSUMER_NS, MESH_NS } from './gamma-manifests.js';
import { podExec } from './pod-exec.js';
import { labName } from './root.js';

const ambitBin = join(repoRoot(), 'bin', 'ambit');
const env = { ...process.env, ...(import.meta.url.endsWith('.ts') ? { AMBIT_TSX: '1' } : {}) };
const stateDir = (lab: string) =>
  join(process.env.AMBIT_STATE_DIR ?? '/var/lib/ambit', 'labs', lab);

export interface GammaLab {
  name: string;
  ambit(args: string[], timeoutMs?: number): Promise<RunResult>;
  kubectl(args: string[], input?: string): Promise<RunResult>;
  /** Runs `sh -c script` in the pod's network namespace. */
  sh(ns: string, pod: string, script: string, timeoutMs?: number): Promise<RunResult>;
  /** Names of the pods matching a label selector (sorted). */
  pods(ns: string, selector: string): Promise<string[]>;
  podIP(ns: string, pod: string): Promise<string>;
  down(): Promise<void>;
}

export function gammaLab(tag: string): GammaLab {
  const name = labName(tag);
  const ambit = (args: string[], timeoutMs = 300_000) =>
    run(ambitBin, args, { allowFail: true, timeoutMs, env });
  const kubectl = (args: string[], input?: string) =>
    run('kubectl', ['--kubeconfig', join(stateDir(name), 'kubeconfig'), ...args], {
      allowFail: true,
      timeoutMs: 60_000,
      input,
    });
  const kube = () => KubeClient.fromKubeconfig(join(stateDir(name), 'kubeconfig'));
  const lab: GammaLab = {
    name,
    ambit,
    kubectl,
    sh: (ns, pod, script, timeoutMs = 120_000) =>
      podExec(name, ns, pod, ['sh', '-c', script], { timeoutMs, env }),
    // In-process (what kubectl get shows): tests poll these while waiting for pods.
    async pods(ns, selector) {
      const list = await kube()
        .list<Pod>(resources.pods, { namespace: ns, labelSelector: selector })
        .catch(() => ({ items: [] as Pod[] }));
      return list.items.map((p) => p.metadata.name).sort();
    },
    async podIP(ns, pod) {
      const p = await kube()
        .tryGet<Pod>(resources.pods, pod, ns)
        .catch(() => undefined);
      return p?.status?.podIP ?? '';
    },
    async down() {
      await ambit(['lab', 'down', '--name', name], 180_000);
    },
  };
  return lab;
}

function must(what: string, r: RunResult): string {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Polls until every pod of the namespaces is Ready and captured by the node agent. */
async function podsReady(client: KubeClient, namespaces: string[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    let ok = true;
    for (const ns of namespaces) {
      // In-process (not a kubectl per poll): the poll runs while the lab is busiest.
      const items = await client
        .list<Pod>(resources.pods, { namespace: ns })
        .then((l) => l.items)
        .catch(() => []);
      const ready = items.filter(
        (p) =>
          p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
          // The waypoint's own pods are never captured (istio.io/dataplane-mode: none).
          (p.metadata.labels?.['gateway.networking.k8s.io/gateway-name'] !== undefined ||
            p.metadata.annotations?.['ambient.istio.io/redirection'] === 'enabled'),
      );
      last = `${ns}: ${ready.length}/${items.length} ready and captured`;
      if (items.length === 0 || ready.length !== items.length) ok = false;
    }
    if (ok) return;
    await sleep(500);
  }
  throw new Error(`pods not ready within ${ms} ms (${last})`);
}

/** Lab, mesh, conformance namespaces and the namespace waypoint; throws with the output on failure. */
export async function gammaLabUp(lab: GammaLab, extra = ''): Promise<void> {
  must('lab up', await lab.ambit(['lab', 'up', '--name', lab.name, '--no-scenario'], 300_000));
  const client = KubeClient.fromKubeconfig(join(stateDir(lab.name), 'kubeconfig'));
  await installMesh(client, { timeoutMs: 120_000, lab: lab.name });
  must(
    'apply base manifests',
    await lab.kubectl(['apply', '-f', '-'], baseManifests + (extra ? `---\n${extra}` : '')),
  );
  must(
    'waypoint apply',
    await lab.ambit([
      'waypoint',
      'apply',
      '-n',
      MESH_NS,
      '--name',
      'namespace',
      '--enroll-namespace',
      '--wait',
      '--lab',
      lab.name,
    ]),
  );
  await podsReady(client, [MESH_NS, CONSUMER_NS], 180_000);
}
