/**
 * A small copy of the seeds' cluster for trace tests: two nodes on an underlay bridge, the
 * sleep pod and ztunnel A on node A (worker2), ztunnel B and httpbin on node B (worker), the
 * node rules of `docs/istio/redirection.md` §1 and the ztunnel-netns rules of §2
 * (VXLAN tunnels, as this kernel has no GENEVE), and a minimal in-process ztunnel pair:
 * transparent listeners on 15001/15008 that relay over plain TCP to <pod IP>:15008 and on to
 * httpbin from the client's address (spoofed). Enough for the kernel to walk every hop of the
 * seeds' path; not a mesh (no TLS, no xDS).
 */
import http from 'node:http';
import net from 'node:net';
import { run } from '../../src/sys/exec.js';
import { fixtureTag, removeStaleFixtures } from './root.js';
import { listen, spoofedConnect, withNetns } from '../../src/sys/socket.js';

export interface NodeSpec {
  ns: string;
  ip: string;
  cidr: string;
  gw: string;
  zIP: string;
  zveth: string;
}

export interface TraceFixture {
  ns: {
    underlay: string;
    nodeA: string;
    nodeB: string;
    sleep: string;
    zA: string;
    zB: string;
    httpbin: string;
  };
  names: Map<string, string>;
  all: string[];
  sleepIP: string;
  httpbinIP: string;
  vip: string;
  vethSleep: string;
  vethHttpbin: string;
  zvethA: string;
  zvethB: string;
  close(): Promise<void>;
}

const VXLAN_PORT = 4789;

async function sh(ns: string, line: string): Promise<void> {
  const argv = line.split(/\s+/).filter(Boolean);
  await run(argv[0]!, argv.slice(1), { netns: ns });
}

async function sysctl(ns: string, key: string, value: string): Promise<void> {
  await run('sysctl', ['-qw', `${key}=${value}`], { netns: ns });
}

async function pod(node: NodeSpec, podNs: string, veth: string, ip: string): Promise<void> {
  await sh(node.ns, `ip link add ${veth} type veth peer name eth0 netns ${podNs}`);
  await sh(node.ns, `ip addr add ${node.gw}/32 dev ${veth}`);
  await sh(node.ns, `ip link set ${veth} up`);
  await sh(node.ns, `ip route add ${ip} dev ${veth} scope host`);
  await sysctl(node.ns, `net.ipv4.conf.${veth}.rp_filter`, '0');
  await sh(podNs, `ip addr add ${ip}/32 dev eth0`);
  await sh(podNs, 'ip link set eth0 up');
  await sh(podNs, 'ip link set lo up');
  await sh(podNs, `ip route add ${node.gw} dev eth0 scope link`);
  await sh(podNs, `ip route add ${node.cidr} via ${node.gw} dev eth0 src ${ip}`);
  await sh(podNs, `ip route add default via ${node.gw} dev eth0`);
}

/** Host rules of the iptables design (docs/istio/redirection.md §1.4, §1.5), for enrolled `pods`. */
function nodeRules(n: NodeSpec, kubeServices: string[]): string {
  const z = n.zveth;
  return [
    '*mangle',
    ...['PREROUTING', 'FORWARD', 'INPUT', 'OUTPUT', 'POSTROUTING'].map(
      (c) => `:ztunnel-${c} - [0:0]`,
    ),
    ...['PREROUTING', 'FORWARD', 'INPUT', 'OUTPUT', 'POSTROUTING'].map(
      (c) => `-I ${c} -j ztunnel-${c}`,
    ),
    '-A ztunnel-PREROUTING -i istioin -j MARK --set-xmark 0x200/0x200',
    '-A ztunnel-PREROUTING -i istioin -j RETURN',
    '-A ztunnel-PREROUTING -i istioout -j MARK --set-xmark 0x200/0x200',
    '-A ztunnel-PREROUTING -i istioout -j RETURN',
    `-A ztunnel-PREROUTING -p udp -m udp --dport ${VXLAN_PORT} -j RETURN`,
    '-A ztunnel-PREROUTING -m connmark --mark 0x220/0x220 -j MARK --set-xmark 0x200/0x200',
    '-A ztunnel-PREROUTING -m mark --mark 0x200/0x200 -j RETURN',
    `-A ztunnel-PREROUTING ! -i ${z} -m connmark --mark 0x210/0x210 -j MARK --set-xmark 0x40/0x40`,
    '-A ztunnel-PREROUTING -m mark --mark 0x40/0x40 -j RETURN',
    `-A ztunnel-PREROUTING ! -s ${n.zIP}/32 -i ${z} -j MARK --set-xmark 0x210/0x210`,
    '-A ztunnel-PREROUTING -m mark --mark 0x200/0x200 -j RETURN',
    `-A ztunnel-PREROUTING -i ${z} -j MARK --set-xmark 0x220/0x220`,
    '-A ztunnel-PREROUTING -p udp -j MARK --set-xmark 0x220/0x220',
    '-A ztunnel-PREROUTING -m mark --mark 0x200/0x200 -j RETURN',
    '-A ztunnel-PREROUTING -p tcp -m set --match-set ztunnel-pods-ips src -j MARK --set-xmark 0x100/0x100',
    ...['FORWARD', 'INPUT'].flatMap((c) => [
      `-A ztunnel-${c} -m mark --mark 0x220/0x220 -j CONNMARK --save-mark --nfmask 0x220 --ctmask 0x220`,
      `-A ztunnel-${c} -m mark --mark 0x210/0x210 -j CONNMARK --save-mark --nfmask 0x210 --ctmask 0x210`,
    ]),
    'COMMIT',
    '*nat',
    ':ztunnel-PREROUTING - [0:0]',
    ':ztunnel-POSTROUTING - [0:0]',
    ':KUBE-SERVICES - [0:0]',
    '-A PREROUTING -j ztunnel-PREROUTING',
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -j ztunnel-POSTROUTING',
    '-A ztunnel-PREROUTING -m mark --mark 0x100/0x100 -j ACCEPT',
    '-A ztunnel-POSTROUTING -m mark --mark 0x100/0x100 -j ACCEPT',
    ...kubeServices,
    'COMMIT',
    '*filter',
    ':ztunnel-FORWARD - [0:0]',
    '-A FORWARD -j ztunnel-FORWARD',
    '-A ztunnel-FORWARD -m mark --mark 0x100/0x100 -j ACCEPT',
    'COMMIT',
    '',
  ].join('\n');
}

async function node(
  n: NodeSpec,
  underlay: string,
  ulPort: string,
  peerCidr: string,
  peerIP: string,
): Promise<void> {
  await sh(underlay, `ip link add ${ulPort} type veth peer name eth0 netns ${n.ns}`);
  await sh(underlay, `ip link set ${ulPort} master br0`);
  await sh(underlay, `ip link set ${ulPort} up`);
  await sh(n.ns, `ip addr add ${n.ip}/16 dev eth0`);
  await sh(n.ns, 'ip link set eth0 up');
  await sh(n.ns, 'ip link set lo up');
  await sh(n.ns, 'ip route add default via 172.18.0.1 dev eth0');
  await sh(n.ns, `ip route add ${peerCidr} via ${peerIP} dev eth0`);
  await sysctl(n.ns, 'net.ipv4.ip_forward', '1');
  for (const k of ['all', 'default']) await sysctl(n.ns, `net.ipv4.conf.${k}.rp_filter`, '0');
}

/** Wires the ztunnel side of a node (tunnels, host rules, ztunnel-netns rules). */
async function ambient(n: NodeSpec, zNs: string, enrolled: string[], kube: string[]) {
  for (const [dev, id, hostAddr, zAddr] of [
    ['istioin', 1000, '192.168.126.1/30', '192.168.126.2/30'],
    ['istioout', 1001, '192.168.127.1/30', '192.168.127.2/30'],
  ] as const) {
    await sh(n.ns, `ip link add ${dev} type vxlan id ${id} remote ${n.zIP} dstport ${VXLAN_PORT}`);
    await sh(n.ns, `ip addr add ${hostAddr} dev ${dev}`);
    await sh(n.ns, `ip link set ${dev} up`);
    await sh(zNs, `ip link add p${dev} type vxlan id ${id} remote ${n.gw} dstport ${VXLAN_PORT}`);
    await sh(zNs, `ip addr add ${zAddr} dev p${dev}`);
    await sh(zNs, `ip link set p${dev} up`);
    await sysctl(zNs, `net.ipv4.conf.p${dev}.rp_filter`, '0');
    await sysctl(n.ns, `net.ipv4.conf.${dev}.rp_filter`, '0');
    await sysctl(n.ns, `net.ipv4.conf.${dev}.accept_local`, '1');
  }
  await sysctl(n.ns, `net.ipv4.conf.${n.zveth}.accept_local`, '1');
  await sh(n.ns, 'ipset create ztunnel-pods-ips hash:ip');
  for (const ip of enrolled) await sh(n.ns, `ipset add ztunnel-pods-ips ${ip}`);
  await run('iptables-restore', ['--noflush'], { netns: n.ns, input: nodeRules(n, kube) });
  await sh(n.ns, 'ip rule add priority 100 fwmark 0x200/0x200 goto 32766');
  await sh(n.ns, 'ip rule add priority 101 fwmark 0x100/0x100 lookup 101');
  await sh(n.ns, 'ip rule add priority 102 fwmark 0x040/0x040 lookup 102');
  await sh(n.ns, 'ip rule add priority 103 table 100');
  await sh(n.ns, `ip route add table 101 ${n.zIP} dev ${n.zveth} scope link`);
  await sh(n.ns, 'ip route add table 101 0.0.0.0/0 via 192.168.127.2 dev istioout');
  await sh(n.ns, `ip route add table 102 ${n.zIP} dev ${n.zveth} scope link`);
  await sh(n.ns, `ip route add table 102 0.0.0.0/0 via ${n.zIP} dev ${n.zveth} onlink`);
  await sh(n.ns, `ip route add table 100 ${n.zIP} dev ${n.zveth} scope link`);
  for (const ip of enrolled) {
    await sh(n.ns, `ip route add table 100 ${ip}/32 via 192.168.126.2 dev istioin src ${n.gw}`);
  }
  // ztunnel netns (docs/istio/redirection.md §2).
  for (const k of ['all', 'default']) await sysctl(zNs, `net.ipv4.conf.${k}.rp_filter`, '0');
  await sh(zNs, 'ip rule add priority 20000 fwmark 0x400/0xfff lookup 100');
  await sh(zNs, 'ip rule add priority 20003 fwmark 0x4d3/0xfff lookup 100');
  await sh(zNs, 'ip route add table 100 local 0.0.0.0/0 dev lo');
  const t = '--tproxy-mark 0x400/0xfff';
  await run('iptables-restore', ['--noflush'], {
    netns: zNs,
    input: [
      '*mangle',
      `-A PREROUTING -p tcp -i pistioin -m tcp --dport 15008 -j TPROXY ${t} --on-port 15008 --on-ip 127.0.0.1`,
      `-A PREROUTING -p tcp -i pistioout -j TPROXY ${t} --on-port 15001 --on-ip 127.0.0.1`,
      `-A PREROUTING -p tcp -i pistioin -j TPROXY ${t} --on-port 15006 --on-ip 127.0.0.1`,
      `-A PREROUTING -p tcp -i eth0 ! -d ${n.zIP}/32 -j MARK --set-xmark 0x4d3/0xfff`,
      'COMMIT',
      '',
    ].join('\n'),
  });
}

function pipeBoth(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
}

/**
 * Builds the fixture; names carry a per-process tag so parallel runs never clash, after removing
 * what a killed earlier run of ours left. Call close() always.
 */
export async function createTraceFixture(): Promise<TraceFixture> {
  await removeStaleFixtures('tr');
  const p = fixtureTag('tr');
  const ns = {
    underlay: `${p}-ul`,
    nodeA: `${p}-w2`,
    nodeB: `${p}-w1`,
    sleep: `${p}-sl`,
    zA: `${p}-zA`,
    zB: `${p}-zB`,
    httpbin: `${p}-hb`,
  };
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  const fixture: TraceFixture = {
    ns,
    names: new Map([
      [ns.underlay, 'underlay'],
      [ns.nodeA, 'worker2'],
      [ns.nodeB, 'worker'],
      [ns.sleep, 'sleep'],
      [ns.zA, 'ztunnel-worker2'],
      [ns.zB, 'ztunnel-worker'],
      [ns.httpbin, 'httpbin'],
    ]),
    all: Object.values(ns),
    sleepIP: '10.244.2.8',
    httpbinIP: '10.244.1.7',
    vip: '10.96.0.105',
    vethSleep: 'vethbda3de4b',
    vethHttpbin: 'vethfc1b555e',
    zvethA: 'veth51e3b96d',
    zvethB: 'vethbcda8cd4',
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r(undefined)))));
      for (const n of Object.values(ns)) {
        await run('ip', ['netns', 'del', n], { allowFail: true });
      }
    },
  };
  try {
    for (const n of Object.values(ns)) await run('ip', ['netns', 'add', n]);
    await sh(ns.underlay, 'ip link add br0 type bridge');
    await sh(ns.underlay, 'ip addr add 172.18.0.1/16 dev br0');
    await sh(ns.underlay, 'ip link set br0 up');
    const A: NodeSpec = {
      ns: ns.nodeA,
      ip: '172.18.0.3',
      cidr: '10.244.2.0/24',
      gw: '10.244.2.1',
      zIP: '10.244.2.3',
      zveth: fixture.zvethA,
    };
    const B: NodeSpec = {
      ns: ns.nodeB,
      ip: '172.18.0.4',
      cidr: '10.244.1.0/24',
      gw: '10.244.1.1',
      zIP: '10.244.1.3',
      zveth: fixture.zvethB,
    };
    await node(A, ns.underlay, 'ulw2', '10.244.1.0/24', B.ip);
    await node(B, ns.underlay, 'ulw1', '10.244.2.0/24', A.ip);
    await pod(A, ns.sleep, fixture.vethSleep, fixture.sleepIP);
    await pod(A, ns.zA, A.zveth, A.zIP);
    await pod(B, ns.zB, B.zveth, B.zIP);
    await pod(B, ns.httpbin, fixture.vethHttpbin, fixture.httpbinIP);
    await ambient(
      A,
      ns.zA,
      [fixture.sleepIP],
      [
        `-A KUBE-SERVICES -d ${fixture.vip}/32 -p tcp -m tcp --dport 8000 -j DNAT --to-destination ${fixture.httpbinIP}:80`,
      ],
    );
    await ambient(B, ns.zB, [fixture.httpbinIP], []);

    // httpbin: tells the client which address it saw, so transparency is checkable.
    const app = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ origin: req.socket.remoteAddress, url: req.url }) + '\n');
    });
    servers.push(await listen(app, { host: '0.0.0.0', port: 80, netns: ns.httpbin }));

    // ztunnel A outbound: original destination = the TPROXY'd socket's local address.
    const outbound = net.createServer((c) => {
      sockets.add(c);
      const dst = c.localAddress === fixture.vip ? fixture.httpbinIP : c.localAddress!;
      const port = c.localAddress === fixture.vip ? 80 : c.localPort!;
      const up = withNetns(ns.zA, () => spoofedConnect(A.zIP, dst, 15008));
      sockets.add(up);
      up.write(`${c.remoteAddress} ${dst}:${port}\n`);
      pipeBoth(c, up);
    });
    servers.push(
      await listen(outbound, { host: '127.0.0.1', port: 15001, transparent: true, netns: ns.zA }),
    );

    // ztunnel B inbound: read the header, connect to the app from the client's address.
    const inbound = net.createServer((c) => {
      sockets.add(c);
      let head = '';
      const onData = (d: Buffer) => {
        head += d.toString('latin1');
        const nl = head.indexOf('\n');
        if (nl < 0) return;
        c.off('data', onData);
        c.pause();
        const [src, target] = head.slice(0, nl).split(' ');
        const [ip, port] = (target ?? '').split(':');
        const down = withNetns(ns.zB, () => spoofedConnect(src!, ip!, Number(port)));
        sockets.add(down);
        const rest = Buffer.from(head.slice(nl + 1), 'latin1');
        if (rest.length) down.write(rest);
        pipeBoth(c, down);
        c.resume();
      };
      c.on('data', onData);
      c.on('error', () => c.destroy());
    });
    servers.push(
      await listen(inbound, { host: '127.0.0.1', port: 15008, transparent: true, netns: ns.zB }),
    );
  } catch (err) {
    await fixture.close();
    throw err;
  }
  return fixture;
}
