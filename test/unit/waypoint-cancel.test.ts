import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cancel } from '../../src/waypoint/proxy/cancel.js';

test('Cancel: listeners run once, in order, with the reason set; a second abort does nothing', () => {
  const c = new Cancel();
  const seen: string[] = [];
  c.signal.addEventListener('abort', () => seen.push(`a:${String(c.signal.reason)}`));
  c.signal.addEventListener('abort', () => seen.push('b'));
  assert.equal(c.signal.aborted, false);
  c.abort('first');
  c.abort('second');
  assert.deepEqual(seen, ['a:first', 'b']);
  assert.equal(c.signal.aborted, true);
  assert.equal(c.signal.reason, 'first');
});

test('Cancel: a removed listener does not run, also when a listener before it removes it', () => {
  const c = new Cancel();
  const seen: string[] = [];
  const gone = () => seen.push('gone');
  const late = () => seen.push('late');
  c.addEventListener('abort', gone);
  c.removeEventListener('abort', gone);
  c.addEventListener('abort', () => c.removeEventListener('abort', late));
  c.addEventListener('abort', late);
  c.abort(undefined);
  assert.deepEqual(seen, []);
});

test('Cancel: a listener added after the abort never runs (as AbortSignal)', () => {
  const c = new Cancel();
  c.abort('x');
  let ran = false;
  c.addEventListener('abort', () => (ran = true));
  assert.equal(ran, false);
  const ac = new AbortController();
  ac.abort('x');
  ac.signal.addEventListener('abort', () => (ran = true));
  assert.equal(ran, false);
});
