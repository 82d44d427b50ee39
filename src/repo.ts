/**
 * This checkout of ambit: the nearest directory above this module holding package.json. The
 * same from sources (tsx) and from dist/, so code can find bin/ambit, proto/ and manifests.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AmbitError } from './errors.js';

let root: string | undefined;

export function repoRoot(): string {
  if (root) return root;
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(d, 'package.json'))) return (root = d);
    d = dirname(d);
  }
  throw new AmbitError('REPO_NOT_FOUND', `no package.json above ${import.meta.url}`, {
    value: import.meta.url,
    hint: 'run ambit from its repository checkout',
  });
}
