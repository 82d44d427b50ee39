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
