/**
 * Network namespace, link, address and route primitives for the lab, as `ip` commands. Every
 * call names its namespace explicitly (`ip -n <ns>`), so callers never depend on which netns
 * their own process happens to be in, and nothing here ever targets the root namespace.
 */
import { existsSync } from 'node:fs';
import { AmbitError } from '../errors.js';
import { run } from './exec.js';

function ipIn(netns: string, args: string[]): Promise<unknown> {
  return run('ip', ['-n', netns, ...args]);
}

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export function netnsExists(name: string): boolean {
  return existsSync(netnsPath(name));
}

/** Names of all named network namespaces (`ip netns list`). */
export async function netnsList(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list'], { allowFail: true });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

export async function netnsAdd(name: string): Promise<void> {
  if (netnsExists(name)) {
    throw new AmbitError('NET_NETNS_EXISTS', `network namespace ${name} already exists`, {
      value: name,
      hint: 'a previous run left it behind; remove it with `ambit lab down`',
    });
  }
  await run('ip', ['netns', 'add', name]);
  await ipIn(name, ['link', 'set', 'lo', 'up']);
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
  return r.stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

export async function bridgeAdd(netns: string, name: string, cidr: string): Promise<void> {
  await ipIn(netns, ['link', 'add', name, 'type', 'bridge']);
  await ipIn(netns, ['addr', 'add', cidr, 'dev', name]);
  await ipIn(netns, ['link', 'set', name, 'up']);
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
  await ipIn(netns, [
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

export async function linkUp(netns: string, dev: string, master?: string): Promise<void> {
  await ipIn(netns, ['link', 'set', dev, ...(master ? ['master', master] : []), 'up']);
}

export async function linkDelete(netns: string, dev: string): Promise<boolean> {
  const r = await run('ip', ['-n', netns, 'link', 'del', dev], { allowFail: true });
  return r.code === 0;
}

export async function addrAdd(netns: string, dev: string, cidr: string): Promise<void> {
  await ipIn(netns, ['addr', 'add', cidr, 'dev', dev]);
}

/** `ip route replace <route...>` inside `netns`, e.g. ['10.244.1.0/24', 'via', '172.18.0.4']. */
export async function routeReplace(netns: string, route: string[]): Promise<void> {
  await ipIn(netns, ['route', 'replace', ...route]);
}

/** Sets sysctls inside `netns` (sysctl through `ip netns exec`, which only that process sees). */
export async function sysctlSet(netns: string, values: Record<string, string>): Promise<void> {
  const args = ['-q', '-w', ...Object.entries(values).map(([k, v]) => `${k}=${v}`)];
  await run('sysctl', args, { netns });
}

/** `ip -o addr` / `ip route` text of a netns (for status and tests). */
export async function show(netns: string, what: 'addr' | 'route' | 'link'): Promise<string> {
  const r = await run('ip', ['-n', netns, '-o', what === 'route' ? 'route' : what, 'show']);
  return r.stdout;
}
