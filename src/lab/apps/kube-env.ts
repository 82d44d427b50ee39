/**
 * How a lab daemon finds the API server: `--server`, else AMBIT_KUBE_SERVER (+ token file),
 * else the lab's `<state>/apiserver.url` (only reachable from the root netns).
 */
import { readFileSync } from 'node:fs';
import { AmbitError } from '../../errors.js';
import { KubeClient } from '../../k8s/client.js';
import { labPaths } from '../cluster/paths.js';

export function labClient(server: string | undefined, lab: string | undefined): KubeClient {
  if (server) return new KubeClient({ server });
  if (process.env.AMBIT_KUBE_SERVER) return KubeClient.fromEnv();
  if (lab) {
    const file = labPaths(lab).apiserverUrl;
    try {
      return new KubeClient({ server: readFileSync(file, 'utf8').trim() });
    } catch (err) {
      throw new AmbitError('LAB_NO_APISERVER', `cannot read the lab's API server URL`, {
        value: file,
        hint: 'is the lab up? (ambit lab up), or pass --server',
        cause: err,
      });
    }
  }
  return KubeClient.fromEnv();
}
