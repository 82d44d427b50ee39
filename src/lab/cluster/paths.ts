/** Where a lab keeps its state, and where this checkout of ambit lives. */
import { join } from 'node:path';
import { repoRoot } from '../../repo.js';

/** Where all of ambit's state lives: `${AMBIT_STATE_DIR:-/var/lib/ambit}`. */
export function stateBase(env: NodeJS.ProcessEnv = process.env): string {
  return env.AMBIT_STATE_DIR ?? '/var/lib/ambit';
}

/** The labs' state: `<stateBase>/labs`, one directory per lab (`labPaths`). */
export function stateRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateBase(env), 'labs');
}

export interface LabPaths {
  dir: string;
  cluster: string;
  logs: string;
  pids: string;
  pods: string;
  nodes: string;
  apiserverUrl: string;
  kubeconfig: string;
  /** The cluster CA, certificates and the lab daemons' kubeconfigs (hidden from pods). */
  pki: string;
  created: string;
  /** Written when `up` finished; a running apiserver without it means a half-built lab. */
  upDone: string;
}

export function labPaths(name: string, env: NodeJS.ProcessEnv = process.env): LabPaths {
  const dir = join(stateRoot(env), name);
  return {
    dir,
    cluster: join(dir, 'cluster.json'),
    logs: join(dir, 'logs'),
    pids: join(dir, 'pids'),
    pods: join(dir, 'pods'),
    nodes: join(dir, 'nodes'),
    apiserverUrl: join(dir, 'apiserver.url'),
    kubeconfig: join(dir, 'kubeconfig'),
    pki: join(dir, 'pki'),
    created: join(dir, 'created.jsonl'),
    upDone: join(dir, 'up.done'),
  };
}

export { repoRoot };

/** The argv prefix that runs this checkout's `ambit` CLI. */
export function ambitArgv(): string[] {
  return [process.execPath, join(repoRoot(), 'bin', 'ambit')];
}

/**
 * The unix socket a node's kubelet serves logs, exec and port-forward on (the lab's stand-in
 * for the kubelet's :10250; a socket under the state dir, which pods do not see).
 */
export function kubeletSocket(labDir: string, node: string): string {
  return join(labDir, 'kubelet', `${node}.sock`);
}

/** The kubeconfig of lab daemon `name` (controller-manager, kubelet-<node>, kube-proxy-<node>). */
export function daemonKubeconfig(labDir: string, name: string): string {
  return join(labDir, 'pki', `${name}.kubeconfig`);
}
