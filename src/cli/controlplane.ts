/** `ambit controlplane`: the control plane (istiod): delta xDS and CA. */
import { join } from 'node:path';
import { run as runControlPlane } from '../controlplane/main.js';
import { labPaths } from '../lab/cluster/paths.js';
import { labOrDefault } from '../lab/conventions.js';

export function run(args: string[]): Promise<number> {
  // In a lab the CA's state lives with the lab (`<state>/labs/<lab>/controlplane`).
  return runControlPlane(args, {
    stateDir: (lab) => join(labPaths(labOrDefault(lab)).dir, 'controlplane'),
  });
}
