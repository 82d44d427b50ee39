/**
 * The kernel's trace of a real curl through a copy of the seeds' cluster (node rules, ztunnel
 * netns rules, VXLAN tunnels, transparent relays) contains seed 000's hops, in order.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { run } from '../../src/sys/exec.js';
import { traceTables } from '../../src/sys/nftrace.js';
import { renderPath } from '../../src/trace/render.js';
import { traceCurl, type TraceResult } from '../../src/trace/session.js';
import { createTraceFixture, type TraceFixture } from '../helpers/trace-fixture.js';
import { assertSeedsPath } from '../helpers/trace-expect.js';
import { skipUnlessRoot } from '../helpers/root.js';

let fx: TraceFixture | undefined;
let result: TraceResult | undefined;

before(async () => {
  if (skipUnlessRoot) return;
  fx = await createTraceFixture();
  result = await traceCurl({
    netns: fx.all,
    names: fx.names,
    clientNetns: fx.ns.sleep,
    clientIp: fx.sleepIP,
    url: `http://${fx.vip}:8000/get`,
  });
});

after(async () => {
  await fx?.close();
});

void test(
  'curl through the captured path gets its answer, from its own address',
  { skip: skipUnlessRoot },
  () => {
    assert.equal(result!.response.status, 200, result!.response.stderr);
    assert.equal(JSON.parse(result!.response.body).origin, fx!.sleepIP);
  },
);

void test('the traced path has seed 000’s hops in order', { skip: skipUnlessRoot }, () => {
  const text = renderPath(result!.path);
  assert.ok(result!.raw.length > 0, 'no raw events');
  try {
    assertSeedsPath(result!.path, {
      sleep: 'sleep',
      nodeA: 'worker2',
      zA: 'ztunnel-worker2',
      nodeB: 'worker',
      zB: 'ztunnel-worker',
      httpbin: 'httpbin',
      vethSleep: fx!.vethSleep,
      vethHttpbin: fx!.vethHttpbin,
      zvethA: fx!.zvethA,
    });
  } catch (err) {
    console.error(text);
    throw err;
  }
  assert.match(text, /Part 1 — sleep → ztunnel-worker2/);
  assert.match(text, /TPROXY → 127\.0\.0\.1:15001/);
});

void test('every trace table is gone afterwards', { skip: skipUnlessRoot }, async () => {
  for (const ns of fx!.all) assert.deepEqual(await traceTables(ns), [], ns);
  const ps = await run('pgrep', ['-x', 'xtables-monitor'], { allowFail: true });
  // Monitors of this run were children of this process; none may be left.
  for (const pid of ps.stdout.split('\n').filter(Boolean)) {
    const ppid = await run('ps', ['-o', 'ppid=', '-p', pid], { allowFail: true });
    assert.notEqual(Number(ppid.stdout.trim()), process.pid);
  }
});
