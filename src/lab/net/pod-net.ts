/**
 * One pod's network, ptp style as in the seeds: netns `<N>-p<8 hex>`, eth0 with `<podIP>/32`,
 * a link route to the gateway and default via it; on the node, `veth<8 hex>` carrying the
 * gateway `10.244.N.1/32` and a host route `<podIP> dev veth… scope host`; and the pod's
 * /etc/resolv.conf through `/etc/netns/<podns>/resolv.conf` (which `ip netns exec` mounts).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import {
  addrAdd,
  linkDelete,
  linkUp,
  netnsAdd,
  netnsDelete,
  netnsExists,
  routeReplace,
  vethAdd,
} from '../../sys/ip.js';

export interface PodNet {
  nodeNetns: string;
  podNetns: string;
  hostVeth: string;
  podIP: string;
  gateway: string;
  podCIDR: string;
  /** Kubernetes namespace, for the DNS search path. */
  namespace: string;
  dnsIP: string;
}

/** Host-side veth name for a pod: `veth` + 8 hex derived from its uid. */
export function hostVethName(uid: string): string {
  return 'veth' + createHash('sha256').update(uid).digest('hex').slice(0, 8);
}

export function etcNetnsDir(podNetns: string): string {
  return `/etc/netns/${podNetns}`;
}

export function resolvConf(namespace: string, dnsIP: string): string {
  return (
    `nameserver ${dnsIP}\n` +
    `search ${namespace}.svc.cluster.local svc.cluster.local cluster.local\n` +
    `options ndots:5\n`
  );
}

export async function createPodNet(p: PodNet): Promise<void> {
  if (netnsExists(p.podNetns)) await destroyPodNet(p); // a leftover of a crashed kubelet
  await netnsAdd(p.podNetns);
  await vethAdd(p.nodeNetns, p.hostVeth, p.podNetns, 'eth0');
  await addrAdd(p.podNetns, 'eth0', `${p.podIP}/32`);
  await linkUp(p.podNetns, 'eth0');
  await routeReplace(p.podNetns, 'main', [p.gateway, 'dev', 'eth0', 'scope', 'link']);
  await routeReplace(p.podNetns, 'main', [
    p.podCIDR,
    'via',
    p.gateway,
    'dev',
    'eth0',
    'src',
    p.podIP,
  ]);
  await routeReplace(p.podNetns, 'main', ['default', 'via', p.gateway, 'dev', 'eth0']);
  await addrAdd(p.nodeNetns, p.hostVeth, `${p.gateway}/32`);
  await linkUp(p.nodeNetns, p.hostVeth);
  await routeReplace(p.nodeNetns, 'main', [p.podIP, 'dev', p.hostVeth, 'scope', 'host']);
  const etc = etcNetnsDir(p.podNetns);
  mkdirSync(etc, { recursive: true });
  writeFileSync(`${etc}/resolv.conf`, resolvConf(p.namespace, p.dnsIP));
}

/** Removes everything createPodNet made; safe to call on a partial or missing network. */
export async function destroyPodNet(
  p: Pick<PodNet, 'nodeNetns' | 'podNetns' | 'hostVeth'>,
): Promise<void> {
  // Deleting the veth takes its host route with it; deleting the netns would too, but only
  // once no process holds the namespace, so delete the link explicitly.
  await linkDelete(p.nodeNetns, p.hostVeth);
  await netnsDelete(p.podNetns);
  rmSync(etcNetnsDir(p.podNetns), { recursive: true, force: true });
}
