/** Where a node's agent keeps its CNI config, plugin socket and backend state. */
import { join } from 'node:path';

export interface AgentPaths {
  dir: string;
  cniDir: string;
  socket: string;
  /** The iptables backend's state (pre-install snapshot, last ztunnel, captured pods). */
  stateFile: string;
  /** The eBPF backend's state. */
  ebpfStateFile: string;
  /** The agent's record of pod networks from CNI ADD. */
  podRecordFile: string;
}

export function agentPaths(
  lab: string,
  node: string,
  env: NodeJS.ProcessEnv = process.env,
): AgentPaths {
  const dir = join(env.AMBIT_STATE_DIR ?? '/var/lib/ambit', 'labs', lab, 'nodes', node, 'cni');
  return {
    dir,
    cniDir: join(dir, 'net.d'),
    socket: join(dir, 'agent.sock'),
    stateFile: join(dir, 'iptables-state.json'),
    ebpfStateFile: join(dir, 'ebpf-state.json'),
    podRecordFile: join(dir, 'pods.json'),
  };
}

/** The node's netns in a lab (`<lab>-<node>`, the lab conventions). */
export const nodeNetns = (lab: string, node: string): string => `${lab}-${node}`;

/** The agent's log line once a node switched backends (the previous one removed, pods re-applied). */
export const BACKEND_SWITCHED = 'previous redirection backend removed';
