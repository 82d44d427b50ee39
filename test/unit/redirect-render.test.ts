import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  hostChains,
  hostIpRules,
  hostRoutes,
  podRoute,
  renderInstall,
  renderUninstall,
  ztunnelIpRules,
  ztunnelRoutes,
  ztunnelRules,
  type HostParams,
} from '../../src/redirect/iptables/render.js';
import { formatChains } from '../../src/redirect/rules-view.js';
import { parseRouteLine } from '../../src/redirect/iptables/tunnels.js';

// Seed 000's node A (worker2): ztunnel 10.244.2.3 behind veth51e3b96d, host IP 10.244.2.1.
const nodeA: HostParams = {
  zveth: 'veth51e3b96d',
  zIp: '10.244.2.3',
  hostIp: '10.244.2.1',
  tunnelPort: 6081,
  dnsCapture: false,
};

const chain = (p: HostParams, table: string, name: string) =>
  hostChains(p).find((c) => c.table === table && c.chain === name)!.rules;

void test('mangle ztunnel-PREROUTING is Istio 1.20 CreateRulesOnNode, rule for rule, in order (plus the pre-capture pair)', () => {
  assert.deepEqual(chain(nodeA, 'mangle', 'ztunnel-PREROUTING'), [
    '-A ztunnel-PREROUTING -i istioin -j MARK --set-xmark 0x200/0x200',
    '-A ztunnel-PREROUTING -i istioin -j RETURN',
    '-A ztunnel-PREROUTING -i istioout -j MARK --set-xmark 0x200/0x200',
    '-A ztunnel-PREROUTING -i istioout -j RETURN',
    '-A ztunnel-PREROUTING -p udp -m udp --dport 6081 -j RETURN',
    '-A ztunnel-PREROUTING -m connmark --mark 0x220/0x220 -j MARK --set-xmark 0x200/0x200',
    '-A ztunnel-PREROUTING -m mark --mark 0x200/0x200 -j RETURN',
    '-A ztunnel-PREROUTING ! -i veth51e3b96d -m connmark --mark 0x210/0x210 -j MARK --set-xmark 0x40/0x40',
    '-A ztunnel-PREROUTING -m mark --mark 0x40/0x40 -j RETURN',
    '-A ztunnel-PREROUTING ! -s 10.244.2.3/32 -i veth51e3b96d -j MARK --set-xmark 0x210/0x210',
    '-A ztunnel-PREROUTING -m mark --mark 0x200/0x200 -j RETURN',
    '-A ztunnel-PREROUTING -i veth51e3b96d -j MARK --set-xmark 0x220/0x220',
    '-A ztunnel-PREROUTING -p udp -j MARK --set-xmark 0x220/0x220',
    '-A ztunnel-PREROUTING -m mark --mark 0x200/0x200 -j RETURN',
    // ambit's: connections that began with neither end captured are never captured mid-flow.
    '-A ztunnel-PREROUTING -p tcp -m set ! --match-set ztunnel-pods-ips src -m set ! --match-set ztunnel-pods-ips dst -j CONNMARK --set-xmark 0x80/0x80',
    '-A ztunnel-PREROUTING -m connmark --mark 0x80/0x80 -j MARK --set-xmark 0x200/0x200',
    '-A ztunnel-PREROUTING -m mark --mark 0x200/0x200 -j RETURN',
    '-A ztunnel-PREROUTING -p tcp -m set --match-set ztunnel-pods-ips src -j MARK --set-xmark 0x100/0x100',
  ]);
});

void test('the tunnel RETURN rule follows the UDP port actually used (VXLAN 4789)', () => {
  const rules = chain({ ...nodeA, tunnelPort: 4789 }, 'mangle', 'ztunnel-PREROUTING');
  assert.equal(rules[4], '-A ztunnel-PREROUTING -p udp -m udp --dport 4789 -j RETURN');
});

void test('the rules seed 000 quotes appear verbatim', () => {
  const all = hostChains(nodeA).flatMap((c) => c.rules);
  const nodeB = hostChains({ ...nodeA, zveth: 'vethbcda8cd4', zIp: '10.244.1.3' }).flatMap(
    (c) => c.rules,
  );
  for (const line of [
    '-A ztunnel-PREROUTING -p tcp -m set --match-set ztunnel-pods-ips src -j MARK --set-xmark 0x100/0x100',
    '-A ztunnel-PREROUTING -m mark --mark 0x100/0x100 -j ACCEPT',
    '-A ztunnel-PREROUTING ! -s 10.244.2.3/32 -i veth51e3b96d -j MARK --set-xmark 0x210/0x210',
    '-A ztunnel-PREROUTING -m mark --mark 0x200/0x200 -j RETURN',
    '-A ztunnel-FORWARD -m mark --mark 0x210/0x210 -j CONNMARK --save-mark --nfmask 0x210 --ctmask 0x210',
    '-A ztunnel-PREROUTING ! -i veth51e3b96d -m connmark --mark 0x210/0x210 -j MARK --set-xmark 0x40/0x40',
  ]) {
    assert.ok(all.includes(line), line);
  }
  assert.ok(
    nodeB.includes(
      '-A ztunnel-PREROUTING ! -i vethbcda8cd4 -m connmark --mark 0x210/0x210 -j MARK --set-xmark 0x40/0x40',
    ),
  );
  assert.ok(
    nodeB.includes(
      '-A ztunnel-PREROUTING ! -s 10.244.1.3/32 -i vethbcda8cd4 -j MARK --set-xmark 0x210/0x210',
    ),
  );
});

void test('FORWARD/INPUT save marks, OUTPUT exempts kubelet probes, nat/filter accept 0x100', () => {
  const save = [
    '-m mark --mark 0x220/0x220 -j CONNMARK --save-mark --nfmask 0x220 --ctmask 0x220',
    '-m mark --mark 0x210/0x210 -j CONNMARK --save-mark --nfmask 0x210 --ctmask 0x210',
  ];
  assert.deepEqual(
    chain(nodeA, 'mangle', 'ztunnel-FORWARD'),
    save.map((r) => `-A ztunnel-FORWARD ${r}`),
  );
  assert.deepEqual(
    chain(nodeA, 'mangle', 'ztunnel-INPUT'),
    save.map((r) => `-A ztunnel-INPUT ${r}`),
  );
  assert.deepEqual(chain(nodeA, 'mangle', 'ztunnel-OUTPUT'), [
    '-A ztunnel-OUTPUT -s 10.244.2.1/32 -p tcp -m owner --socket-exists -m set --match-set ztunnel-pods-ips dst -j MARK --set-xmark 0x220/0xffffffff',
  ]);
  assert.deepEqual(chain(nodeA, 'mangle', 'ztunnel-POSTROUTING'), []);
  assert.deepEqual(chain(nodeA, 'nat', 'ztunnel-PREROUTING'), [
    '-A ztunnel-PREROUTING -m mark --mark 0x100/0x100 -j ACCEPT',
  ]);
  assert.deepEqual(chain(nodeA, 'nat', 'ztunnel-POSTROUTING'), [
    '-A ztunnel-POSTROUTING -m mark --mark 0x100/0x100 -j ACCEPT',
  ]);
  assert.deepEqual(chain(nodeA, 'filter', 'ztunnel-FORWARD'), [
    '-A ztunnel-FORWARD -m mark --mark 0x100/0x100 -j ACCEPT',
  ]);
  const jumps = hostChains(nodeA).map((c) => `${c.table} ${c.from}→${c.chain}`);
  assert.deepEqual(jumps, [
    'mangle PREROUTING→ztunnel-PREROUTING',
    'mangle POSTROUTING→ztunnel-POSTROUTING',
    'mangle OUTPUT→ztunnel-OUTPUT',
    'mangle INPUT→ztunnel-INPUT',
    'mangle FORWARD→ztunnel-FORWARD',
    'nat PREROUTING→ztunnel-PREROUTING',
    'nat POSTROUTING→ztunnel-POSTROUTING',
    'filter FORWARD→ztunnel-FORWARD',
  ]);
});

void test('DNS capture adds the nat DNAT of enrolled pods UDP/53 to ztunnel:15053', () => {
  assert.deepEqual(chain({ ...nodeA, dnsCapture: true }, 'nat', 'ztunnel-PREROUTING'), [
    '-A ztunnel-PREROUTING -m mark --mark 0x100/0x100 -j ACCEPT',
    '-A ztunnel-PREROUTING -p udp -m set --match-set ztunnel-pods-ips src -m udp --dport 53 -j DNAT --to-destination 10.244.2.3:15053',
  ]);
});

void test('ztunnel pod rules match seed 000 and the reference order', () => {
  assert.deepEqual(ztunnelRules('10.244.2.3'), [
    '-A PREROUTING -i pistioin -p tcp -m tcp --dport 15008 -j TPROXY --on-port 15008 --on-ip 127.0.0.1 --tproxy-mark 0x400/0xfff',
    '-A PREROUTING -i pistioout -p tcp -j TPROXY --on-port 15001 --on-ip 127.0.0.1 --tproxy-mark 0x400/0xfff',
    '-A PREROUTING -i pistioin -p tcp -j TPROXY --on-port 15006 --on-ip 127.0.0.1 --tproxy-mark 0x400/0xfff',
    '-A PREROUTING ! -d 10.244.2.3/32 -i eth0 -p tcp -j MARK --set-xmark 0x4d3/0xfff',
  ]);
  assert.deepEqual(
    ztunnelIpRules().map((r) => r.listing),
    [
      '20000:\tfrom all fwmark 0x400/0xfff lookup 100',
      '20003:\tfrom all fwmark 0x4d3/0xfff lookup 100',
    ],
  );
  const routes = ztunnelRoutes('10.244.2.1');
  assert.deepEqual(
    routes.filter((r) => r.table === 100).map((r) => r.listing),
    ['local default dev lo scope host'],
  );
  assert.deepEqual(
    routes.filter((r) => r.table === 101).map((r) => r.listing),
    ['default via 192.168.127.1 dev pistioout', '10.244.2.1 dev eth0 scope link'],
  );
  assert.deepEqual(
    routes.filter((r) => r.table === 102).map((r) => r.listing),
    ['default via 192.168.126.1 dev pistioin', '10.244.2.1 dev eth0 scope link'],
  );
});

void test('node ip rules and tables 100-102 read as in seeds 000 and 001', () => {
  const seven = [
    '0:\tfrom all lookup local',
    ...hostIpRules().map((r) => r.listing),
    '32766:\tfrom all lookup main',
    '32767:\tfrom all lookup default',
  ];
  assert.deepEqual(seven, [
    '0:\tfrom all lookup local',
    '100:\tfrom all fwmark 0x200/0x200 goto 32766',
    '101:\tfrom all fwmark 0x100/0x100 lookup 101',
    '102:\tfrom all fwmark 0x40/0x40 lookup 102',
    '103:\tfrom all lookup 100',
    '32766:\tfrom all lookup main',
    '32767:\tfrom all lookup default',
  ]);
  const routes = hostRoutes('veth51e3b96d', '10.244.2.3');
  const table = (n: number) => routes.filter((r) => r.table === n).map((r) => r.listing);
  assert.deepEqual(table(101), [
    'default via 192.168.127.2 dev istioout',
    '10.244.2.3 dev veth51e3b96d scope link',
  ]);
  assert.deepEqual(table(102), [
    'default via 10.244.2.3 dev veth51e3b96d onlink',
    '10.244.2.3 dev veth51e3b96d scope link',
  ]);
  assert.deepEqual(table(100), ['10.244.2.3 dev veth51e3b96d scope link']);
  assert.equal(
    podRoute('10.244.1.7', '10.244.1.1').listing,
    '10.244.1.7 via 192.168.126.2 dev istioin src 10.244.1.1',
  );
});

void test('install input declares chains, replaces existing jumps, and puts them on top', () => {
  const chains = hostChains(nodeA);
  const fresh = renderInstall(chains, new Map());
  assert.match(fresh, /^\*mangle\n:ztunnel-PREROUTING - \[0:0\]/);
  assert.ok(fresh.includes('-I PREROUTING 1 -j ztunnel-PREROUTING'));
  assert.ok(!fresh.includes('-D '));
  const again = renderInstall(chains, new Map([['mangle -A PREROUTING -j ztunnel-PREROUTING', 2]]));
  const mangle = again.split('COMMIT')[0]!;
  assert.equal(
    mangle.split('\n').filter((l) => l === '-D PREROUTING -j ztunnel-PREROUTING').length,
    2,
  );
  assert.equal(mangle.split('\n').filter((l) => l.startsWith('-I PREROUTING')).length, 1);
  assert.equal(fresh.match(/^COMMIT$/gm)?.length, 3);
});

void test('uninstall input only names what exists', () => {
  const chains = hostChains(nodeA);
  assert.equal(renderUninstall(chains, new Map(), new Set()), '');
  const text = renderUninstall(
    chains,
    new Map([['nat -A PREROUTING -j ztunnel-PREROUTING', 1]]),
    new Set(['nat ztunnel-PREROUTING']),
  );
  assert.equal(
    text,
    '*nat\n-D PREROUTING -j ztunnel-PREROUTING\n-F ztunnel-PREROUTING\n-X ztunnel-PREROUTING\nCOMMIT\n',
  );
});

void test('node rules view groups iptables-save output like the seeds', () => {
  const view = formatChains({
    mangle:
      '*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j ztunnel-PREROUTING\n-A ztunnel-PREROUTING -p tcp -m set --match-set ztunnel-pods-ips src -j MARK --set-xmark 0x100/0x100\nCOMMIT\n',
    nat: '*nat\n-A PREROUTING -j ztunnel-PREROUTING\n-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n-A KUBE-SERVICES -j X\n-A ztunnel-PREROUTING -m mark --mark 0x100/0x100 -j ACCEPT\nCOMMIT\n',
  });
  const lines = view.split('\n');
  assert.deepEqual(lines.slice(0, 8), [
    '=== PREROUTING ===',
    '    --- raw ---',
    '    --- mangle ---',
    '        -A PREROUTING -j ztunnel-PREROUTING',
    '    --- nat ---',
    '        -A PREROUTING -j ztunnel-PREROUTING',
    '        -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '    --- filter ---',
  ]);
  const z = lines.indexOf('=== ztunnel-PREROUTING ===');
  assert.deepEqual(lines.slice(z, z + 7), [
    '=== ztunnel-PREROUTING ===',
    '    --- raw ---',
    '    --- mangle ---',
    '        -A ztunnel-PREROUTING -p tcp -m set --match-set ztunnel-pods-ips src -j MARK --set-xmark 0x100/0x100',
    '    --- nat ---',
    '        -A ztunnel-PREROUTING -m mark --mark 0x100/0x100 -j ACCEPT',
    '    --- filter ---',
  ]);
  assert.ok(!view.includes('KUBE-SERVICES -j X'));
});

test('parseRouteLine: the destination of every route the node tables list, typed or not', () => {
  assert.deepEqual(parseRouteLine(hostRoutes('veth51e3b96d', '10.244.2.3')[0]!.listing), {
    dst: 'default',
    type: 'unicast',
  });
  assert.deepEqual(parseRouteLine(podRoute('10.244.2.4', '10.244.2.1').listing), {
    dst: '10.244.2.4',
    type: 'unicast',
  });
  assert.deepEqual(parseRouteLine('blackhole 10.244.2.4 '), {
    dst: '10.244.2.4',
    type: 'blackhole',
  });
  assert.deepEqual(parseRouteLine('local default dev lo scope host'), {
    dst: 'default',
    type: 'local',
  });
  assert.equal(parseRouteLine('   '), undefined);
  assert.equal(parseRouteLine('blackhole'), undefined);
});
