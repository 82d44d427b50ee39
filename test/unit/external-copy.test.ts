// The copy of the public manifests in test/external must stay byte-identical to the shared,
// unmodified originals: tests apply them exactly as users do, and nothing may be edited to pass.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { sharedExternal, vendoredExternal } from '../helpers/external.js';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

const shared = sharedExternal();

void test(
  'test/external is a byte-identical copy of the shared external manifests',
  { skip: shared ? false : 'no shared checkout beside the repository to compare with' },
  () => {
    const want = files(shared!)
      .map((f) => relative(shared!, f))
      .sort();
    const have = files(vendoredExternal)
      .map((f) => relative(vendoredExternal, f))
      .sort();
    assert.deepEqual(have, want);
    for (const f of want) {
      assert.ok(
        readFileSync(join(vendoredExternal, f)).equals(readFileSync(join(shared!, f))),
        `test/external/${f} differs from the shared original: copy it again, never edit it`,
      );
    }
  },
);
