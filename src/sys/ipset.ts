/** ipset (netns-aware) for the set of captured local pod IPs. */
import { AmbitError } from '../errors.js';
import { out, run } from './exec.js';

export async function ipsetCreate(netns: string | undefined, name: string): Promise<void> {
  await run('ipset', ['create', name, 'hash:ip', 'comment', '-exist'], { netns });
}

export async function ipsetDestroy(netns: string | undefined, name: string): Promise<void> {
  const r = await run('ipset', ['destroy', name], { netns, allowFail: true });
  if (r.code !== 0 && !/does not exist/.test(r.stderr)) {
    throw new AmbitError('IPSET_DESTROY_FAILED', `cannot destroy ipset ${name}: ${r.stderr}`, {
      value: name,
      hint: 'an iptables rule still references it; remove the ztunnel-* chains first',
    });
  }
}

/** Members of `name` as ip → comment; undefined when the set does not exist. */
export async function ipsetMembers(
  netns: string | undefined,
  name: string,
): Promise<Map<string, string> | undefined> {
  const r = await run('ipset', ['list', name, '-output', 'save'], { netns, allowFail: true });
  if (r.code !== 0) return undefined;
  const m = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const hit = /^add \S+ (\S+)(?: comment "([^"]*)")?/.exec(line);
    if (hit) m.set(hit[1]!, hit[2] ?? '');
  }
  return m;
}

export async function ipsetAdd(
  netns: string | undefined,
  name: string,
  ip: string,
  comment: string,
): Promise<void> {
  await run('ipset', ['add', name, ip, 'comment', comment, '-exist'], { netns });
}

export async function ipsetDel(netns: string | undefined, name: string, ip: string): Promise<void> {
  // A set that does not exist holds nothing to remove.
  await run('ipset', ['del', name, ip, '-exist'], { netns, allowFail: true });
}

export async function ipsetList(netns: string | undefined, name: string): Promise<string> {
  return out('ipset', ['list', name], { netns });
}
