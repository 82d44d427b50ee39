/** Where a node's agent keeps its CNI config, plugin socket and backend state. */
import { join } from 'node:path';

export interface AgentPaths {
  dir: string;
  cniDir: string;
  socket: string;
  stateFile: string;
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
  };
}

/** The node's netns in a lab (`<lab>-<node>`, the lab conventions). */
export const nodeNetns = (lab: string, node: string): string => `${lab}-${node}`;
