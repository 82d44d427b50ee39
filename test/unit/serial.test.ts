import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoalescedRun, SerialQueue } from '../../src/serial.js';

void test('SerialQueue: one operation at a time, in order; a failure does not stop the next', async () => {
  const q = new SerialQueue();
  const seen: string[] = [];
  let running = 0;
  const op = (name: string, fail = false) =>
    q.run(async () => {
      running++;
      assert.equal(running, 1, 'overlapping operations');
      await new Promise((r) => setTimeout(r, 5));
      seen.push(name);
      running--;
      if (fail) throw new Error(`${name} failed`);
      return name;
    });
  const results = await Promise.allSettled([op('a'), op('b', true), op('c')]);
  assert.deepEqual(seen, ['a', 'b', 'c']);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
});

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 5 ms for at most 2 s. */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await wait(5);
  assert.ok(cond(), `${what} did not happen within 2 s`);
}

void test('CoalescedRun: a burst of requests becomes one run', async () => {
  let runs = 0;
  const c = new CoalescedRun(() => {
    runs++;
    return Promise.resolve(undefined);
  }, 10);
  for (let i = 0; i < 5; i++) c.request();
  await until('the run', () => runs === 1);
  await wait(40);
  assert.equal(runs, 1);
});

void test('CoalescedRun: a request during a run waits for it, then the newest state lands last', async () => {
  // A status PATCH as the kubelet sends it: reads the state when it starts, lands when it ends.
  let state = 'ContainerCreating';
  const landed: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let release: (() => void) | undefined;
  const c = new CoalescedRun(async () => {
    const body = state;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    if (landed.length === 0) await new Promise<void>((r) => (release = r));
    landed.push(body);
    inFlight--;
    return undefined;
  }, 5);
  c.request();
  await until('the first run to start', () => release !== undefined);
  state = 'Running';
  c.request();
  c.request();
  await wait(30);
  assert.equal(landed.length, 0, 'a second run started while the first was in flight');
  release!();
  await until('the second run', () => landed.length === 2);
  await wait(30);
  assert.deepEqual(landed, ['ContainerCreating', 'Running']);
  assert.equal(maxInFlight, 1);
});

void test('CoalescedRun: a run that asks for a retry runs again; stop() ends it', async () => {
  let runs = 0;
  const c = new CoalescedRun(() => Promise.resolve(++runs < 3 ? 5 : undefined), 5);
  c.request();
  await until('three runs', () => runs === 3);
  await wait(30);
  assert.equal(runs, 3, 'a run without a retry must not repeat');

  let after = 0;
  const s = new CoalescedRun(() => Promise.resolve(++after > 0 ? 5 : undefined), 5);
  s.request();
  await until('the first run', () => after === 1);
  s.stop();
  await wait(40);
  assert.equal(after, 1, 'a retry ran after stop()');
  s.request();
  await wait(30);
  assert.equal(after, 1, 'a request ran after stop()');
});

void test('CoalescedRun.now(): no delay, and it resolves only after a run that saw the change', async () => {
  // The node agent's reconcile: the caller changes state, then awaits a pass that read it.
  let state = 0;
  const seen: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let release: (() => void) | undefined;
  const c = new CoalescedRun(async () => {
    const read = state;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    if (seen.length === 0) await new Promise<void>((r) => (release = r));
    seen.push(read);
    inFlight--;
    return undefined;
  }, 60_000); // a request() would wait a minute: now() must not
  c.request();
  const first = c.now();
  await until('the first run to start', () => release !== undefined);
  state = 1;
  let secondDone = false;
  const second = c.now().then(() => (secondDone = true));
  release!();
  await first;
  assert.equal(seen[0], 0);
  await second;
  assert.ok(secondDone);
  assert.deepEqual(seen, [0, 1], 'now() during a run resolved before a run that read its change');
  assert.equal(maxInFlight, 1);
  c.stop();
  await c.idle();
});

void test('CoalescedRun: idle() waits for the run in flight; stop() releases waiting now() callers', async () => {
  let release: (() => void) | undefined;
  let finished = false;
  const c = new CoalescedRun(async () => {
    await new Promise<void>((r) => (release = r));
    finished = true;
    return undefined;
  }, 5);
  const first = c.now();
  await until('the run to start', () => release !== undefined);
  const waiting = c.now(); // would need a second run
  c.stop();
  await waiting; // released by stop(), not hung
  const idle = c.idle();
  release!();
  await idle;
  assert.ok(finished, 'idle() resolved before the run in flight finished');
  await first;
});
