/**
 * Where the unmodified public manifests are: `$AMBIT_EXTERNAL`, else the shared checkout beside
 * the repository (../shared/external; from a worktree ../../shared/external), else the
 * byte-identical copy kept in test/external so a fresh clone on its own (CI) runs the same tests.
 * test/unit/external-copy.test.ts keeps that copy identical to the shared one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../src/repo.js';

export const vendoredExternal = join(repoRoot(), 'test', 'external');

export function sharedExternal(): string | undefined {
  return [
    join(repoRoot(), '..', 'shared', 'external'),
    join(repoRoot(), '..', '..', 'shared', 'external'),
  ].find((d) => existsSync(d));
}

export function externalDir(): string {
  const env = process.env.AMBIT_EXTERNAL;
  if (env) return env;
  return sharedExternal() ?? vendoredExternal;
}
