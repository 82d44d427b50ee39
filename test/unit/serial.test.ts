import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SerialQueue } from '../../src/serial.js';

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
