/** Node objects for the lab's nodes, as a kubelet would register them. */
import { release } from 'node:os';
import { KubeApiError, type KubeClient } from '../../k8s/client.js';
import { resources } from '../../k8s/resources.js';
import type { Node } from '../../k8s/types.js';
import type { ClusterNode } from '../cluster/cluster.js';

export function nodeObject(n: ClusterNode): Node {
  const labels: Record<string, string> = {
    'kubernetes.io/hostname': n.name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch,
  };
  if (n.role === 'control-plane') labels['node-role.kubernetes.io/control-plane'] = '';
  const spec: Record<string, unknown> = { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] };
  if (n.role === 'control-plane') {
    spec.taints = [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }];
  }
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: n.name, labels },
    spec,
    status: nodeStatus(n),
  };
}

export function nodeStatus(n: ClusterNode): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    addresses: [
      { type: 'InternalIP', address: n.ip },
      { type: 'Hostname', address: n.name },
    ],
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'KubeletReady',
        message: 'ambit lab kubelet is posting ready status',
        lastHeartbeatTime: now,
        lastTransitionTime: now,
      },
    ],
    nodeInfo: {
      kubeletVersion: 'v1.30.0-ambit',
      kubeProxyVersion: 'v1.30.0-ambit',
      osImage: 'ambit lab (network namespaces)',
      kernelVersion: release(),
      containerRuntimeVersion: 'ambit://process',
      operatingSystem: 'linux',
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    },
  };
}

/** Creates (or refreshes) the Node object and its status. */
export async function registerNode(client: KubeClient, n: ClusterNode): Promise<void> {
  const obj = nodeObject(n);
  try {
    await client.create(resources.nodes, obj);
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 409)) throw err;
  }
  // Status set on create may be dropped (as Kubernetes does), so write it through /status.
  await client.patch(resources.nodes, n.name, { status: nodeStatus(n) }, { subresource: 'status' });
}
