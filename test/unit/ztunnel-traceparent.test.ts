import assert from 'node:assert/strict';
import { test } from 'node:test';
import { traceparent } from '../../src/ztunnel/headers.js';

void test('traceparent: W3C shape, fresh ids across refills of the random pool', () => {
  const seen = new Set<string>();
  // 4 KiB pool, 24 bytes per id: 1000 ids cross several refills.
  for (let i = 0; i < 1000; i++) {
    const t = traceparent();
    assert.match(t, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    seen.add(t.slice(3, 35));
    seen.add(t.slice(36, 52));
  }
  assert.equal(seen.size, 2000);
});
