/**
 * `ambit demo --waypoint`: the demo's cluster with a namespace waypoint on the path (seed 004:
 * ztunnel A → waypoint → ztunnel B). After the mesh and the enrolment it runs `ambit waypoint
 * apply -n default --enroll-namespace --wait`, curls httpbin from sleep and prints the
 * response, then lists the FOUR TCP connections one request makes, from `ss` in each network
 * namespace while it is in flight: sleep → ztunnel A (the service VIP, held by TPROXY),
 * ztunnel A → waypoint (HBONE to the waypoint's 15008), waypoint → ztunnel B (HBONE to
 * httpbin's podIP:15008), ztunnel B → httpbin (port 80), and the waypoint's access-log line
 * for that request with the client's identity.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Port } from '../api/ports.js';
import { run as waypointCli } from '../cli/waypoint.js';
import { AmbitError } from '../errors.js';
import type { KubeClient } from '../k8s/client.js';
import { resources } from '../k8s/resources.js';
import type { Pod } from '../k8s/types.js';
import { labPaths } from '../lab/cluster/paths.js';
import { run } from '../sys/exec.js';
import { connectionsWhile, type PodRef, type Socket } from './evidence.js';

export type Step = <T>(title: string, fn: () => Promise<T>) => Promise<T>;

export interface WaypointScene {
  lab: string;
  client: KubeClient;
  step: Step;
  print: (line: string) => void;
  sleepPod: PodRef;
  httpbin: PodRef;
  findPod(namespace: string, prefix: string): Promise<PodRef>;
  /** The node agents' redirection backend, for the wording of hop 1. */
  redirect?: string;
}

const URL = 'http://httpbin:8000/get';
const SLOW_URL = 'http://httpbin:8000/delay/3';

/** The four hops, as `ss` shows them: which sockets belong to which connection. */
export function classifyHops(
  socks: Socket[],
  ips: { waypoint: string; httpbin: string },
  redirect?: string,
): { title: string; rows: Socket[] }[] {
  const held = redirect === 'ebpf' ? 'bpf_sk_assign' : 'TPROXY';
  const has = (s: Socket, addr: string) => s.local === addr || s.peer === addr;
  const port = (a: string) => a.slice(a.lastIndexOf(':') + 1);
  const wpHbone = `${ips.waypoint}:${Port.inbound}`;
  const dstHbone = `${ips.httpbin}:${Port.inbound}`;
  return [
    {
      title: `1. sleep → ztunnel A (port 8000: the client sees the service VIP; ztunnel holds it via ${held})`,
      rows: socks.filter((s) => port(s.local) === '8000' || port(s.peer) === '8000'),
    },
    {
      title: `2. ztunnel A → waypoint (HBONE, mTLS to the waypoint's ${wpHbone})`,
      rows: socks.filter((s) => has(s, wpHbone)),
    },
    {
      title: `3. waypoint → ztunnel B (HBONE, mTLS to httpbin's ${dstHbone}, taken by ztunnel B)`,
      rows: socks.filter((s) => has(s, dstHbone)),
    },
    {
      title: `4. ztunnel B → httpbin (port 80; spoofed source ${ips.waypoint}: httpbin's client is the waypoint)`,
      rows: socks.filter((s) => has(s, `${ips.httpbin}:80`)),
    },
  ];
}

/** The waypoint's newest access-log line for `path`. */
/**
 * The waypoint's access-log line for `path`. The proxy writes its log in batches (up to 50 ms)
 * and the request has only just finished, so the line is waited for, up to 3 s.
 */
async function waypointAccessLine(
  lab: string,
  pod: PodRef,
  path: string,
): Promise<string | undefined> {
  const file = join(labPaths(lab).pods, `${pod.namespace}_${pod.name}`, 'istio-proxy.log');
  for (let attempt = 0; attempt < 30; attempt++) {
    if (existsSync(file)) {
      const lines = readFileSync(file, 'utf8').split('\n');
      for (let i = lines.length - 1; i >= 0; i--)
        if (lines[i]!.includes(` ${path} `)) return lines[i];
    }
    await sleep(100);
  }
  return undefined;
}

async function curl(pod: PodRef, url: string): Promise<{ code: string; body: string }> {
  const r = await run('curl', ['-sS', '-m', '5', '-w', '\n%{http_code}', url], {
    netns: pod.netns,
    allowFail: true,
  });
  const i = r.stdout.lastIndexOf('\n');
  return { body: r.stdout.slice(0, i), code: r.stdout.slice(i + 1) || r.stderr.trim() };
}

export async function waypointScene(s: WaypointScene): Promise<PodRef> {
  const { step, print } = s;
  const waypoint = await step(
    'a namespace waypoint: ambit waypoint apply -n default --enroll-namespace --wait',
    async () => {
      const out: string[] = [];
      const rc = await waypointCli(
        ['apply', '-n', 'default', '--enroll-namespace', '--wait', '--lab', s.lab],
        (t) => out.push(t),
      );
      for (const l of out.join('').trimEnd().split('\n')) print(`      ${l}`);
      if (rc !== 0)
        throw new AmbitError('DEMO_WAYPOINT_FAILED', `waypoint apply exited ${rc}`, { value: rc });
      const w = await s.findPod('default', 'waypoint');
      print(`      waypoint pod ${w.name} at ${w.ip}`);
      // The ztunnels learn the binding over xDS: wait until a request takes the new path.
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const r = await curl(s.sleepPod, `${URL}?via=waypoint`);
        if (r.code === '200' && (await waypointAccessLine(s.lab, w, '/get?via=waypoint'))) return w;
        await sleep(500);
      }
      throw new AmbitError('DEMO_WAYPOINT_FAILED', 'no request reached the waypoint in 60 s', {
        value: w.name,
        hint: `see ${labPaths(s.lab).pods}/default_${w.name}/istio-proxy.log`,
      });
    },
  );

  await step(`curl -sS ${URL} from ${s.sleepPod.name} (through the waypoint)`, async () => {
    const r = await curl(s.sleepPod, URL);
    if (r.code !== '200')
      throw new AmbitError('DEMO_CURL_FAILED', `curl through the waypoint: ${r.code}`, {
        value: r,
      });
    print('');
    for (const l of r.body.trimEnd().split('\n')) print(`      ${l}`);
    print('');
  });

  const ztA = await s.findPod('istio-system', `ztunnel-${await nodeOf(s.client, s.sleepPod)}`);
  const ztB = await s.findPod('istio-system', `ztunnel-${await nodeOf(s.client, s.httpbin)}`);
  await step(
    'the four TCP connections of one request (ss in each namespace, request in flight)',
    async () => {
      const ips = { waypoint: waypoint.ip, httpbin: s.httpbin.ip };
      const socks = await connectionsWhile(
        s.sleepPod,
        SLOW_URL,
        [ztA, waypoint, ztB, s.httpbin],
        [8000, Port.inbound, 80],
        (found) => classifyHops(found, ips, s.redirect).every((h) => h.rows.length > 0),
      );
      for (const hop of classifyHops(socks, ips, s.redirect)) {
        print(`      ${hop.title}`);
        if (hop.rows.length === 0) print('        (none seen)');
        for (const r of hop.rows)
          print(`        ${r.pod.padEnd(26)} ${r.local.padEnd(22)} ↔ ${r.peer}`);
      }
      const line = await waypointAccessLine(s.lab, waypoint, '/delay/3');
      print(
        "      the request in the waypoint's access log (client identity from the HBONE peer):",
      );
      print(`        ${line ? line.slice(line.indexOf('"')) : '(no access-log line yet)'}`);
    },
  );
  return waypoint;
}

async function nodeOf(client: KubeClient, pod: PodRef): Promise<string> {
  const p = await client.get<Pod>(resources.pods, pod.name, pod.namespace);
  return p.spec?.nodeName ?? '';
}
