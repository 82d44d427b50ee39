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

export interface TcpConnection {
  local: { ip: string; port: number };
  peer: { ip: string; port: number };
}

/** `1.2.3.4:80` or an IPv4-mapped `[::ffff:1.2.3.4]:80`; undefined for IPv6 proper. */
function endpoint(s: string): { ip: string; port: number } | undefined {
  const m = /^(?:\[::ffff:)?(\d+\.\d+\.\d+\.\d+)\]?:(\d+)$/.exec(s);
  return m ? { ip: m[1]!, port: Number(m[2]) } : undefined;
}

/** Parses `ss -Htn state connected` (state, Recv-Q, Send-Q, local, peer); IPv4 only. */
export function parseSsTcp(text: string): TcpConnection[] {
  const out: TcpConnection[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const local = f[3] ? endpoint(f[3]) : undefined;
    const peer = f[4] ? endpoint(f[4]) : undefined;
    if (local && peer) out.push({ local, peer });
  }
  return out;
}

/** The TCP connections (every state but listening and closed) of the sockets in `netns`. */
export async function tcpConnections(netns: string | undefined): Promise<TcpConnection[]> {
  const r = await run('ss', ['-Htn', 'state', 'connected'], { netns });
  return parseSsTcp(r.stdout);
}
