/**
 * The capture conformance suite: what every redirection backend must do to real packets, the
 * seeds' traffic path checked with kernel counters. A backend plugs in through
 * `backendFactory`; the cluster comes from `topologyFactory` (the ip-command fixture or a lab).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RedirectBackend, ZtunnelTarget } from '../../src/redirect/types.js';
import { run } from '../../src/sys/exec.js';
import {
  type KernelState,
  conntrackWithMark,
  curlFrom,
  kernelState,
  linkPackets,
  routeGet,
  rulePackets,
  startCaptureListeners,
  startHttpbin,
  startUdpEcho,
  udpAsk,
} from './redirect-probe.js';
import { skipUnlessRoot } from './root.js';
import type { CaptureTopology, TopoNode, TopoPod } from './redirect-topology.js';

export type BackendFactory = (node: TopoNode, stateFile: string) => RedirectBackend;

const ztOf = (p: TopoPod, dnsCapture = false): ZtunnelTarget => ({
  podIp: p.ip,
  hostVeth: p.hostVeth,
  netns: p.netns,
  dnsCapture,
});

/**
 * One packet (the SYN), or two when the tunnel's neighbour had to be resolved first; where the
 * topology's devices also carry other chatter (IPv6), at least one.
 */
const CAPTURE =
  '-A ztunnel-PREROUTING -p tcp -m set --match-set ztunnel-pods-ips src -j MARK --set-xmark 0x100/0x100';

function assertOneOrArp(delta: number, quiet = true): void {
  if (quiet) assert.ok(delta === 1 || delta === 2, `expected the SYN (+ARP), got ${delta} packets`);
  else assert.ok(delta >= 1, `expected the SYN through the device, got ${delta} packets`);
}

export function runCaptureConformance(
  backendName: string,
  backendFactory: BackendFactory,
  topologyFactory: () => Promise<CaptureTopology>,
): void {
  void describe(
    `capture conformance: ${backendName}`,
    { skip: skipUnlessRoot, timeout: 600_000 },
    () => {
      let t: CaptureTopology;
      let dir: string;
      let bA: RedirectBackend; // worker2: sleep, other, ztunnel A
      let bB: RedirectBackend; // worker: httpbin, ztunnel B
      let preA: KernelState;
      let preB: KernelState;
      let zA: Awaited<ReturnType<typeof startCaptureListeners>>;
      let zB: Awaited<ReturnType<typeof startCaptureListeners>>;
      let httpbin: Awaited<ReturnType<typeof startHttpbin>>;
      const cleanups: (() => Promise<unknown>)[] = [];
      const stateA = () => join(dir, 'worker2.json');
      const stateB = () => join(dir, 'worker.json');
      const mangle = (node: TopoNode, rule: string) => rulePackets(node.netns, 'mangle', rule);
      const url = () => `http://${t.clusterIp}:${t.clusterPort}/`;

      before(async () => {
        t = await topologyFactory();
        dir = mkdtempSync(join(tmpdir(), 'ambit-redirect-'));
        preA = await kernelState(t.worker2.netns);
        preB = await kernelState(t.worker.netns);
        zA = await startCaptureListeners(t.ztunnelA.netns, 'ztunnel-a');
        zB = await startCaptureListeners(t.ztunnelB.netns, 'ztunnel-b');
        httpbin = await startHttpbin(t.httpbin.netns);
        cleanups.push(
          () => zA.close(),
          () => zB.close(),
          () => httpbin.close(),
        );
      });

      after(async () => {
        for (const c of cleanups.reverse()) await c().catch(() => undefined);
        await bA?.uninstall().catch(() => undefined);
        await bB?.uninstall().catch(() => undefined);
        await t?.destroy();
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      void test(
        'install: ztunnels wired, sleep and httpbin enrolled',
        { timeout: 60_000 },
        async () => {
          bA = backendFactory(t.worker2, stateA());
          bB = backendFactory(t.worker, stateB());
          await bA.setZtunnel(ztOf(t.ztunnelA));
          await bB.setZtunnel(ztOf(t.ztunnelB));
          await bA.addPod({ ip: t.sleep.ip, uid: t.sleep.uid, hostVeth: t.sleep.hostVeth });
          await bB.addPod({ ip: t.httpbin.ip, uid: t.httpbin.uid, hostVeth: t.httpbin.hostVeth });
          assert.deepEqual([...(await bA.capturedPods())], [[t.sleep.ip, t.sleep.uid]]);
        },
      );

      void test(
        "ip rule is the seeds' seven-line listing; tables 101/102 as in the seeds",
        { timeout: 60_000 },
        async () => {
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
            (
              await run('ip', ['route', 'show', 'table', String(n)], { netns: t.worker2.netns })
            ).stdout
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
        'outbound: first SYN via istioout→pistioout→15001, later packets via the ztunnel veth',
        { timeout: 60_000 },
        async () => {
          const n = t.worker2;
          const v = t.ztunnelA.hostVeth;
          const capture =
            '-A ztunnel-PREROUTING -p tcp -m set --match-set ztunnel-pods-ips src -j MARK --set-xmark 0x100/0x100';
          const proxyMark = `-A ztunnel-PREROUTING ! -s 10.244.2.3/32 -i ${v} -j MARK --set-xmark 0x210/0x210`;
          const retMark = `-A ztunnel-PREROUTING ! -i ${v} -m connmark --mark 0x210/0x210 -j MARK --set-xmark 0x40/0x40`;
          const tproxy15001 =
            '-A PREROUTING -i pistioout -p tcp -j TPROXY --on-port 15001 --on-ip 127.0.0.1 --tproxy-mark 0x400/0xfff';
          const origSrc =
            '-A PREROUTING ! -d 10.244.2.3/32 -i eth0 -p tcp -j MARK --set-xmark 0x4d3/0xfff';
          const b = {
            capture: await mangle(n, capture),
            proxyMark: await mangle(n, proxyMark),
            retMark: await mangle(n, retMark),
            tproxy: await rulePackets(t.ztunnelA.netns, 'mangle', tproxy15001),
            origSrc: await rulePackets(t.ztunnelA.netns, 'mangle', origSrc),
            istioout: await linkPackets(n.netns, 'istioout'),
            pistioout: await linkPackets(t.ztunnelA.netns, 'pistioout'),
            zveth: await linkPackets(n.netns, v),
          };
          const seenBefore = zA.seen.length;
          const body = await curlFrom(t.sleep.netns, url());
          assert.ok(body, 'the connection completed through the fixture');
          assert.equal(body.label, 'ztunnel-a');
          const hit = zA.seen[seenBefore];
          assert.deepEqual(
            { port: hit?.port, local: hit?.local, src: hit?.remote.split(':')[0] },
            { port: 15001, local: `${t.clusterIp}:${t.clusterPort}`, src: t.sleep.ip },
          );
          // The SYN alone took the tunnel: exactly one TCP packet captured; through istioout
          // that one plus, on the tunnel's first use, the ARP for 192.168.127.2.
          assert.equal((await mangle(n, capture)) - b.capture, 1);
          assertOneOrArp(
            (await linkPackets(n.netns, 'istioout')).tx - b.istioout.tx,
            t.quietDevices,
          );
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
          assert.equal(httpbin.seen.length, 0, 'nothing bypassed ztunnel to reach httpbin');
        },
      );

      void test(
        'inbound: another node to a local enrolled pod:15008 via rule 103, table 100, istioin, pistioin',
        { timeout: 60_000 },
        async () => {
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
          const seenBefore = zB.seen.length;
          const body = await curlFrom(t.ztunnelA.netns, `http://${t.httpbin.ip}:15008/`);
          assert.equal(body?.label, 'ztunnel-b');
          const hit = zB.seen[seenBefore];
          assert.deepEqual(
            { port: hit?.port, local: hit?.local, src: hit?.remote.split(':')[0] },
            { port: 15008, local: `${t.httpbin.ip}:15008`, src: t.ztunnelA.ip },
          );
          assertOneOrArp((await linkPackets(n.netns, 'istioin')).tx - b.istioin.tx, t.quietDevices);
          assertOneOrArp(
            (await linkPackets(t.ztunnelB.netns, 'pistioin')).rx - b.pistioin.rx,
            t.quietDevices,
          );
          assert.equal((await rulePackets(t.ztunnelB.netns, 'mangle', tproxy15008)) - b.tproxy, 1);
          // ztunnel A's own connection was not captured on its node.
          if (t.quietDevices) {
            assert.equal((await linkPackets(t.worker2.netns, 'istioout')).tx, b.aOut.tx);
          }
          assert.equal(await mangle(t.worker2, CAPTURE), b.aCapture);
        },
      );

      void test(
        "unenrolled pods and ztunnel's own traffic are not captured",
        { timeout: 60_000 },
        async () => {
          const n = t.worker2;
          const own = `-A ztunnel-PREROUTING -i ${t.ztunnelA.hostVeth} -j MARK --set-xmark 0x220/0x220`;
          const b = {
            out: await linkPackets(n.netns, 'istioout'),
            own: await mangle(n, own),
            capture: await mangle(n, CAPTURE),
          };
          // httpbin leaves the mesh on its node, so "other" → httpbin is plain Kubernetes.
          await bB.removePod(t.httpbin.ip);
          try {
            const body = await curlFrom(t.other.netns, url());
            assert.deepEqual(body, { label: 'httpbin', remote: t.other.ip });
            const mine = await curlFrom(t.ztunnelA.netns, `http://${t.httpbin.ip}/`);
            assert.deepEqual(mine, { label: 'httpbin', remote: t.ztunnelA.ip });
          } finally {
            await bB.addPod({ ip: t.httpbin.ip, uid: t.httpbin.uid, hostVeth: t.httpbin.hostVeth });
          }
          if (t.quietDevices) assert.equal((await linkPackets(n.netns, 'istioout')).tx, b.out.tx);
          assert.equal(await mangle(n, CAPTURE), b.capture);
          assert.ok(
            (await mangle(n, own)) > b.own,
            "ztunnel's own packets were conn-skipped (0x220)",
          );
        },
      );

      void test(
        'UDP is not captured; with DNS capture, UDP/53 goes to ztunnel:15053',
        { timeout: 60_000 },
        async () => {
          const n = t.worker2;
          const udpSkip = '-A ztunnel-PREROUTING -p udp -j MARK --set-xmark 0x220/0x220';
          const echo = await startUdpEcho(t.ztunnelA.netns, 15053);
          cleanups.push(() => echo.stop());
          const b = { skip: await mangle(n, udpSkip), out: await linkPackets(n.netns, 'istioout') };
          assert.equal(await udpAsk(t.sleep.netns, '10.96.0.99', 53, 1000), undefined);
          assert.ok((await mangle(n, udpSkip)) > b.skip);
          await bA.setZtunnel(ztOf(t.ztunnelA, true));
          try {
            const dnat = `-A ztunnel-PREROUTING -p udp -m set --match-set ztunnel-pods-ips src -m udp --dport 53 -j DNAT --to-destination ${t.ztunnelA.ip}:15053`;
            const d0 = await rulePackets(n.netns, 'nat', dnat);
            const reply = await udpAsk(t.sleep.netns, '10.96.0.99', 53);
            assert.equal(reply, `echo ${t.sleep.ip} from 10.96.0.99:53`);
            assert.equal((await rulePackets(n.netns, 'nat', dnat)) - d0, 1);
            assert.equal(
              await udpAsk(t.other.netns, '10.96.0.99', 53, 1000),
              undefined,
              'unenrolled: no capture',
            );
            if (t.quietDevices) {
              assert.equal(
                (await linkPackets(n.netns, 'istioout')).tx,
                b.out.tx,
                'UDP never takes the tunnel',
              );
            }
          } finally {
            await bA.setZtunnel(ztOf(t.ztunnelA, false));
            await echo.stop();
          }
        },
      );

      void test(
        'restart: a new backend instance converges without duplicates',
        { timeout: 60_000 },
        async () => {
          const before = await kernelState(t.worker2.netns);
          bA = backendFactory(t.worker2, stateA());
          await bA.setZtunnel(ztOf(t.ztunnelA));
          await bA.addPod({ ip: t.sleep.ip, uid: t.sleep.uid, hostVeth: t.sleep.hostVeth });
          await bA.setZtunnel(ztOf(t.ztunnelA));
          assert.deepEqual(await kernelState(t.worker2.netns), before);
          assert.equal((await curlFrom(t.sleep.netns, url()))?.label, 'ztunnel-a');
        },
      );

      void test(
        'fail closed: with no ztunnel listening, captured traffic does not reach httpbin',
        { timeout: 60_000 },
        async () => {
          const before = await kernelState(t.worker2.netns);
          await zA.close();
          await bA.setZtunnel(null);
          assert.deepEqual(await kernelState(t.worker2.netns), before, 'rules stay in place');
          const seen = httpbin.seen.length;
          assert.equal(await curlFrom(t.sleep.netns, url(), 2), undefined);
          assert.equal(httpbin.seen.length, seen);
        },
      );

      void test(
        'rewire: a new ztunnel (new IP, new veth) takes over, pods stay enrolled',
        { timeout: 60_000 },
        async () => {
          const z2 = await t.addPod('ztunnel-a2', t.worker2, '10.244.2.4');
          const l2 = await startCaptureListeners(z2.netns, 'ztunnel-a2');
          cleanups.push(() => l2.close());
          await bA.setZtunnel(ztOf(z2));
          const body = await curlFrom(t.sleep.netns, url());
          assert.equal(body?.label, 'ztunnel-a2');
          assert.deepEqual([...(await bA.capturedPods())], [[t.sleep.ip, t.sleep.uid]]);
          const saved = (await run('iptables-save', ['-t', 'mangle'], { netns: t.worker2.netns }))
            .stdout;
          assert.ok(!saved.includes(t.ztunnelA.hostVeth), 'nothing left of the old ztunnel');
          assert.equal(saved.match(/^-A PREROUTING -j ztunnel-PREROUTING$/gm)?.length, 1);
          const oldSide = await run('ip', ['link', 'show', 'pistioin'], {
            netns: t.ztunnelA.netns,
            allowFail: true,
          });
          assert.notEqual(oldSide.code, 0, 'the old ztunnel netns was cleaned');
        },
      );

      void test(
        'uninstall returns each node to its exact pre-install state',
        { timeout: 60_000 },
        async () => {
          await bA.uninstall();
          await bB.uninstall();
          const postA = await kernelState(t.worker2.netns);
          const postB = await kernelState(t.worker.netns);
          // The rewire test added a pod (a veth): compare links apart from it.
          const strip = (s: KernelState, dev: string) => ({
            ...s,
            links: s.links.replace(new RegExp(`${dev}@\\S+ \\S+ \\S+ <[^>]*> ?`), ''),
            routes: s.routes
              .split('\n')
              .filter((l) => !l.includes(dev))
              .join('\n'),
          });
          // Veths of pods the suite added since (the rewire's ztunnel) are not ours to undo.
          const added = (postA.links.match(/veth[0-9a-f]{8}/g) ?? []).filter(
            (d) => !preA.links.includes(d),
          );
          assert.deepEqual(added.reduce(strip, postA), preA);
          assert.deepEqual(postB, preB);
        },
      );
    },
  );
}
