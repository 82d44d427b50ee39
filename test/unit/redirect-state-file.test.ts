import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SerialQueue, StateFile } from '../../src/redirect/state-file.js';

void test('StateFile: round trip through a rename, unreadable = nothing installed, drop', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-state-'));
  try {
    const f = new StateFile<{ pods: Record<string, string> }>(join(dir, 'sub', 'state.json'));
    assert.equal(f.load(), undefined);
    f.save({ pods: { '10.244.2.8': 'uid-1' } });
    assert.deepEqual(f.load(), { pods: { '10.244.2.8': 'uid-1' } });
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['state.json'], 'no temporary file left');
    writeFileSync(f.path, '{"pods": ');
    assert.equal(f.load(), undefined);
    f.drop();
    f.drop();
    assert.deepEqual(readdirSync(join(dir, 'sub')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

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
