/**
 * The node of `bench/scale-capture.ts`: one node netns and up to ~1,000 pod netns, each wired
 * to the node by a veth as the lab kubelet's ptp plugin does (host veth `veth<8 hex>` holding
 * the node's address 10.244.0.1/32, a /32 route per pod), plus a ztunnel pod and an unenrolled
 * server pod. Built with `ip -batch` (one process per pod plus one per batch of node-side
 * commands) so that 1,000 pods take seconds, not minutes. Every name starts with the bench's
 * prefix; destroy() removes them all, and a leftover of a killed run (its pid is gone) is
 * removed by the next one.
 */
import { randomBytes } from 'node:crypto';
import { run } from '../src/sys/exec.js';

/** Name prefix of every netns of this bench (`sc`, the scale helper's, + `cp` for capture). */
const PREFIX = 'sccp';

export interface ScalePod {
  index: number;
  ip: string;
  netns: string;
  hostVeth: string;
}

export interface ScaleNode {
  tag: string;
  netns: string;
  /** The node's address in the pod CIDR (on every host veth). */
  hostIp: string;
  ztunnel: ScalePod;
  server: ScalePod;
  pods: ScalePod[];
  /** Pods kept out of the enrolled set: the one more pod each measurement adds and removes. */
  probes: ScalePod[];
  /** Creates pods until there are `n` (the ztunnel and server not counted); returns the new. */
  grow(n: number): Promise<ScalePod[]>;
  destroy(): Promise<void>;
}

const HOST_IP = '10.244.0.1';
const BATCH = 200;
const PARALLEL = 8;

const hex = (n: number) => randomBytes(n).toString('hex');
/** Pod i's address: 10.244.4.2 … (250 per /24), clear of the ztunnel's and server's /24. */
const podIp = (i: number) => `10.244.${4 + Math.floor(i / 250)}.${(i % 250) + 2}`;

async function ipBatch(netns: string | undefined, lines: string[]): Promise<void> {
  for (let i = 0; i < lines.length; i += BATCH) {
    const input = lines.slice(i, i + BATCH).join('\n') + '\n';
    await run('ip', [...(netns ? ['-n', netns] : []), '-batch', '-'], { input });
  }
}

async function inParallel<T>(items: T[], width: number, fn: (t: T) => Promise<void>) {
  for (let i = 0; i < items.length; i += width)
    await Promise.all(items.slice(i, i + width).map(fn));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes this bench's netns whose process is gone; returns how many. */
export async function removeStale(): Promise<number> {
  const re = new RegExp(`^${PREFIX}([0-9a-z]+)x[0-9a-f]{4}-`);
  const list = await run('ip', ['netns', 'list'], { allowFail: true });
  const stale = list.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => {
      const m = re.exec(n);
      return m !== null && !alive(parseInt(m[1]!, 36));
    });
  // Pods first: deleting them removes their veths from the node.
  stale.sort((a, b) => Number(a.endsWith('-node')) - Number(b.endsWith('-node')));
  await ipBatch(
    undefined,
    stale.map((n) => `netns del ${n}`),
  ).catch(() => undefined);
  return stale.length;
}

export async function buildScaleNode(probeCount: number): Promise<ScaleNode> {
  await removeStale();
  const tag = `${PREFIX}${process.pid.toString(36)}x${hex(2)}`;
  const node = `${tag}-node`;
  const created: string[] = [];
  const pods: ScalePod[] = [];

  /** Creates the pods' netns and veths: one netns batch, one node batch, one process per pod. */
  const wire = async (list: ScalePod[]) => {
    await ipBatch(
      undefined,
      list.map((p) => `netns add ${p.netns}`),
    );
    created.push(...list.map((p) => p.netns));
    await ipBatch(
      node,
      list.flatMap((p) => [
        `link add ${p.hostVeth} type veth peer name eth0 netns ${p.netns}`,
        `addr add ${HOST_IP}/32 dev ${p.hostVeth}`,
        `link set ${p.hostVeth} up`,
        `route add ${p.ip} dev ${p.hostVeth} scope host`,
      ]),
    );
    await inParallel(list, PARALLEL, (p) =>
      ipBatch(p.netns, [
        'link set lo up',
        `addr add ${p.ip}/32 dev eth0`,
        'link set eth0 up',
        `route add ${HOST_IP} dev eth0 scope link`,
        `route add default via ${HOST_IP} dev eth0 src ${p.ip}`,
      ]),
    );
  };
  const pod = (index: number, name: string, ip: string): ScalePod => ({
    index,
    ip,
    netns: `${tag}-${name}`,
    hostVeth: `veth${hex(4)}`,
  });

  const destroy = async () => {
    // Pods before the node (their veth peers go with them), in batches.
    const order = [...created].reverse();
    await ipBatch(
      undefined,
      order.map((n) => `netns del ${n}`),
    ).catch(async () => {
      for (const n of order) await run('ip', ['netns', 'del', n], { allowFail: true });
    });
    created.length = 0;
  };

  try {
    await ipBatch(undefined, [`netns add ${node}`]);
    created.push(node);
    await run(
      'sysctl',
      [
        '-q',
        '-w',
        'net.ipv4.ip_forward=1',
        // No IPv6 on a thousand veths: their autoconfiguration is not the bench's traffic.
        'net.ipv6.conf.default.disable_ipv6=1',
        'net.ipv6.conf.all.disable_ipv6=1',
      ],
      { netns: node },
    );
    await ipBatch(node, ['link set lo up']);
    const ztunnel = pod(-1, 'zt', '10.244.1.3');
    const server = pod(-2, 'srv', '10.244.1.7');
    const probes = Array.from({ length: probeCount }, (_, k) =>
      pod(-3 - k, `m${k}`, `10.244.2.${k + 2}`),
    );
    await wire([ztunnel, server, ...probes]);
    return {
      tag,
      netns: node,
      hostIp: HOST_IP,
      ztunnel,
      server,
      pods,
      probes,
      async grow(n: number) {
        if (n > 60_000) throw new RangeError(`at most 60000 pods, asked ${n}`);
        const add: ScalePod[] = [];
        for (let i = pods.length; i < n; i++) add.push(pod(i, `p${i}`, podIp(i)));
        await wire(add);
        pods.push(...add);
        return add;
      },
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}
