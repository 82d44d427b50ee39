/**
 * The capture conformance suite, iptables half: the seeds' rule listings and the kernel
 * counters that show each packet took the path the seeds describe (ipset mark, istioout →
 * pistioout → TPROXY for the first SYN, 0x210/0x40 for later packets, rule 103 → istioin for
 * inbound, 0x220 for ztunnel's own traffic, UDP skip and the DNS DNAT). Plugged into the
 * behaviour half through its `extra` / `afterRewire` hooks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run } from '../../src/sys/exec.js';
import { IPSET_NAME } from '../../src/redirect/constants.js';
import type { CaptureContext } from './redirect-behaviour.js';
import {
  conntrackWithMark,
  curlFrom,
  linkPackets,
  routeGet,
  rulePackets,
  startUdpEcho,
  udpAsk,
} from './redirect-probe.js';
import type { TopoNode } from './redirect-topology.js';

const CAPTURE =
  '-A ztunnel-PREROUTING -p tcp -m set --match-set ztunnel-pods-ips src -j MARK --set-xmark 0x100/0x100';
const mangle = (node: TopoNode, rule: string) => rulePackets(node.netns, 'mangle', rule);

/**
 * One packet (the SYN), or two when the tunnel's neighbour had to be resolved first; where the
 * topology's devices also carry other chatter (IPv6), at least one.
 */
function assertOneOrArp(delta: number, quiet = true): void {
  if (quiet) assert.ok(delta === 1 || delta === 2, `expected the SYN (+ARP), got ${delta} packets`);
  else assert.ok(delta >= 1, `expected the SYN through the device, got ${delta} packets`);
}

/** The set's `initval` is random per created set: the same value means the same set. */
const setInitval = (list: string): string | undefined => /initval (0x[0-9a-f]+)/.exec(list)?.[1];
const ipsetList = async (netns: string): Promise<string> =>
  (await run('ipset', ['list', IPSET_NAME], { netns })).stdout;
/** Each suite's set identity before its rewire (keyed by the suite's topology). */
const setBeforeRewire = new WeakMap<object, string>();

export function iptablesListings(ctx: () => CaptureContext): void {
  void test('iptables: the captured pods are the ipset members, with their uids', async () => {
    const { t } = ctx();
    const list = await ipsetList(t.worker2.netns);
    assert.match(
      list,
      new RegExp(`^${t.sleep.ip.replace(/\./g, '\\.')} comment "${t.sleep.uid}"$`, 'm'),
    );
    const initval = setInitval(list);
    assert.ok(initval, list);
    setBeforeRewire.set(t, initval);
  });
  const opts = { timeout: 60_000 };

  void test(
    "iptables: ip rule is the seeds' seven-line listing; tables 101/102 as in the seeds",
    opts,
    async () => {
      const { t } = ctx();
      const rules = (await run('ip', ['rule'], { netns: t.worker2.netns })).stdout;
      assert.equal(
        rules,
        [
          '0:\tfrom all lookup local',
          '100:\tfrom all fwmark 0x200/0x200 goto 32766',
          '101:\tfrom all fwmark 0x100/0x100 lookup 101',
          '102:\tfrom all fwmark 0x40/0x40 lookup 102',
          '103:\tfrom all lookup 100',
          '32766:\tfrom all lookup main',
          '32767:\tfrom all lookup default',
          '',
        ].join('\n'),
      );
      const show = async (n: number) =>
        (await run('ip', ['route', 'show', 'table', String(n)], { netns: t.worker2.netns })).stdout
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean);
      const v = t.ztunnelA.hostVeth;
      assert.deepEqual(await show(101), [
        'default via 192.168.127.2 dev istioout',
        `10.244.2.3 dev ${v} scope link`,
      ]);
      assert.deepEqual(await show(102), [
        `default via 10.244.2.3 dev ${v} onlink`,
        `10.244.2.3 dev ${v} scope link`,
      ]);
      const zrules = (await run('ip', ['rule'], { netns: t.ztunnelB.netns })).stdout;
      assert.match(zrules, /^20000:\tfrom all fwmark 0x400\/0xfff lookup 100$/m);
      assert.match(zrules, /^20003:\tfrom all fwmark 0x4d3\/0xfff lookup 100$/m);
    },
  );

  void test(
    'iptables: first SYN via istioout→pistioout→15001, later packets via the ztunnel veth',
    opts,
    async () => {
      const { t } = ctx();
      const n = t.worker2;
      const v = t.ztunnelA.hostVeth;
      const proxyMark = `-A ztunnel-PREROUTING ! -s 10.244.2.3/32 -i ${v} -j MARK --set-xmark 0x210/0x210`;
      const retMark = `-A ztunnel-PREROUTING ! -i ${v} -m connmark --mark 0x210/0x210 -j MARK --set-xmark 0x40/0x40`;
      const tproxy15001 =
        '-A PREROUTING -i pistioout -p tcp -j TPROXY --on-port 15001 --on-ip 127.0.0.1 --tproxy-mark 0x400/0xfff';
      const origSrc =
        '-A PREROUTING ! -d 10.244.2.3/32 -i eth0 -p tcp -j MARK --set-xmark 0x4d3/0xfff';
      const b = {
        capture: await mangle(n, CAPTURE),
        proxyMark: await mangle(n, proxyMark),
        retMark: await mangle(n, retMark),
        tproxy: await rulePackets(t.ztunnelA.netns, 'mangle', tproxy15001),
        origSrc: await rulePackets(t.ztunnelA.netns, 'mangle', origSrc),
        istioout: await linkPackets(n.netns, 'istioout'),
        pistioout: await linkPackets(t.ztunnelA.netns, 'pistioout'),
        zveth: await linkPackets(n.netns, v),
      };
      assert.equal((await curlFrom(t.sleep.netns, ctx().url()))?.label, 'ztunnel-a');
      // The SYN alone took the tunnel: exactly one TCP packet captured; through istioout
      // that one plus, on the tunnel's first use, the ARP for 192.168.127.2.
      assert.equal((await mangle(n, CAPTURE)) - b.capture, 1);
      assertOneOrArp((await linkPackets(n.netns, 'istioout')).tx - b.istioout.tx, t.quietDevices);
      assertOneOrArp(
        (await linkPackets(t.ztunnelA.netns, 'pistioout')).rx - b.pistioout.rx,
        t.quietDevices,
      );
      assert.equal((await rulePackets(t.ztunnelA.netns, 'mangle', tproxy15001)) - b.tproxy, 1);
      // Replies from the ztunnel veth with the spoofed source marked 0x210 …
      assert.ok((await mangle(n, proxyMark)) > b.proxyMark);
      // … so later client packets got 0x40, went through table 102 into the ztunnel veth,
      // and were delivered locally there via 0x4d3.
      assert.ok((await mangle(n, retMark)) > b.retMark);
      assert.ok((await linkPackets(n.netns, v)).tx > b.zveth.tx);
      assert.ok((await rulePackets(t.ztunnelA.netns, 'mangle', origSrc)) > b.origSrc);
      const ct = await conntrackWithMark(n.netns, '0x210/0x210', t.clusterIp);
      assert.ok(
        ct.some((l) => l.includes(`src=${t.sleep.ip}`)),
        `conntrack 0x210: ${ct.join('\n')}`,
      );
      assert.match(
        await routeGet(n.netns, [
          t.clusterIp,
          'from',
          t.sleep.ip,
          'iif',
          t.sleep.hostVeth,
          'mark',
          '0x40',
        ]),
        new RegExp(`via 10\\.244\\.2\\.3 dev ${v} table 102`),
      );
    },
  );

  void test(
    'iptables: inbound via rule 103, table 100, istioin, pistioin, TPROXY 15008',
    opts,
    async () => {
      const { t } = ctx();
      const n = t.worker;
      const tproxy15008 =
        '-A PREROUTING -i pistioin -p tcp -m tcp --dport 15008 -j TPROXY --on-port 15008 --on-ip 127.0.0.1 --tproxy-mark 0x400/0xfff';
      const b = {
        istioin: await linkPackets(n.netns, 'istioin'),
        pistioin: await linkPackets(t.ztunnelB.netns, 'pistioin'),
        tproxy: await rulePackets(t.ztunnelB.netns, 'mangle', tproxy15008),
        aOut: await linkPackets(t.worker2.netns, 'istioout'),
        aCapture: await mangle(t.worker2, CAPTURE),
      };
      assert.match(
        await routeGet(n.netns, [t.httpbin.ip, 'from', t.ztunnelA.ip, 'iif', 'eth0']),
        /via 192\.168\.126\.2 dev istioin table 100/,
      );
      assert.equal(
        (await curlFrom(t.ztunnelA.netns, `http://${t.httpbin.ip}:15008/`))?.label,
        'ztunnel-b',
      );
      assertOneOrArp((await linkPackets(n.netns, 'istioin')).tx - b.istioin.tx, t.quietDevices);
      assertOneOrArp(
        (await linkPackets(t.ztunnelB.netns, 'pistioin')).rx - b.pistioin.rx,
        t.quietDevices,
      );
      assert.equal((await rulePackets(t.ztunnelB.netns, 'mangle', tproxy15008)) - b.tproxy, 1);
      if (t.quietDevices) {
        assert.equal((await linkPackets(t.worker2.netns, 'istioout')).tx, b.aOut.tx);
      }
      assert.equal(await mangle(t.worker2, CAPTURE), b.aCapture);
    },
  );

  void test("iptables: ztunnel's own packets are conn-skipped (0x220)", opts, async () => {
    const { t } = ctx();
    const own = `-A ztunnel-PREROUTING -i ${t.ztunnelA.hostVeth} -j MARK --set-xmark 0x220/0x220`;
    const b = await mangle(t.worker2, own);
    await curlFrom(t.ztunnelA.netns, `http://${t.httpbin.ip}:15008/`);
    assert.ok((await mangle(t.worker2, own)) > b);
  });

  void test(
    'iptables: UDP skip mark; DNS capture DNATs UDP/53 to ztunnel:15053',
    opts,
    async () => {
      const c = ctx();
      const { t } = c;
      const n = t.worker2;
      const udpSkip = '-A ztunnel-PREROUTING -p udp -j MARK --set-xmark 0x220/0x220';
      const echo = await startUdpEcho(t.ztunnelA.netns, 15053);
      c.cleanups.push(() => echo.stop());
      const b = { skip: await mangle(n, udpSkip), out: await linkPackets(n.netns, 'istioout') };
      await udpAsk(t.sleep.netns, '10.96.0.99', 53, 1000);
      assert.ok((await mangle(n, udpSkip)) > b.skip);
      await c.bA.setZtunnel(c.ztOf(t.ztunnelA, true));
      try {
        const dnat = `-A ztunnel-PREROUTING -p udp -m set --match-set ztunnel-pods-ips src -m udp --dport 53 -j DNAT --to-destination ${t.ztunnelA.ip}:15053`;
        const d0 = await rulePackets(n.netns, 'nat', dnat);
        assert.ok(await udpAsk(t.sleep.netns, '10.96.0.99', 53));
        assert.equal((await rulePackets(n.netns, 'nat', dnat)) - d0, 1);
        if (t.quietDevices) {
          assert.equal((await linkPackets(n.netns, 'istioout')).tx, b.out.tx, 'UDP never tunnels');
        }
      } finally {
        await c.bA.setZtunnel(c.ztOf(t.ztunnelA, false));
        await echo.stop();
      }
    },
  );
}

/** After the rewire: nothing of the old ztunnel is left in the node or its netns. */
export function iptablesAfterRewire(ctx: () => CaptureContext): void {
  void test(
    'iptables: the rewire left nothing of the old ztunnel',
    { timeout: 60_000 },
    async () => {
      const { t } = ctx();
      const saved = (await run('iptables-save', ['-t', 'mangle'], { netns: t.worker2.netns }))
        .stdout;
      assert.ok(!saved.includes(t.ztunnelA.hostVeth), 'no rule names the old ztunnel veth');
      assert.equal(saved.match(/^-A PREROUTING -j ztunnel-PREROUTING$/gm)?.length, 1);
      const oldSide = await run('ip', ['link', 'show', 'pistioin'], {
        netns: t.ztunnelA.netns,
        allowFail: true,
      });
      assert.notEqual(oldSide.code, 0, 'the old ztunnel netns was cleaned');
      for (const table of ['100', '101', '102']) {
        const routes = (
          await run('ip', ['route', 'show', 'table', table], { netns: t.worker2.netns })
        ).stdout;
        assert.doesNotMatch(routes, /blackhole/, `table ${table}: the rewire's hold is gone`);
        assert.ok(
          !routes.includes(t.ztunnelA.hostVeth),
          `table ${table}: no route via the old veth`,
        );
        assert.ok(
          !routes.split('\n').some((l) => l.startsWith(`${t.ztunnelA.ip} `)),
          `table ${table}: no route to the old ztunnel's address`,
        );
      }
    },
  );
  // Rules recreated over an emptied set would meet a pod's packets as ones between uncaptured
  // ends (connmark 0x80) and keep those connections off ztunnel for life.
  void test('iptables: the rewire kept the same ipset, members and all', async () => {
    const { t } = ctx();
    const list = await ipsetList(t.worker2.netns);
    assert.equal(setInitval(list), setBeforeRewire.get(t), 'not destroyed and created again');
    assert.match(list, new RegExp(`^${t.sleep.ip.replace(/\./g, '\\.')} comment`, 'm'));
  });
}
