/**
 * Links, addresses, policy rules, routes and sysctls for the redirection backends, each
 * idempotent: applying twice leaves the kernel as applying once.
 */
import { out, run } from './exec.js';

export async function linkExists(netns: string | undefined, dev: string): Promise<boolean> {
  return (await run('ip', ['link', 'show', 'dev', dev], { netns, allowFail: true })).code === 0;
}

export async function linkDelete(netns: string | undefined, dev: string): Promise<void> {
  await run('ip', ['link', 'del', 'dev', dev], { netns, allowFail: true });
}

export async function addrReplace(
  netns: string | undefined,
  dev: string,
  cidr: string,
): Promise<void> {
  await run('ip', ['addr', 'replace', cidr, 'dev', dev], { netns });
}

export async function linkUp(netns: string | undefined, dev: string): Promise<void> {
  await run('ip', ['link', 'set', 'dev', dev, 'up'], { netns });
}

/**
 * Makes priority `priority` hold exactly one rule whose `ip rule` line is `listing`: leaves it
 * alone when it already does (no window without the rule), else replaces whatever is there.
 */
export async function ruleEnsure(
  netns: string | undefined,
  priority: number,
  args: string[],
  listing: string,
): Promise<void> {
  const now = await ruleShow(netns, priority);
  if (now.length === 1 && now[0] === listing.trim()) return;
  await ruleDeleteAll(netns, priority);
  await run('ip', ['rule', 'add', 'priority', String(priority), ...args], { netns });
}

export async function ruleShow(netns: string | undefined, priority: number): Promise<string[]> {
  const text = await out('ip', ['rule', 'show', 'priority', String(priority)], { netns });
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

export async function ruleDeleteAll(netns: string | undefined, priority: number): Promise<void> {
  // Bounded: a priority cannot hold more rules than this in anything we manage.
  for (let i = 0; i < 64; i++) {
    const r = await run('ip', ['rule', 'del', 'priority', String(priority)], {
      netns,
      allowFail: true,
    });
    if (r.code !== 0) return;
  }
}

export async function routeReplace(
  netns: string | undefined,
  table: number,
  args: string[],
): Promise<void> {
  await run('ip', ['route', 'replace', ...args, 'table', String(table)], { netns });
}

export async function routeDelete(
  netns: string | undefined,
  table: number,
  dst: string,
): Promise<void> {
  await run('ip', ['route', 'del', dst, 'table', String(table)], { netns, allowFail: true });
}

export async function routeFlush(netns: string | undefined, table: number): Promise<void> {
  await run('ip', ['route', 'flush', 'table', String(table)], { netns, allowFail: true });
}

export async function routeShow(netns: string | undefined, table: number): Promise<string[]> {
  const r = await run('ip', ['route', 'show', 'table', String(table)], { netns, allowFail: true });
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** The source address the kernel picks to reach `ip` (Istio's GetHostIPByRoute). */
export async function sourceAddressTo(netns: string | undefined, ip: string): Promise<string> {
  const text = await out('ip', ['-o', 'route', 'get', ip], { netns });
  const m = /\bsrc (\S+)/.exec(text);
  if (!m) throw new Error(`no source address in: ${text.trim()}`);
  return m[1]!;
}

/** The host-side veth whose /32 route leads to `ip` (Istio's getVethWithDestinationOf). */
export async function vethTo(netns: string | undefined, ip: string): Promise<string | undefined> {
  const text = await out('ip', ['-o', 'route', 'show', 'table', 'main', `${ip}/32`], { netns });
  const dev = /\bdev (\S+)/.exec(text)?.[1];
  if (!dev) return undefined;
  const kind = await out('ip', ['-d', '-o', 'link', 'show', 'dev', dev], { netns });
  return /\bveth\b/.test(kind) ? dev : undefined;
}

export async function sysctlGet(netns: string | undefined, key: string): Promise<string> {
  return (await out('sysctl', ['-n', key], { netns })).trim();
}

/** Sets several sysctls in one process; keys of devices that vanished are ignored. */
export async function sysctlSet(
  netns: string | undefined,
  values: Record<string, string>,
): Promise<void> {
  const args = Object.entries(values).map(([k, v]) => `${k}=${v}`);
  if (args.length) await run('sysctl', ['-q', '-w', ...args], { netns, allowFail: true });
}
