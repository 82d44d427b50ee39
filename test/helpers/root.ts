import { randomBytes } from 'node:crypto';
import { run } from '../../src/sys/exec.js';

/** netns tests need root; without it they are skipped with this reason (never silently passed). */
export const skipUnlessRoot: false | string =
  process.getuid?.() === 0
    ? false
    : 'needs root: builds network namespaces, veths and iptables rules';

/** A short, unique lab name for one test file, so labs of parallel tests never clash. */
export function labName(tag: string): string {
  // AMBIT_LAB_PREFIX: an engineer's own prefix, so parallel runs by several people never clash.
  return `${process.env.AMBIT_LAB_PREFIX ?? 't'}${tag}${process.pid.toString(36).slice(-3)}`;
}

/**
 * A name tag for a fixture's network namespaces: the engineer's prefix, the fixture's kind, this
 * process's pid (base 36) and a random part, so `removeStaleFixtures` can tell a leftover of a
 * killed run (its pid is gone) from a fixture another test is using right now.
 */
export function fixtureTag(kind: string): string {
  return `${process.env.AMBIT_LAB_PREFIX ?? 't'}${kind}${process.pid.toString(36)}x${randomBytes(2).toString('hex')}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes the namespaces of `kind` fixtures (named by `fixtureTag`, our prefix only) whose
 * process no longer exists: a run killed by a timeout cannot clean up after itself. Returns
 * the names removed.
 */
export async function removeStaleFixtures(kind: string): Promise<string[]> {
  const prefix = `${process.env.AMBIT_LAB_PREFIX ?? 't'}${kind}`;
  const re = new RegExp(`^${prefix}([0-9a-z]+)x[0-9a-f]{4}-`);
  const list = await run('ip', ['netns', 'list'], { allowFail: true });
  const stale = list.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => {
      const m = re.exec(n);
      return m !== null && !alive(parseInt(m[1]!, 36));
    });
  for (const n of stale) await run('ip', ['netns', 'del', n], { allowFail: true });
  return stale;
}
