/**
 * This checkout of ambit: the nearest directory above this module holding package.json. The
 * same from sources (tsx) and from dist/, so code can find bin/ambit, proto/ and manifests.
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
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

/**
 * How the user at this shell runs ambit, for the commands ambit suggests: `ambit` when one is
 * on PATH, else this checkout's bin/ambit by its path from the working directory (the
 * README's `./bin/ambit`), so a suggested line can be pasted as it is.
 */
export function cliCommand(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const onPath = (env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, 'ambit')));
  if (onPath) return 'ambit';
  const rel = relative(cwd, join(repoRoot(), 'bin', 'ambit'));
  return rel.startsWith('.') || rel.startsWith('/') ? rel : `./${rel}`;
}
