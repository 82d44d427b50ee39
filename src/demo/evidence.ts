/**
 * What the demo shows besides the trace, read from the live system: the TCP connections one
 * request creates (from `ss` in each namespace while a slow request is in flight) and the
 * mTLS identities on the HBONE hop (from the destination ztunnel's access log).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { labPaths } from '../lab/cluster/paths.js';
import { run, start } from '../sys/exec.js';

export interface PodRef {
  name: string;
  namespace: string;
  netns: string;
  ip: string;
}

export interface Socket {
  pod: string;
  local: string;
  peer: string;
}

/** Established TCP sockets in `pod`'s namespace whose either end uses one of `ports`. */
export async function sockets(pod: PodRef, ports: number[]): Promise<Socket[]> {
  const r = await run('ss', ['-tnH', 'state', 'established'], {
    netns: pod.netns,
    allowFail: true,
  });
  const out: Socket[] = [];
  for (const line of r.stdout.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const [local, peer] = [f[2]!, f[3]!];
    const port = (a: string) => Number(a.slice(a.lastIndexOf(':') + 1));
    if (ports.includes(port(local)) || ports.includes(port(peer)))
      out.push({ pod: pod.name, local, peer });
  }
  return out;
}

/**
 * Runs a request that takes `seconds` from the client pod and, while it is open, lists the
 * sockets of every connection it caused in each namespace on the path.
 */
export async function connectionsInFlight(
  client: PodRef,
  url: string,
  path: PodRef[],
  ports: number[],
): Promise<Socket[]> {
  const curl = start('curl', ['-sS', '-m', '10', '-o', '/dev/null', url], {
    netns: client.netns,
    stdio: 'ignore',
  });
  // Observed only after the sockets are listed; a curl that cannot start rejects there.
  curl.exited.catch(() => undefined);
  await sleep(800);
  const found = (await Promise.all([client, ...path].map((p) => sockets(p, ports)))).flat();
  await curl.exited;
  return found;
}

/**
 * Like connectionsInFlight, for a request that crosses more hops: lists the sockets every
 * 300 ms while it is open, until `complete` says every hop was seen (or the request ended),
 * and returns every socket seen (each once).
 */
export async function connectionsWhile(
  client: PodRef,
  url: string,
  path: PodRef[],
  ports: number[],
  complete: (found: Socket[]) => boolean,
): Promise<Socket[]> {
  const curl = start('curl', ['-sS', '-m', '15', '-o', '/dev/null', url], {
    netns: client.netns,
    stdio: 'ignore',
  });
  let done = false;
  const exited = curl.exited.finally(() => (done = true));
  exited.catch(() => undefined);
  const seen = new Map<string, Socket>();
  for (let i = 0; i < 50 && !done; i++) {
    await sleep(300);
    const now = (await Promise.all([client, ...path].map((p) => sockets(p, ports)))).flat();
    for (const s of now) seen.set(`${s.pod} ${s.local} ${s.peer}`, s);
    if (complete([...seen.values()])) break;
  }
  await exited;
  return [...seen.values()];
}

export interface AccessLine {
  text: string;
  fields: Record<string, string>;
}

/** The newest `connection complete` access-log line of `pod` matching every given field. */
export function lastAccessLog(
  lab: string,
  pod: { namespace: string; name: string },
  match: Record<string, string>,
): AccessLine | undefined {
  const dir = join(labPaths(lab).pods, `${pod.namespace}_${pod.name}`);
  if (!existsSync(dir)) return undefined;
  const lines: string[] = [];
  const p = join(dir, 'istio-proxy.log');
  if (existsSync(p)) lines.push(...readFileSync(p, 'utf8').split('\n'));
  for (let i = lines.length - 1; i >= 0; i--) {
    const text = lines[i]!;
    if (!text.includes(' access connection complete')) continue;
    const fields: Record<string, string> = {};
    for (const m of text.matchAll(/([\w.]+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
      fields[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
    }
    if (Object.entries(match).every(([k, v]) => fields[k]?.startsWith(v))) return { text, fields };
  }
  return undefined;
}
