/**
 * `ambit x`: experimental/debug views of the control plane.
 *   config-dump --node N   what the control plane sends to node N's ztunnel (computed from the API)
 *   ztunnels               connected ztunnels and their last ACKed versions (from istiod's :15014)
 */
import { AmbitError } from '../errors.js';
import { parseFlags } from '../flags.js';
import { resources } from '../k8s/resources.js';
import {
  computeConfigDump,
  fetchConnections,
  formatConnections,
  labKubeClient,
} from './inspect.js';

export const USAGE = `usage: ambit x <command>
  config-dump [--lab N] [--server URL] --node NODE   workloads (seed-004 JSON), services, policies for NODE
  ztunnels [--lab N] [--server URL] [--json]         connected ztunnels: node, ACKed version, nonce, NACKs`;

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || sub === '-h' || sub === '--help') {
    console.log(USAGE);
    return sub ? 0 : 2;
  }
  const f = parseFlags(rest, ['json']);
  const kube = labKubeClient(f.get('lab'), f.get('server'));
  switch (sub) {
    case 'config-dump': {
      const node = f.get('node');
      if (!node)
        throw new AmbitError('CLI_MISSING_VALUE', 'config-dump needs --node', {
          hint: 'e.g. ambit x config-dump --node worker2',
        });
      // Every ztunnel gets every workload (Istio's ztunnel does), so a typo'd node would
      // still print a plausible dump: ask the API whether the node exists (or has pods) first.
      const known =
        (await kube.tryGet(resources.nodes, node)) ??
        (await kube.list(resources.pods, { fieldSelector: `spec.nodeName=${node}` })).items[0];
      if (!known)
        throw new AmbitError('X_NO_NODE', `no node ${node} in the cluster`, {
          value: node,
          hint: 'list them with `kubectl get nodes`',
        });
      console.log(JSON.stringify(await computeConfigDump(kube, node), null, 2));
      return 0;
    }
    case 'ztunnels': {
      const conns = await fetchConnections(kube);
      console.log(f.has('json') ? JSON.stringify(conns, null, 2) : formatConnections(conns));
      return 0;
    }
    default:
      console.error(`ambit x: unknown command ${JSON.stringify(sub)}\n${USAGE}`);
      return 2;
  }
}
