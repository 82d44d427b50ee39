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
