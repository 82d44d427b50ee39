/**
 * A pod's own network, as a CNI runtime's sandbox gives it: an address from the node's IPAM
 * (pinned, the previous one, or the next free), a network namespace with a veth to the node,
 * the cluster DNS in its resolv.conf, and `/etc/hosts` naming the pod. Undone on any failure.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pod } from '../../k8s/types.js';
import { netnsNames } from '../cluster/cluster.js';
import { createPodNet, destroyPodNet, etcNetnsDir, hostVethName } from '../net/pod-net.js';
import type { KubeletContext } from './context.js';
import { IP_ANNOTATION } from './ipam.js';

export interface PodNet {
  netns: string;
  veth: string;
  ip: string;
}

/**
 * Allocates the pod's address and builds its network; `record` is told the names before they
 * exist, so a kubelet that dies half-way leaves a record its successor can clean up.
 */
export async function createPodNetwork(
  ctx: KubeletContext,
  pod: Pod,
  uid: string,
  record: (net: PodNet) => void,
): Promise<PodNet> {
  const ip = ctx.ipam.allocate(uid, {
    pinned: pod.metadata.annotations?.[IP_ANNOTATION],
    previous: pod.status?.podIP,
    taken: ctx.takenIps(uid),
  });
  const net: PodNet = { netns: netnsNames.pod(ctx.lab, uid), veth: hostVethName(uid), ip };
  record(net);
  try {
    await createPodNet({
      nodeNetns: ctx.nodeNetns,
      podNetns: net.netns,
      hostVeth: net.veth,
      podIP: ip,
      gateway: ctx.ipam.gateway(),
      podCIDR: ctx.node.podCIDR,
      namespace: pod.metadata.namespace ?? 'default',
      dnsIP: ctx.cluster.dnsIP,
    });
  } catch (err) {
    await destroyPodNet({
      nodeNetns: ctx.nodeNetns,
      podNetns: net.netns,
      hostVeth: net.veth,
    }).catch(() => undefined);
    ctx.ipam.release(uid);
    throw err;
  }
  return net;
}

/** `/etc/hosts` of the pod's namespace: localhost and the pod's own name at its address. */
export function writeHosts(net: PodNet, hostname: string): void {
  writeFileSync(
    join(etcNetnsDir(net.netns), 'hosts'),
    `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${net.ip}\t${hostname}\n`,
  );
}

export async function removePodNetwork(ctx: KubeletContext, net: PodNet): Promise<void> {
  await destroyPodNet({ nodeNetns: ctx.nodeNetns, podNetns: net.netns, hostVeth: net.veth });
}
