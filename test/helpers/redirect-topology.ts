/**
 * A minimal two-node cluster built from `ip` commands, for the capture conformance suite
 * before (and besides) the full lab: an underlay bridge, nodes worker (172.18.0.4,
 * 10.244.1.0/24) and worker2 (172.18.0.3, 10.244.2.0/24), ptp-wired pods with host veths
 * `veth<8 hex>`, and kube-proxy's ClusterIP DNAT for httpbin 10.96.0.105:8000 → 10.244.1.7:80.
 * Every name carries a per-run tag; destroy() removes all of it.
 */
import { randomBytes } from 'node:crypto';
import { run } from '../../src/sys/exec.js';
import { fixtureTag, removeStaleFixtures } from './root.js';

export interface TopoNode {
  name: 'worker' | 'worker2';
  /** The node's named netns. */
  netns: string;
  ip: string;
  /** The node's address inside its pod CIDR (10.244.N.1). */
  hostIp: string;
  cidr: string;
}

export interface TopoPod {
  name: string;
  node: TopoNode;
  ip: string;
  uid: string;
  netns: string;
  hostVeth: string;
}

export interface CaptureTopology {
  tag: string;
  worker: TopoNode;
  worker2: TopoNode;
  sleep: TopoPod;
  other: TopoPod;
  httpbin: TopoPod;
  ztunnelA: TopoPod;
  ztunnelB: TopoPod;
  clusterIp: string;
  clusterPort: number;
  /**
   * True when nothing but the test's traffic crosses the tunnel devices (no IPv6 chatter), so
   * per-device packet counts can be compared exactly.
   */
  quietDevices: boolean;
  /** Adds another pod (e.g. a replacement ztunnel) to `node`. */
  addPod(name: string, node: TopoNode, ip: string): Promise<TopoPod>;
  removePod(pod: TopoPod): Promise<void>;
  destroy(): Promise<void>;
}

const ipn = (ns: string, ...args: string[]) => run('ip', ['-n', ns, ...args]);
const hex = (n: number) => randomBytes(n).toString('hex');

export async function buildFixtureTopology(): Promise<CaptureTopology> {
  await removeStaleFixtures('rc');
  const tag = fixtureTag('rc');
  const underlay = `${tag}-underlay`;
  const created: string[] = [];
  const addNs = async (name: string) => {
    await run('ip', ['netns', 'add', name]);
    created.push(name);
    // No IPv6: its autoconfiguration chatter would show up in the per-device packet counts.
    await run(
      'sysctl',
      ['-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv6.conf.all.disable_ipv6=1'],
      { netns: name },
    );
    await ipn(name, 'link', 'set', 'lo', 'up');
  };
  const destroy = async () => {
    for (const ns of created.reverse()) {
      await run('ip', ['netns', 'del', ns], { allowFail: true });
    }
    created.length = 0;
  };
  try {
    await addNs(underlay);
    await ipn(underlay, 'link', 'add', 'br0', 'type', 'bridge');
    await ipn(underlay, 'addr', 'add', '172.18.0.1/16', 'dev', 'br0');
    await ipn(underlay, 'link', 'set', 'br0', 'up');
    const mkNode = async (name: TopoNode['name'], ip: string, n: number): Promise<TopoNode> => {
      const netns = `${tag}-${name}`;
      await addNs(netns);
      const up = `u-${name}`;
      await ipn(
        underlay,
        'link',
        'add',
        up,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        netns,
      );
      await ipn(underlay, 'link', 'set', up, 'master', 'br0', 'up');
      await ipn(netns, 'addr', 'add', `${ip}/16`, 'dev', 'eth0');
      await ipn(netns, 'link', 'set', 'eth0', 'up');
      await ipn(netns, 'route', 'add', 'default', 'via', '172.18.0.1', 'dev', 'eth0');
      await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { netns });
      return { name, netns, ip, hostIp: `10.244.${n}.1`, cidr: `10.244.${n}.0/24` };
    };
    const worker = await mkNode('worker', '172.18.0.4', 1);
    const worker2 = await mkNode('worker2', '172.18.0.3', 2);
    await ipn(worker.netns, 'route', 'add', worker2.cidr, 'via', worker2.ip, 'dev', 'eth0');
    await ipn(worker2.netns, 'route', 'add', worker.cidr, 'via', worker.ip, 'dev', 'eth0');
    // kube-proxy's ClusterIP translation, with the seeds' chain name and comment.
    for (const node of [worker, worker2]) {
      const rules = [
        '*nat',
        ':KUBE-SERVICES - [0:0]',
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A KUBE-SERVICES -d 10.96.0.105/32 -p tcp -m tcp --dport 8000 -j DNAT --to-destination 10.244.1.7:80',
        'COMMIT',
        '',
      ].join('\n');
      await run('iptables-restore', ['--noflush'], { netns: node.netns, input: rules });
    }
    const pods = new Map<string, TopoPod>();
    const addPod = async (name: string, node: TopoNode, ip: string): Promise<TopoPod> => {
      const uid = `${hex(4)}-${hex(2)}-${hex(2)}-${hex(2)}-${hex(6)}`;
      const netns = `${tag}-p${uid.slice(0, 8)}`;
      const hostVeth = `veth${hex(4)}`;
      await addNs(netns);
      const gw = node.hostIp;
      await ipn(
        node.netns,
        'link',
        'add',
        hostVeth,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        netns,
      );
      await ipn(netns, 'addr', 'add', `${ip}/32`, 'dev', 'eth0');
      await ipn(netns, 'link', 'set', 'eth0', 'up');
      await ipn(netns, 'route', 'add', gw, 'dev', 'eth0', 'scope', 'link');
      await ipn(netns, 'route', 'add', node.cidr, 'via', gw, 'dev', 'eth0', 'src', ip);
      await ipn(netns, 'route', 'add', 'default', 'via', gw, 'dev', 'eth0');
      await ipn(node.netns, 'addr', 'add', `${gw}/32`, 'dev', hostVeth);
      await ipn(node.netns, 'link', 'set', hostVeth, 'up');
      await ipn(node.netns, 'route', 'add', ip, 'dev', hostVeth, 'scope', 'host');
      const pod = { name, node, ip, uid, netns, hostVeth };
      pods.set(name, pod);
      return pod;
    };
    const removePod = async (pod: TopoPod) => {
      await run('ip', ['netns', 'del', pod.netns], { allowFail: true });
      const i = created.indexOf(pod.netns);
      if (i >= 0) created.splice(i, 1);
      pods.delete(pod.name);
    };
    return {
      tag,
      worker,
      worker2,
      ztunnelA: await addPod('ztunnel-a', worker2, '10.244.2.3'),
      sleep: await addPod('sleep', worker2, '10.244.2.8'),
      other: await addPod('other', worker2, '10.244.2.9'),
      ztunnelB: await addPod('ztunnel-b', worker, '10.244.1.3'),
      httpbin: await addPod('httpbin', worker, '10.244.1.7'),
      clusterIp: '10.96.0.105',
      clusterPort: 8000,
      quietDevices: true,
      addPod,
      removePod,
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}
