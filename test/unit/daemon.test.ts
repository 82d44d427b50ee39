import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Shutdown, stopSignal } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { eventually } from '../helpers/net.js';

const counts = () => [process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')];

function recorder() {
  const lines: string[] = [];
  return { lines, log: createLogger('daemon-test', (l) => lines.push(l)) };
}

void test('the first stop signal resolves with its name and removes both listeners', async () => {
  const before = counts();
  const got = stopSignal();
  assert.deepEqual(counts(), [before[0]! + 1, before[1]! + 1]);
  process.emit('SIGINT');
  assert.equal(await got, 'SIGINT');
  assert.deepEqual(counts(), before);
});

void test('a signal drains, then closes even when the drain failed, and exits 0', async () => {
  const before = counts();
  const { lines, log } = recorder();
  const steps: string[] = [];
  let exited: number | undefined;
  const s = new Shutdown(log, (code) => (exited = code));
  const served = s.serve(
    async () => {
      steps.push('drain');
      await Promise.resolve();
      throw new Error('listener stuck');
    },
    () => steps.push('close'),
  );
  process.emit('SIGTERM');
  assert.equal(await served, 0);
  assert.deepEqual(steps, ['drain', 'close']);
  assert.match(lines[0]!, /info daemon-test signal received; draining signal=SIGTERM$/);
  assert.match(lines[1]!, /error daemon-test drain failed error="listener stuck"$/);
  assert.deepEqual(counts(), before);
  assert.equal(await eventually('the exit after the drain', () => exited === 0), true);
});

void test('quit ends serve without a drain and leaves no signal listener', async () => {
  const before = counts();
  const { lines, log } = recorder();
  let drained = false;
  const s = new Shutdown(log, () => undefined);
  const served = s.serve(async () => {
    drained = true;
  });
  s.quit();
  assert.equal(await served, 0);
  assert.equal(drained, false);
  assert.deepEqual(lines, []);
  assert.deepEqual(counts(), before);
});
