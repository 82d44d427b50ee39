/**
 * Correlation and rendering on recorded monitor output: hops ordered along device links even
 * when monitors' lines arrive out of order; ip rules chosen from the kernel's route answer;
 * the printed path reads like seed 000.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { correlate, type Topology } from '../../src/trace/correlate.js';
import { parseIpRules, parseRouteGet, ruleForTable } from '../../src/trace/route.js';
import { addRoutes } from '../../src/trace/routes.js';
import { renderPath } from '../../src/trace/render.js';
import { buildTraversals } from '../../src/trace/traversal.js';
import { parseMonitorLines } from '../../src/trace/xtmonitor.js';
import { sampleLines } from '../helpers/trace-samples.js';

const NODE_RULES = `0:\tfrom all lookup local
100:\tfrom all fwmark 0x200/0x200 goto 32766
101:\tfrom all fwmark 0x100/0x100 lookup 101
102:\tfrom all fwmark 0x40/0x40 lookup 102
103:\tfrom all lookup 100
32766:\tfrom all lookup main
32767:\tfrom all lookup default
`;
const ZTUNNEL_RULES = `0:\tfrom all lookup local
20000:\tfrom all fwmark 0x400/0xfff lookup 100
20003:\tfrom all fwmark 0x4d3/0xfff lookup 100
32766:\tfrom all lookup main
32767:\tfrom all lookup default
`;

const topo: Topology = {
  peers: new Map([
    ['tr0000-sl/eth0', { netns: 'tr0000-w2', dev: 'vethbda3de4b' }],
    ['tr0000-w2/vethbda3de4b', { netns: 'tr0000-sl', dev: 'eth0' }],
    ['tr0000-w2/veth51e3b96d', { netns: 'tr0000-zA', dev: 'eth0' }],
    ['tr0000-zA/eth0', { netns: 'tr0000-w2', dev: 'veth51e3b96d' }],
    ['tr0000-w2/istioout', { netns: 'tr0000-zA', dev: 'pistioout' }],
    ['tr0000-zA/pistioout', { netns: 'tr0000-w2', dev: 'istioout' }],
  ]),
  bridges: new Set(),
};
const names = new Map([
  ['tr0000-sl', 'sleep'],
  ['tr0000-w2', 'worker2'],
  ['tr0000-zA', 'ztunnel-worker2'],
]);

void test('the ip rule is the first whose selector matches and whose table the kernel used', () => {
  const rules = parseIpRules(NODE_RULES);
  const at = (mark: number, dst: string, table: number) =>
    ruleForTable(rules, { src: '10.244.2.8', dst, iif: 'veth0', mark }, table);
  assert.equal(at(0x100, '10.96.0.105', 101)?.rule.prio, 101);
  assert.equal(at(0x40, '10.96.0.105', 102)?.rule.prio, 102);
  assert.equal(at(0, '10.244.1.7', 100)?.rule.prio, 103);
  const skip = at(0x210, '10.244.2.8', 254)!;
  assert.equal(skip.via?.prio, 100, 'mark 0x210 has the skip bit: rule 100 goto 32766');
  assert.equal(skip.rule.prio, 32766);
  assert.equal(at(0, '10.244.1.9', 254)?.rule.prio, 32766, 'no route in table 100: falls to main');
  const z = parseIpRules(ZTUNNEL_RULES);
  assert.equal(ruleForTable(z, { src: 'x', dst: '1.2.3.4', mark: 0x14d3 }, 100)?.rule.prio, 20003);
  const local = parseRouteGet(
    'local 10.96.0.105 from 10.244.2.8 dev lo table 100 mark 0x400 \n  cache',
  );
  assert.equal(local?.table, 100);
  assert.equal(local?.local, true);
  assert.equal(
    parseRouteGet('10.244.2.8 via 10.244.2.1 dev eth0 src 10.244.2.3 uid 0')?.table,
    254,
  );
});

void test('hops follow device links even when monitor lines arrive out of order', () => {
  // Worst case: every line of the ztunnel namespace first, then the node, then the pod.
  const rank: Record<string, number> = { 'tr0000-zA': 0, 'tr0000-w2': 1, 'tr0000-sl': 2 };
  const shuffled = [...sampleLines()]
    .sort((a, b) => rank[a.netns]! - rank[b.netns]! || a.seq - b.seq)
    .map((l, i) => ({ ...l, seq: i + 1 }));
  const c = correlate(buildTraversals(parseMonitorLines(shuffled)), {
    clientIp: '10.244.2.8',
    clientPort: 41234,
    names,
    topology: topo,
  });
  assert.equal(c.connections.length, 1);
  const conn = c.connections[0]!;
  assert.equal(conn.part, 1);
  const order = (kind: string) =>
    conn.packets.find((p) => p.kind === kind)?.hops.map((h) => h.name);
  assert.deepEqual(order('first'), ['sleep', 'worker2', 'ztunnel-worker2']);
  assert.deepEqual(order('first-reply'), ['ztunnel-worker2', 'worker2', 'sleep']);
  assert.deepEqual(order('later'), ['sleep', 'worker2', 'ztunnel-worker2']);
  assert.deepEqual(order('later-reply'), ['ztunnel-worker2', 'worker2', 'sleep']);
});

void test('the rendered path reads like the seeds: rules, marks, ip rule, table, TPROXY', async () => {
  const c = correlate(buildTraversals(parseMonitorLines(sampleLines())), {
    clientIp: '10.244.2.8',
    clientPort: 41234,
    names,
    topology: topo,
  });
  // Recorded answers of `ip route get` in the fixture's namespaces.
  const answers: Record<string, string> = {
    'tr0000-w2 10.96.0.105 256':
      '10.96.0.105 from 10.244.2.8 via 192.168.127.2 dev istioout table 101 mark 0x100',
    'tr0000-w2 10.96.0.105 64':
      '10.96.0.105 from 10.244.2.8 via 10.244.2.3 dev veth51e3b96d table 102 mark 0x40',
    'tr0000-w2 10.244.2.8 528': '10.244.2.8 from 10.96.0.105 dev vethbda3de4b mark 0x210',
    'tr0000-zA 10.96.0.105 1024': 'local 10.96.0.105 from 10.244.2.8 dev lo table 100 mark 0x400',
    'tr0000-zA 10.96.0.105 1235': 'local 10.96.0.105 from 10.244.2.8 dev lo table 100 mark 0x4d3',
    'tr0000-zA 10.244.2.8 0': '10.244.2.8 via 10.244.2.1 dev eth0 src 10.244.2.3 uid 0',
    'tr0000-sl 10.96.0.105 0': '10.96.0.105 from 10.244.2.8 via 10.244.2.1 dev eth0 uid 0',
    'tr0000-sl 10.244.2.8 0': 'local 10.244.2.8 from 10.96.0.105 dev lo',
  };
  const asked: string[] = [];
  await addRoutes(c, {
    routeGet: (netns, q) => {
      const k = `${netns} ${q.dst} ${q.mark ?? 0}`;
      asked.push(k);
      const text = answers[k];
      return Promise.resolve(text ? { ok: true, text } : { ok: false, text: 'no answer' });
    },
    rules: (netns) => Promise.resolve(netns.endsWith('zA') ? ZTUNNEL_RULES : NODE_RULES),
  });
  const text = renderPath({ connections: c.connections, namespaces: [], warnings: [] });
  const lines = text.split('\n');
  const idx = (re: RegExp) => {
    const i = lines.findIndex((l) => re.test(l));
    assert.ok(i >= 0, `missing ${re} in\n${text}`);
    return i;
  };
  const steps = [
    /^Part 1 — sleep → ztunnel-worker2/,
    /first packet \(SYN\)/,
    /\[sleep\] from a local socket → out eth0/,
    /\[worker2\] in vethbda3de4b → out istioout/,
    /mangle ztunnel-PREROUTING: -p tcp -m set --match-set ztunnel-pods-ips src -j MARK --set-xmark 0x100\/0x100 → mark 0x100/,
    /rule 101: from all fwmark 0x100\/0x100 lookup 101 → .*dev istioout table 101/,
    /\[ztunnel-worker2\] in pistioout → to local socket 127\.0\.0\.1:15001/,
    /TPROXY → 127\.0\.0\.1:15001/,
    /rule 20000: from all fwmark 0x400\/0xfff lookup 100 → local 10\.96\.0\.105/,
    /first reply \(SYN-ACK\)/,
    /-i veth51e3b96d -j MARK --set-xmark 0x210\/0x210 → mark 0x210/,
    /rule 100: from all fwmark 0x200\/0x200 goto 32766 ⇒ 32766: from all lookup main/,
    /CONNMARK --save-mark --nfmask 0x210 --ctmask 0x210/,
    /later packet/,
    /connmark --mark 0x210\/0x210 -j MARK --set-xmark 0x40\/0x40 → mark 0x40/,
    /rule 102: from all fwmark 0x40\/0x40 lookup 102 → .*dev veth51e3b96d table 102/,
    /\[ztunnel-worker2\] in eth0/,
    /-j MARK --set-xmark 0x4d3\/0xfff → mark 0x4d3/,
    /rule 20003: .*lookup 100 → local 10\.96\.0\.105/,
  ];
  let last = -1;
  for (const re of steps) {
    const i = idx(re);
    assert.ok(i > last, `${re} out of order in\n${text}`);
    last = i;
  }
  assert.ok(asked.length > 0);
});

void test('topology: veth peers by ifindex and namespace id, tunnel pairs, bridges', async () => {
  const { buildTopology } = await import('../../src/trace/topology.js');
  const veth = (ifname: string, ifindex: number, link: number, nsid: number) => ({
    ifname,
    ifindex,
    link_index: link,
    link_netnsid: nsid,
    linkinfo: { info_kind: 'veth' },
  });
  // Two nodes whose pod veths have the same ifindex pairs: only the namespace id tells them apart.
  const topo = buildTopology(
    new Map([
      [
        'n1',
        {
          links: [
            veth('vethA', 6, 2, 0),
            { ifname: 'istioout', ifindex: 9, linkinfo: { info_kind: 'vxlan' } },
          ],
          nsids: new Map([[0, 'z1']]),
        },
      ],
      ['n2', { links: [veth('vethB', 6, 2, 0)], nsids: new Map([[0, 'z2']]) }],
      [
        'z1',
        {
          links: [
            veth('eth0', 2, 6, 0),
            { ifname: 'pistioout', ifindex: 4, linkinfo: { info_kind: 'vxlan' } },
          ],
          nsids: new Map([[0, 'n1']]),
        },
      ],
      ['z2', { links: [veth('eth0', 2, 6, 0)], nsids: new Map([[0, 'n2']]) }],
      [
        'ul',
        {
          links: [{ ifname: 'br0', ifindex: 2, linkinfo: { info_kind: 'bridge' } }],
          nsids: new Map(),
        },
      ],
    ]),
  );
  assert.deepEqual(topo.peers.get('n1/vethA'), { netns: 'z1', dev: 'eth0' });
  assert.deepEqual(topo.peers.get('n2/vethB'), { netns: 'z2', dev: 'eth0' });
  assert.deepEqual(topo.peers.get('z2/eth0'), { netns: 'n2', dev: 'vethB' });
  assert.deepEqual(topo.peers.get('n1/istioout'), { netns: 'z1', dev: 'pistioout' });
  assert.ok(topo.bridges.has('ul') && topo.bridgeDevs?.has('ul/br0'));
});
