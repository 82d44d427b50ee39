/**
 * A real lab with the mesh installed, for the netns security and fault suites: `ambit lab up`,
 * the mesh as `ambit demo` installs it, the default namespace enrolled. Pods by name, their
 * network namespaces, kubectl, curl from a pod, and each ztunnel's process and admin
 * endpoints (the connection table, the HBONE pool, certificates, open fds).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient } from '../../src/k8s/client.js';
import { resources } from '../../src/k8s/resources.js';
import type { Pod } from '../../src/k8s/types.js';
import { installMesh, setAmbient } from '../../src/lab/mesh/install.js';
import { run } from '../../src/sys/exec.js';
import { repoRoot } from '../../src/repo.js';

export const STATE = process.env.AMBIT_STATE_DIR ?? '/var/lib/ambit';
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PodJson {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}

export const ready = (p: PodJson) =>
  p.status?.phase === 'Running' &&
  (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

export const findPod = (all: PodJson[], n: string) =>
  all.find((x) => x.metadata.name === n || x.metadata.name.startsWith(`${n}-`));

/** Waits for `check`, polling; fails with `what` after `ms`. */
export async function eventually(
  what: string,
  check: () => Promise<boolean>,
  ms = 30_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(500);
  }
  throw new Error(`${what} did not happen within ${ms} ms`);
}

/** The ztunnel admin's view (GET /config_dump on 127.0.0.1:15000 in its netns). */
export interface ZtunnelDump {
  workloads: Record<string, { name: string; serviceAccount?: string; uid?: string }>;
  connections: { direction: string; dst: string; dstIdentity?: string }[];
  hbonePool: { connections: number; byKey: Record<string, { connections: number }> };
  certificates: { identity: string; serial?: string; state: string }[];
}

export class MeshLab {
  readonly kubeconfig: string;
  constructor(readonly name: string) {
    this.kubeconfig = join(STATE, 'labs', name, 'kubeconfig');
  }

  ambit(args: string[], timeoutMs = 120_000) {
    return run(join(repoRoot(), 'bin', 'ambit'), args, { allowFail: true, timeoutMs });
  }

  kubectl(args: string[], input?: string) {
    return run('kubectl', ['--kubeconfig', this.kubeconfig, ...args], {
      input,
      allowFail: true,
      timeoutMs: 60_000,
    });
  }

  async up(): Promise<void> {
    const up = await this.ambit(['lab', 'up', '--name', this.name], 300_000);
    if (up.code !== 0) throw new Error(`lab up: ${up.stdout}\n${up.stderr}`);
    const kube = KubeClient.fromKubeconfig(this.kubeconfig);
    // Bare per-node pods: a suite may replace a node's ztunnel by a hand-edited one (a DaemonSet
    // would undo that at once).
    await installMesh(kube, { timeoutMs: 180_000, mode: 'pods', lab: this.name });
    await setAmbient(kube, 'default', true);
  }

  async down(): Promise<void> {
    const down = await this.ambit(['lab', 'down', '--name', this.name], 180_000);
    if (down.code !== 0) throw new Error(`lab down: ${down.stdout}\n${down.stderr}`);
  }

  /**
   * Every pod, listed in-process (what `kubectl get pods -A -o json` shows): polls and every
   * curl look pods up, and a kubectl start per lookup cost more CPU than the request itself.
   */
  async pods(): Promise<PodJson[]> {
    try {
      const list = await KubeClient.fromKubeconfig(this.kubeconfig).list<Pod>(resources.pods);
      return list.items as PodJson[];
    } catch {
      return [];
    }
  }

  async pod(name: string): Promise<PodJson> {
    const p = findPod(await this.pods(), name);
    if (!p) throw new Error(`no pod ${name}`);
    return p;
  }

  async waitPods(names: string[], ms = 120_000): Promise<void> {
    let last: PodJson[] = [];
    await eventually(
      `pods ready: ${names.join(',')}`,
      async () => {
        last = await this.pods();
        return names.every((n) => {
          const p = findPod(last, n);
          return p !== undefined && ready(p);
        });
      },
      ms,
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}; have ${last.map((p) => `${p.metadata.name}:${p.status?.phase}`).join(' ')}`,
      );
    });
  }

  async netns(pod: string): Promise<string> {
    const ns = (await this.pod(pod)).metadata.annotations?.['lab.ambit.dev/netns'];
    if (!ns) throw new Error(`pod ${pod} has no netns yet`);
    return ns;
  }

  /** HTTP status of one curl from `pod`'s namespace ('000' = failed). */
  async curl(pod: string, url: string, maxTime = 5): Promise<string> {
    const r = await run(
      'curl',
      ['-s', '-o', '/dev/null', '-m', String(maxTime), '-w', '%{http_code}', url],
      {
        netns: await this.netns(pod),
        allowFail: true,
        timeoutMs: (maxTime + 5) * 1000,
      },
    );
    return r.stdout.trim() || '000';
  }

  /** A ztunnel's process id (the kubelet's pid file of its container). */
  ztunnelPid(p: PodJson): number {
    const dir = join(STATE, 'labs', this.name, 'pids');
    const f = readdirSync(dir).find(
      (n) => n === `pod-${p.metadata.uid.slice(0, 8)}-istio-proxy.pid`,
    );
    if (!f) throw new Error(`no pid file for ${p.metadata.name}`);
    return Number(readFileSync(join(dir, f), 'utf8').split('\n')[0]);
  }

  /** Every ztunnel pod of the lab. */
  async ztunnels(): Promise<PodJson[]> {
    return (await this.pods()).filter((p) => p.metadata.name.startsWith('ztunnel-'));
  }

  async admin(zt: PodJson, path: string, method = 'GET'): Promise<string> {
    const r = await run('curl', ['-s', '-m', '5', '-X', method, `http://127.0.0.1:15000${path}`], {
      netns: zt.metadata.annotations!['lab.ambit.dev/netns']!,
      allowFail: true,
      timeoutMs: 10_000,
    });
    return r.stdout;
  }

  async dump(zt: PodJson): Promise<ZtunnelDump> {
    return JSON.parse(await this.admin(zt, '/config_dump')) as ZtunnelDump;
  }

  log(pod: PodJson, container: string): string {
    const dir = join(
      STATE,
      'labs',
      this.name,
      'pods',
      `${pod.metadata.namespace}_${pod.metadata.name}`,
    );
    return readFileSync(join(dir, `${container}.log`), 'utf8');
  }

  /** Open file descriptors of a process. */
  static fds(pid: number): number {
    return readdirSync(`/proc/${pid}/fd`).length;
  }
}
