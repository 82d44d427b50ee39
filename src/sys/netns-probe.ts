/**
 * Finds a pod's network namespace from the node side, for pods the agent did not see a CNI
 * ADD for (started before it): the host veth's peer lives in the namespace with the veth's
 * `link-netnsid`, and a named namespace (what CNI runtimes pin under /run/netns) with that
 * id is the pod's.
 */
import { netnsRefPath, run } from './exec.js';

export async function vethPeerNetns(
  netns: string | undefined,
  hostVeth: string,
): Promise<string | undefined> {
  const link = await run('ip', ['-j', '-d', 'link', 'show', 'dev', hostVeth], {
    netns,
    allowFail: true,
  });
  if (link.code !== 0) return undefined;
  const [l] = JSON.parse(link.stdout || '[]') as { link_netnsid?: number }[];
  if (l?.link_netnsid === undefined) return undefined;
  const list = await run('ip', ['-j', 'netns', 'list'], { netns, allowFail: true });
  const named = JSON.parse(list.stdout || '[]') as { name: string; id?: number }[];
  const hit = named.find((n) => n.id === l.link_netnsid);
  return hit ? netnsRefPath(hit.name) : undefined;
}
