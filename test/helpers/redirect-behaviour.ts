/**
 * The capture conformance suite, behaviour half: what every redirection backend must do to
 * real connections, observed only where an application would see it (which listener got the
 * connection, with which original source and destination, how many request bytes arrived)
 * and in whole-kernel snapshots. It reads no rule of any backend, so iptables and eBPF run it
 * unchanged. A backend's own listings plug in through `extra` (they share the topology).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RedirectBackend, ZtunnelTarget } from '../../src/redirect/types.js';
import { connectInNetns, listen } from '../../src/sys/socket.js';
import { eventually } from './net.js';
import {
  type KernelState,
  curlFrom,
  kernelState,
  startCaptureListeners,
  startHttpbin,
  startUdpEcho,
  udpAsk,
} from './redirect-probe.js';
import { skipUnlessRoot } from './root.js';
import type { CaptureTopology, TopoNode, TopoPod } from './redirect-topology.js';

export type BackendFactory = (node: TopoNode, stateFile: string) => RedirectBackend;
type Listeners = Awaited<ReturnType<typeof startCaptureListeners>>;

/** What the suite has set up, for a backend's own tests registered through `extra`. */
export interface CaptureContext {
  t: CaptureTopology;
  /** worker2: sleep, other, ztunnel A. */
  bA: RedirectBackend;
  /** worker: httpbin, ztunnel B. */
  bB: RedirectBackend;
  zA: Listeners;
  zB: Listeners;
  httpbin: Awaited<ReturnType<typeof startHttpbin>>;
  cleanups: (() => Promise<unknown>)[];
  url: () => string;
  ztOf: (p: TopoPod, dnsCapture?: boolean) => ZtunnelTarget;
}

export interface ConformanceOptions {
  name: string;
  backendFactory: BackendFactory;
  topologyFactory: () => Promise<CaptureTopology>;
  /** Backend-specific tests, run after install and before the behaviour tests. */
  extra?: (ctx: () => CaptureContext) => void;
  /** Backend-specific tests after the rewire test (the old ztunnel is `t.ztunnelA`). */
  afterRewire?: (ctx: () => CaptureContext) => void;
  /** Backend-specific checks after uninstall (objects outside the node netns, e.g. pins). */
  afterUninstall?: (ctx: () => CaptureContext) => void;
  /** hono's pattern: tests a backend cannot pass yet, each with its reason. */
  skip?: { reason: string; tests: string[] }[];
}

export const ztOf = (p: TopoPod, dnsCapture = false): ZtunnelTarget => ({
  podIp: p.ip,
  hostVeth: p.hostVeth,
  netns: p.netns,
  dnsCapture,
});

/** A port of httpbin's pod no other case uses: an echo server for the open-connection case. */
const ECHO_PORT = 7007;

/** Several TCP segments: a request this size proves later packets follow the first. */
const BIG_BODY = 'x'.repeat(200_000);

/**
 * An echo server in `serverNs` and one open connection to it from `clientNs`; `echoed` writes a
 * line and waits for it to come back.
 */
async function openEcho(serverNs: string, clientNs: string, ip: string) {
  const accepted = new Set<net.Socket>();
  const echo = net.createServer((s) => {
    accepted.add(s);
    s.on('error', () => undefined).pipe(s);
  });
  await listen(echo, { host: '0.0.0.0', port: ECHO_PORT, netns: serverNs });
  const conn = connectInNetns(clientNs, ip, ECHO_PORT);
  conn.setEncoding('utf8');
  let got = '';
  conn.on('data', (d: string) => (got += d));
  conn.on('error', () => undefined);
  // A stranded connection never ends by itself: close() ends both sides and the server.
  const close = async () => {
    conn.destroy();
    for (const a of accepted) a.destroy();
    await new Promise<void>((r) => echo.close(() => r()));
  };
  try {
    await once(conn, 'connect');
  } catch (err) {
    await close();
    throw err;
  }
  return {
    close,
    echoed: (line: string) => {
      const want = got + line;
      conn.write(line);
      return eventually(`"${line.trim()}" echoed on the open connection`, () => got === want, 5000);
    },
  };
}

/**
 * Opens a connection from `netns` to `host:port` every 2 ms (at most 2000) until `work` settles
 * and 100 ms after, each dropped after 300 ms whether it connected or not: new connections
 * start all through a change of the node's capture, not only after each one ends. Returns how
 * many were started.
 */
async function connectWhile(
  netns: string,
  host: string,
  port: number,
  work: Promise<void>,
): Promise<number> {
  const open = new Set<net.Socket>();
  let started = 0;
  const timer = setInterval(() => {
    if (started >= 2000) return;
    started++;
    const s = connectInNetns(netns, host, port);
    open.add(s);
    s.on('error', () => undefined);
    s.setTimeout(300, () => s.destroy());
    s.on('close', () => open.delete(s));
  }, 2);
  try {
    await work;
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    clearInterval(timer);
    for (const s of open) s.destroy();
  }
  return started;
}

export function runCaptureConformance(o: ConformanceOptions): void {
  const skipped = (name: string): string | undefined =>
    o.skip?.find((s) => s.tests.includes(name))?.reason;
  const it = (name: string, fn: () => Promise<void>) =>
    test(name, { timeout: 60_000, skip: skipped(name) }, fn);

  void describe(
    `capture conformance: ${o.name}`,
    { skip: skipUnlessRoot, timeout: 600_000 },
    () => {
      const c = {
        cleanups: [],
        url: () => `http://${c.t.clusterIp}:${c.t.clusterPort}/`,
        ztOf,
      } as unknown as CaptureContext;
      let dir: string;
      let preA: KernelState;
      let preB: KernelState;
      const stateA = () => join(dir, 'worker2.json');
      const stateB = () => join(dir, 'worker.json');

      before(async () => {
        c.t = await o.topologyFactory();
        dir = mkdtempSync(join(tmpdir(), 'ambit-redirect-'));
        preA = await kernelState(c.t.worker2.netns);
        preB = await kernelState(c.t.worker.netns);
        c.zA = await startCaptureListeners(c.t.ztunnelA.netns, 'ztunnel-a');
        c.zB = await startCaptureListeners(c.t.ztunnelB.netns, 'ztunnel-b');
        c.httpbin = await startHttpbin(c.t.httpbin.netns);
        c.cleanups.push(
          () => c.zA.close(),
          () => c.zB.close(),
          () => c.httpbin.close(),
        );
      });

      after(async () => {
        for (const f of c.cleanups.reverse()) await f().catch(() => undefined);
        await c.bA?.uninstall().catch(() => undefined);
        await c.bB?.uninstall().catch(() => undefined);
        await c.t?.destroy();
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      void it('install: ztunnels wired, sleep and httpbin enrolled', async () => {
        const { t } = c;
        c.bA = o.backendFactory(t.worker2, stateA());
        c.bB = o.backendFactory(t.worker, stateB());
        await c.bA.setZtunnel(ztOf(t.ztunnelA));
        await c.bB.setZtunnel(ztOf(t.ztunnelB));
        await c.bA.addPod({ ip: t.sleep.ip, uid: t.sleep.uid, hostVeth: t.sleep.hostVeth });
        await c.bB.addPod({ ip: t.httpbin.ip, uid: t.httpbin.uid, hostVeth: t.httpbin.hostVeth });
        assert.deepEqual([...(await c.bA.capturedPods())], [[t.sleep.ip, t.sleep.uid]]);
        assert.deepEqual([...(await c.bB.capturedPods())], [[t.httpbin.ip, t.httpbin.uid]]);
      });

      o.extra?.(() => c);

      void it('outbound: first and later packets reach ztunnel :15001 with the original source and destination', async () => {
        const { t, zA, httpbin } = c;
        const seen = zA.seen.length;
        const body = await curlFrom(t.sleep.netns, c.url(), 10, BIG_BODY);
        assert.equal(body?.label, 'ztunnel-a', 'the connection completed through ztunnel A');
        const hit = zA.seen[seen];
        assert.deepEqual(
          { port: hit?.port, local: hit?.local, src: hit?.remote.split(':')[0] },
          { port: 15001, local: `${t.clusterIp}:${t.clusterPort}`, src: t.sleep.ip },
        );
        assert.ok((hit?.received ?? 0) > BIG_BODY.length, `all of the request: ${hit?.received}`);
        assert.equal(httpbin.seen.length, 0, 'nothing bypassed ztunnel to reach httpbin');
      });

      void it('inbound HBONE: another node to a local enrolled pod:15008 reaches ztunnel :15008', async () => {
        const { t, zA, zB } = c;
        const [a, b] = [zA.seen.length, zB.seen.length];
        const body = await curlFrom(
          t.ztunnelA.netns,
          `http://${t.httpbin.ip}:15008/`,
          10,
          BIG_BODY,
        );
        assert.equal(body?.label, 'ztunnel-b');
        const hit = zB.seen[b];
        assert.deepEqual(
          { port: hit?.port, local: hit?.local, src: hit?.remote.split(':')[0] },
          { port: 15008, local: `${t.httpbin.ip}:15008`, src: t.ztunnelA.ip },
        );
        assert.ok((hit?.received ?? 0) > BIG_BODY.length);
        assert.equal(zA.seen.length, a, "ztunnel A's own connection was not captured");
      });

      void it('inbound plaintext: another port of a local enrolled pod reaches ztunnel :15006', async () => {
        const { t, zB, httpbin } = c;
        const [b, h] = [zB.seen.length, httpbin.seen.length];
        const body = await curlFrom(t.ztunnelA.netns, `http://${t.httpbin.ip}:80/`);
        assert.equal(body?.label, 'ztunnel-b');
        const hit = zB.seen[b];
        assert.deepEqual(
          { port: hit?.port, local: hit?.local, src: hit?.remote.split(':')[0] },
          { port: 15006, local: `${t.httpbin.ip}:80`, src: t.ztunnelA.ip },
        );
        assert.equal(httpbin.seen.length, h);
      });

      void it('probes from the host IP reach the pod itself', async () => {
        const { t, zA } = c;
        const app = await startHttpbin(t.sleep.netns, 8080);
        try {
          const seen = zA.seen.length;
          const body = await curlFrom(t.worker2.netns, `http://${t.sleep.ip}:8080/`);
          assert.deepEqual(body, { label: 'httpbin', remote: t.worker2.hostIp });
          assert.equal(zA.seen.length, seen);
        } finally {
          await app.close();
        }
      });

      void it("unenrolled pods and ztunnel's own traffic are not captured", async () => {
        const { t, zA, zB, bB } = c;
        const [a, b] = [zA.seen.length, zB.seen.length];
        // httpbin leaves the mesh on its node, so "other" → httpbin is plain Kubernetes.
        await bB.removePod(t.httpbin.ip);
        try {
          assert.deepEqual([...(await bB.capturedPods())], []);
          assert.deepEqual(await curlFrom(t.other.netns, c.url()), {
            label: 'httpbin',
            remote: t.other.ip,
          });
          assert.deepEqual(await curlFrom(t.ztunnelA.netns, `http://${t.httpbin.ip}/`), {
            label: 'httpbin',
            remote: t.ztunnelA.ip,
          });
        } finally {
          await bB.addPod({ ip: t.httpbin.ip, uid: t.httpbin.uid, hostVeth: t.httpbin.hostVeth });
        }
        assert.deepEqual([zA.seen.length, zB.seen.length], [a, b]);
      });

      void it('enrolment does not strand connections already open to or from the pod; new ones are captured', async () => {
        const { t, zB, bB } = c;
        const httpbin = { ip: t.httpbin.ip, uid: t.httpbin.uid, hostVeth: t.httpbin.hostVeth };
        await bB.removePod(t.httpbin.ip);
        // One connection to the pod (other → httpbin) and one from it (httpbin → other).
        const inbound = await openEcho(t.httpbin.netns, t.other.netns, t.httpbin.ip);
        const outbound = await openEcho(t.other.netns, t.httpbin.netns, t.other.ip).catch(
          async (err: unknown) => {
            await inbound.close();
            throw err;
          },
        );
        try {
          await inbound.echoed('before enrolment\n');
          await outbound.echoed('before enrolment\n');
          await bB.addPod(httpbin);
          // Both directions of the old connections, several times, after the capture is in place.
          for (let i = 1; i <= 3; i++) {
            await inbound.echoed(`after enrolment ${i}\n`);
            await outbound.echoed(`after enrolment ${i}\n`);
          }
          const b = zB.seen.length;
          const body = await curlFrom(t.other.netns, `http://${t.httpbin.ip}:80/`);
          assert.equal(
            body?.label,
            'ztunnel-b',
            'a new connection to the enrolled pod is captured',
          );
          assert.equal(zB.seen.length, b + 1);
        } finally {
          await inbound.close();
          await outbound.close();
          await bB.addPod(httpbin);
        }
      });

      void it('UDP is not captured; with DNS capture, UDP/53 goes to ztunnel :15053', async () => {
        const { t, bA } = c;
        const echo = await startUdpEcho(t.ztunnelA.netns, 15053);
        c.cleanups.push(() => echo.stop());
        assert.equal(await udpAsk(t.sleep.netns, '10.96.0.99', 53, 1000), undefined);
        await bA.setZtunnel(ztOf(t.ztunnelA, true));
        try {
          const reply = await udpAsk(t.sleep.netns, '10.96.0.99', 53);
          assert.equal(reply, `echo ${t.sleep.ip} from 10.96.0.99:53`);
          assert.equal(
            await udpAsk(t.other.netns, '10.96.0.99', 53, 1000),
            undefined,
            'unenrolled',
          );
        } finally {
          await bA.setZtunnel(ztOf(t.ztunnelA, false));
          await echo.stop();
        }
        assert.equal(await udpAsk(t.sleep.netns, '10.96.0.99', 53, 1000), undefined, 'off again');
      });

      void it('restart: a new backend instance converges to the same kernel state', async () => {
        const { t } = c;
        const before = await kernelState(t.worker2.netns);
        c.bA = o.backendFactory(t.worker2, stateA());
        assert.deepEqual([...(await c.bA.capturedPods())], [[t.sleep.ip, t.sleep.uid]]);
        await c.bA.setZtunnel(ztOf(t.ztunnelA));
        await c.bA.addPod({ ip: t.sleep.ip, uid: t.sleep.uid, hostVeth: t.sleep.hostVeth });
        await c.bA.setZtunnel(ztOf(t.ztunnelA));
        assert.deepEqual(await kernelState(t.worker2.netns), before);
        assert.equal((await curlFrom(t.sleep.netns, c.url()))?.label, 'ztunnel-a');
      });

      void it('fail closed: with no ztunnel listening, captured traffic does not reach httpbin', async () => {
        const { t, httpbin } = c;
        const before = await kernelState(t.worker2.netns);
        await c.zA.close();
        await c.bA.setZtunnel(null);
        assert.deepEqual(await kernelState(t.worker2.netns), before, 'capture stays in place');
        const seen = httpbin.seen.length;
        assert.equal(await curlFrom(t.sleep.netns, c.url(), 2), undefined);
        assert.equal(httpbin.seen.length, seen);
      });

      void it('rewire: a new ztunnel (new IP, new veth) takes over, pods stay enrolled, nothing escapes capture meanwhile', async () => {
        const { t } = c;
        const z2 = await t.addPod('ztunnel-a2', t.worker2, '10.244.2.4');
        const l2 = await startCaptureListeners(z2.netns, 'ztunnel-a2');
        c.cleanups.push(() => l2.close());
        // sleep → other (unenrolled, same node): captured, each reaches ztunnel; escaped, other.
        let escaped = 0;
        const direct = net.createServer((s) => {
          escaped++;
          s.on('error', () => undefined).destroy();
        });
        await listen(direct, { host: '0.0.0.0', port: ECHO_PORT, netns: t.other.netns });
        let started = 0;
        try {
          started = await connectWhile(
            t.sleep.netns,
            t.other.ip,
            ECHO_PORT,
            c.bA.setZtunnel(ztOf(z2)),
          );
        } finally {
          await new Promise<void>((r) => direct.close(() => r()));
        }
        assert.ok(started > 10, `connections were opened all through the rewire: ${started}`);
        assert.equal(
          escaped,
          0,
          `of the ${started} connections opened during the rewire, ${escaped} went around ztunnel`,
        );
        const body = await curlFrom(t.sleep.netns, c.url(), 10, BIG_BODY);
        assert.equal(body?.label, 'ztunnel-a2');
        assert.ok((l2.seen.at(-1)?.received ?? 0) > BIG_BODY.length);
        assert.deepEqual([...(await c.bA.capturedPods())], [[t.sleep.ip, t.sleep.uid]]);
      });

      o.afterRewire?.(() => c);

      void it('uninstall returns each node to its exact pre-install state', async () => {
        const { t } = c;
        await c.bA.uninstall();
        await c.bB.uninstall();
        assert.deepEqual([...(await c.bA.capturedPods())], []);
        const postA = await kernelState(t.worker2.netns);
        const postB = await kernelState(t.worker.netns);
        // Veths of pods the suite added since (the rewire's ztunnel) are not ours to undo.
        const strip = (s: KernelState, dev: string) => ({
          ...s,
          links: s.links.replace(new RegExp(`${dev}@\\S+ \\S+ \\S+ <[^>]*> ?`), ''),
          routes: s.routes
            .split('\n')
            .filter((l) => !l.includes(dev))
            .join('\n'),
          tc: s.tc
            .split('\n')
            .filter((l) => !l.includes(dev))
            .join('\n'),
        });
        const added = (postA.links.match(/veth[0-9a-f]{8}/g) ?? []).filter(
          (d) => !preA.links.includes(d),
        );
        assert.deepEqual(added.reduce(strip, postA), preA);
        assert.deepEqual(postB, preB);
      });

      o.afterUninstall?.(() => c);
    },
  );
}
