/**
 * The trace monitor under a burst it cannot read in time (a busy machine): with the buffer
 * nftrace.ts forces on its netlink socket, a stopped monitor loses no event of a burst that
 * kills a monitor left with the kernel's default buffer (ENOBUFS), so the test can fail.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { run } from '../../src/sys/exec.js';
import { PROBE_PORT, TraceMonitor, armTrace, disarmTrace } from '../../src/sys/nftrace.js';
import { fixtureTag, removeStaleFixtures, skipUnlessRoot } from '../helpers/root.js';

const ns = `${fixtureTag('tm')}-a`;
const table = 'ambit_trace_tmtest';
const PACKETS = 1500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  if (skipUnlessRoot) return;
  await removeStaleFixtures('tm');
  await run('ip', ['netns', 'add', ns]);
  await run('ip', ['link', 'set', 'lo', 'up'], { netns: ns });
  await armTrace(ns, table, []);
});

after(async () => {
  if (skipUnlessRoot) return;
  await disarmTrace(ns, table);
  await run('ip', ['netns', 'del', ns], { allowFail: true });
});

/** Probe packets are traced without a rate limit: a burst of PACKETS of them. */
const burst = () =>
  run(
    'bash',
    ['-c', `for i in $(seq ${PACKETS}); do echo x > /dev/udp/127.0.0.1/${PROBE_PORT}; done`],
    { netns: ns, timeoutMs: 60_000 },
  );

/** Starts a monitor, waits until it is subscribed, stops it (SIGSTOP), sends the burst. */
async function burstWhileStopped(raise: boolean): Promise<TraceMonitor> {
  let seq = 0;
  const m = new TraceMonitor(ns, () => ++seq);
  for (let i = 0; i < 100 && !m.sawProbe(); i++) {
    await run('bash', ['-c', `echo p > /dev/udp/127.0.0.1/${PROBE_PORT}`], { netns: ns });
    await sleep(50);
  }
  assert.ok(m.sawProbe(), `monitor never subscribed: ${m.errors}`);
  if (raise) assert.equal(m.raiseBuffer(), undefined);
  const before = m.lines.length;
  process.kill(m.pid!, 'SIGSTOP');
  try {
    await burst();
  } finally {
    process.kill(m.pid!, 'SIGCONT');
  }
  // Bounded wait for the monitor to read its backlog (or to die of it).
  for (let i = 0, last = -1; i < 100; i++) {
    await sleep(100);
    m.sawProbe();
    if (m.lines.length === last || m.died) break;
    last = m.lines.length;
  }
  await m.stop();
  m.lines.splice(0, before);
  return m;
}

/** Packets of the burst the monitor reported: each sent packet matches the arm rule once. */
const traced = (m: TraceMonitor) =>
  m.lines.filter((l) => l.text.includes(`${table}:out_arm:rule:`)).length;

test(
  'a stopped monitor with the default buffer loses the burst (ENOBUFS)',
  { skip: skipUnlessRoot, timeout: 120_000 },
  async () => {
    const m = await burstWhileStopped(false);
    assert.ok(
      m.died !== undefined || traced(m) < PACKETS,
      `the default buffer held all ${PACKETS} packets' events: the burst is too small to test`,
    );
  },
);

test(
  'with the forced buffer the same burst waits for the monitor: every packet traced',
  { skip: skipUnlessRoot, timeout: 120_000 },
  async () => {
    const m = await burstWhileStopped(true);
    assert.equal(m.died, undefined, `monitor died: ${m.died}`);
    assert.equal(traced(m), PACKETS, 'packets of the burst traced');
  },
);
