import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFlags, intFlag } from '../../src/flags.js';
import { Expectations } from '../../src/lab/controllers/expectations.js';
import { WorkQueue } from '../../src/lab/controllers/queue.js';
import type { LabPod } from '../../src/lab/controllers/types.js';
import { cidrContains, hostInCidr } from '../../src/lab/controllers/ipv4.js';

const pod = (name: string, extra: Partial<LabPod['metadata']> = {}): LabPod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', ...extra },
  spec: { containers: [{ name: 'c' }] },
});

void test('work queue: de-duplicates, never runs a key concurrently, retries failures', async () => {
  const seen: string[] = [];
  let running = 0;
  let maxRunning = 0;
  let failOnce = true;
  const q = new WorkQueue(async (key) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
    seen.push(key);
    if (key === 'flaky' && failOnce) {
      failOnce = false;
      throw new Error('boom');
    }
  });
  q.start();
  for (let i = 0; i < 5; i++) q.add('a');
  q.add('b');
  q.add('flaky');
  await q.idle();
  await new Promise((r) => setTimeout(r, 300)); // the retry fires after 100 ms
  await q.idle();
  await q.stop();
  assert.equal(seen.filter((k) => k === 'a').length, 1);
  assert.equal(seen.filter((k) => k === 'flaky').length, 2, 'failed key retried once');
  assert.equal(maxRunning, 1);
});

void test('expectations: our creates count before the watch shows them, deletes count as gone', () => {
  const e = new Expectations();
  e.expectCreate('deploy/default/web', pod('web-1'));
  assert.deepEqual(
    e.view('deploy/default/web', []).map((p) => p.metadata.name),
    ['web-1'],
  );
  // once cached, the expectation is satisfied and not double-counted
  assert.equal(e.view('deploy/default/web', [pod('web-1')]).length, 1);
  assert.equal(e.view('deploy/default/web', []).length, 0);
  e.expectDelete('deploy/default/web', 'web-2');
  const v = e.view('deploy/default/web', [pod('web-2')]);
  assert.ok(v[0]?.metadata.deletionTimestamp, 'a pod we deleted is seen as terminating');
  e.expectCreate('x', pod('x-1'));
  e.cancelCreate('x', 'x-1');
  assert.equal(e.view('x', []).length, 0);
});

void test('flags and IPv4 helpers', () => {
  const f = parseFlags(['httpbin', '--port', '8080', '--host=127.0.0.1', '--verbose'], ['verbose']);
  assert.deepEqual(f.positional, ['httpbin']);
  assert.equal(intFlag(f, 'port', 80), 8080);
  assert.equal(f.values.get('host'), '127.0.0.1');
  assert.equal(f.values.get('verbose'), 'true');
  assert.throws(
    () => intFlag(parseFlags(['--port', 'x']), 'port', 80),
    /--port must be an integer/,
  );
  assert.throws(() => parseFlags(['--port']), /--port needs a value/);
  assert.equal(hostInCidr('10.244.2.0/24', 3), '10.244.2.3');
  assert.equal(hostInCidr('10.244.2.0/24', 255), undefined);
  assert.ok(cidrContains('10.244.1.0/24', '10.244.1.7'));
  assert.ok(!cidrContains('10.244.1.0/24', '10.244.2.8'));
});
