/**
 * How a lab daemon or tool finds the API server: AMBIT_KUBECONFIG (a lab daemon's own
 * kubeconfig), else AMBIT_KUBE_SERVER (+ token and CA files), else the lab's cluster-admin
 * `<state>/kubeconfig` (only reachable from the root netns). `--server` replaces the address
 * and keeps the lab's credentials.
 */
import { existsSync } from 'node:fs';
import { AmbitError } from '../../errors.js';
import { KubeClient } from '../../k8s/client.js';
import { readKubeconfig } from '../../k8s/kubeconfig.js';
import { labPaths } from '../cluster/paths.js';
import { labOrDefault } from '../conventions.js';

/** The lab's cluster-admin client (its kubeconfig), with `server` in place of its address. */
export function labAdminClient(lab: string | undefined, server?: string): KubeClient {
  const file = labPaths(labOrDefault(lab)).kubeconfig;
  if (!existsSync(file))
    throw new AmbitError('LAB_NO_APISERVER', `the lab has no kubeconfig`, {
      value: file,
      hint: 'is the lab up? (ambit lab up), or pass --server',
    });
  const creds = readKubeconfig(file);
  return new KubeClient({ ...creds, server: server ?? creds.server });
}

export function labClient(server: string | undefined, lab: string | undefined): KubeClient {
  if (process.env.AMBIT_KUBECONFIG && !server) return KubeClient.fromEnv();
  if (server) {
    if (lab && existsSync(labPaths(lab).kubeconfig)) return labAdminClient(lab, server);
    return new KubeClient({ server });
  }
  if (process.env.AMBIT_KUBE_SERVER) return KubeClient.fromEnv();
  if (lab) return labAdminClient(lab);
  return KubeClient.fromEnv();
}
