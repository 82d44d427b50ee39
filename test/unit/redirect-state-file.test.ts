import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { StateFile } from '../../src/redirect/state-file.js';

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
