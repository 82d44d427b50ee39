/**
 * The lab's underlay and node namespaces: netns `<N>-underlay` holding bridge br0 with the
 * gateway address, and per node a netns `<N>-<node>` whose eth0 is a veth into br0, with
 * routes to every other node's pod CIDR via that node's underlay IP.
 */
import { netnsNames, type Cluster, type ClusterNode } from '../cluster/cluster.js';
import { parseCidr } from '../cluster/ipv4.js';
import {
  addrAdd,
  bridgeAdd,
  linkUp,
  netnsAdd,
  routeReplace,
  sysctlSet,
  vethAdd,
} from '../../sys/ip.js';
import { recordCreated } from './record.js';

export const BRIDGE = 'br0';

function prefixOf(cidr: string): number {
  return parseCidr(cidr)!.prefix;
}

export async function createUnderlay(c: Cluster, createdFile: string): Promise<void> {
  const ns = netnsNames.underlay(c.name);
  recordCreated(createdFile, { kind: 'netns', name: ns });
  await netnsAdd(ns);
  await bridgeAdd(ns, BRIDGE, `${c.underlay.gateway}/${prefixOf(c.underlay.cidr)}`);
}

/** The underlay-side end of node `index`'s link (interface names are limited to 15 chars). */
export function underlayPort(index: number): string {
  return `node${index}`;
}

export async function createNode(
  c: Cluster,
  node: ClusterNode,
  index: number,
  createdFile: string,
): Promise<void> {
  const ns = netnsNames.node(c.name, node.name);
  const under = netnsNames.underlay(c.name);
  recordCreated(createdFile, { kind: 'netns', name: ns });
  await netnsAdd(ns);
  await vethAdd(under, underlayPort(index), ns, 'eth0');
  await linkUp(under, underlayPort(index), BRIDGE);
  await addrAdd(ns, 'eth0', `${node.ip}/${prefixOf(c.underlay.cidr)}`);
  await linkUp(ns, 'eth0');
  await routeReplace(ns, 'main', ['default', 'via', c.underlay.gateway, 'dev', 'eth0']);
  for (const other of c.nodes) {
    if (other.name === node.name) continue;
    await routeReplace(ns, 'main', [other.podCIDR, 'via', other.ip, 'dev', 'eth0']);
  }
  // A node forwards for its pods. rp_filter off as on kind's nodes: pod traffic arrives on
  // per-pod veths that all carry the same gateway address, and the mesh's tunnels later
  // deliver packets whose source is not routed back through the interface they came in on.
  await sysctlSet(ns, {
    'net.ipv4.ip_forward': '1',
    'net.ipv4.conf.all.rp_filter': '0',
    'net.ipv4.conf.default.rp_filter': '0',
    'net.ipv4.conf.eth0.rp_filter': '0',
  });
}
