/**
 * iproute2 (`ip`) and `sysctl` for the lab and the redirection backends: named network
 * namespaces, veths, bridges, addresses, links, policy rules, routes and sysctls. `netns` names
 * a namespace under /run/netns (`ip -n <ns>`) or is a path to one; undefined means the caller's own namespace, which
 * only the node agent uses (it may run inside its node's netns). Calls that a backend repeats on
 * every reconcile are idempotent: applying twice leaves the kernel as applying once.
 */
import { existsSync } from 'node:fs';
import { AmbitError } from '../errors.js';
import { out, run, type RunOptions, type RunResult } from './exec.js';

function ip(
  netns: string | undefined,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  // `ip -n` takes only names; a namespace given by path is entered with nsenter (exec.ts).
  if (netns?.startsWith('/')) return run('ip', args, { ...opts, netns });
  return run('ip', netns ? ['-n', netns, ...args] : args, opts);
}

async function ipOut(netns: string | undefined, args: readonly string[]): Promise<string> {
  return (await ip(netns, args)).stdout;
}

function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

// ---- named network namespaces ----

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export function netnsExists(name: string): boolean {
  return existsSync(netnsPath(name));
}

/** Names of all named network namespaces (`ip netns list`). */
export async function netnsList(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list'], { allowFail: true });
  return lines(r.stdout).map((l) => l.split(/\s+/)[0] ?? '');
}

export async function netnsAdd(name: string): Promise<void> {
  if (netnsExists(name)) {
    throw new AmbitError('NET_NETNS_EXISTS', `network namespace ${name} already exists`, {
      value: name,
      hint: 'a previous run left it behind; remove it with `ambit lab down`',
    });
  }
  await run('ip', ['netns', 'add', name]);
  await ip(name, ['link', 'set', 'lo', 'up']);
}

/** Deletes a named netns; true when it existed. */
export async function netnsDelete(name: string): Promise<boolean> {
  if (!netnsExists(name)) return false;
  await run('ip', ['netns', 'delete', name]);
  return true;
}

/** PIDs of processes whose network namespace is `name`. */
export async function netnsPids(name: string): Promise<number[]> {
  if (!netnsExists(name)) return [];
  const r = await run('ip', ['netns', 'pids', name], { allowFail: true });
  return lines(r.stdout)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

// ---- links and addresses ----

export async function bridgeAdd(netns: string, name: string, cidr: string): Promise<void> {
  await ip(netns, ['link', 'add', name, 'type', 'bridge']);
  await ip(netns, ['addr', 'add', cidr, 'dev', name]);
  await ip(netns, ['link', 'set', name, 'up']);
}

/**
 * A veth pair: `local` in `netns`, `peer` moved into `peerNetns` (renamed to `peerName`
 * there). Both ends stay down until the caller configures them.
 */
export async function vethAdd(
  netns: string,
  local: string,
  peerNetns: string,
  peerName: string,
): Promise<void> {
  await ip(netns, [
    'link',
    'add',
    local,
    'type',
    'veth',
    'peer',
    'name',
    peerName,
    'netns',
    peerNetns,
  ]);
}

export async function linkExists(netns: string | undefined, dev: string): Promise<boolean> {
  return (await ip(netns, ['link', 'show', 'dev', dev], { allowFail: true })).code === 0;
}

/** Sets `dev` up, first enslaving it to the bridge `master` when given. */
export async function linkUp(
  netns: string | undefined,
  dev: string,
  master?: string,
): Promise<void> {
  await ip(netns, ['link', 'set', 'dev', dev, ...(master ? ['master', master] : []), 'up']);
}

/** Deletes `dev`; true when it existed (a missing device is not an error). */
export async function linkDelete(netns: string | undefined, dev: string): Promise<boolean> {
  return (await ip(netns, ['link', 'del', 'dev', dev], { allowFail: true })).code === 0;
}

export async function addrAdd(netns: string | undefined, dev: string, cidr: string): Promise<void> {
  await ip(netns, ['addr', 'add', cidr, 'dev', dev]);
}

export async function addrReplace(
  netns: string | undefined,
  dev: string,
  cidr: string,
): Promise<void> {
  await ip(netns, ['addr', 'replace', cidr, 'dev', dev]);
}

/** `ip -o addr` / `ip route` / `ip -o link` text of a netns (for status and tests). */
export async function show(netns: string, what: 'addr' | 'route' | 'link'): Promise<string> {
  return ipOut(netns, ['-o', what, 'show']);
}

// ---- policy rules ----

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
  await ip(netns, ['rule', 'add', 'priority', String(priority), ...args]);
}

export async function ruleShow(netns: string | undefined, priority: number): Promise<string[]> {
  return lines(await ipOut(netns, ['rule', 'show', 'priority', String(priority)]));
}

export async function ruleDeleteAll(netns: string | undefined, priority: number): Promise<void> {
  // Bounded: a priority cannot hold more rules than this in anything we manage.
  for (let i = 0; i < 64; i++) {
    const r = await ip(netns, ['rule', 'del', 'priority', String(priority)], { allowFail: true });
    if (r.code !== 0) return;
  }
}

// ---- routes ----

/**
 * `ip route replace <args...> table <table>`, e.g. (ns, 'main', ['default', 'via', gw]).
 */
export async function routeReplace(
  netns: string | undefined,
  table: number | 'main',
  args: string[],
): Promise<void> {
  await ip(netns, ['route', 'replace', ...args, 'table', String(table)]);
}

export async function routeDelete(
  netns: string | undefined,
  table: number,
  dst: string,
): Promise<void> {
  await ip(netns, ['route', 'del', dst, 'table', String(table)], { allowFail: true });
}

export async function routeFlush(netns: string | undefined, table: number): Promise<void> {
  await ip(netns, ['route', 'flush', 'table', String(table)], { allowFail: true });
}

export async function routeShow(netns: string | undefined, table: number): Promise<string[]> {
  const r = await ip(netns, ['route', 'show', 'table', String(table)], { allowFail: true });
  return lines(r.stdout);
}

/** The source address the kernel picks to reach `dst` (Istio's GetHostIPByRoute). */
export async function sourceAddressTo(netns: string | undefined, dst: string): Promise<string> {
  const text = await ipOut(netns, ['-o', 'route', 'get', dst]);
  const m = /\bsrc (\S+)/.exec(text);
  if (!m)
    throw new AmbitError('SYS_IP_NO_SOURCE', `no source address toward ${dst}: ${text.trim()}`, {
      value: dst,
      hint: 'the namespace has no route to that address; check `ip route` there',
    });
  return m[1]!;
}

/** The host-side veth whose /32 route leads to `dst` (Istio's getVethWithDestinationOf). */
export async function vethTo(netns: string | undefined, dst: string): Promise<string | undefined> {
  const text = await ipOut(netns, ['-o', 'route', 'show', 'table', 'main', `${dst}/32`]);
  const dev = /\bdev (\S+)/.exec(text)?.[1];
  if (!dev) return undefined;
  const kind = await ipOut(netns, ['-d', '-o', 'link', 'show', 'dev', dev]);
  return /\bveth\b/.test(kind) ? dev : undefined;
}

// ---- sysctls (through `ip netns exec`, which only that process sees) ----

export async function sysctlGet(netns: string | undefined, key: string): Promise<string> {
  return (await out('sysctl', ['-n', key], { netns })).trim();
}

/**
 * Sets several sysctls in one process. With `allowFail`, keys of devices that vanished meanwhile
 * are ignored (a backend reconciling per-pod veths races with pod deletion); otherwise a key the
 * kernel rejects fails the call.
 */
export async function sysctlSet(
  netns: string | undefined,
  values: Record<string, string>,
  opts: { allowFail?: boolean } = {},
): Promise<void> {
  const args = Object.entries(values).map(([k, v]) => `${k}=${v}`);
  if (args.length)
    await run('sysctl', ['-q', '-w', ...args], { netns, allowFail: opts.allowFail === true });
}
