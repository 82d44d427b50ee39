/**
 * The benchmark lab: the seeds' cluster with the mesh installed, and in it the same client
 * (worker2) and server (worker) pods three times over:
 *  - `direct`:  namespace bench-direct, not enrolled: the limit, no proxy at all;
 *  - `mesh`:    namespace bench-mesh, enrolled: capture + two ztunnels + HBONE;
 *  - `stunnel`: bench-direct's client talks to a stunnel client pod on its node, which speaks
 *    TLS 1.3 with client certificates to a stunnel server pod on the server's node, which
 *    connects to the server: a mature C TLS tunnel in ztunnel's two positions;
 *  - `mesh-ebpf` (with --ebpf): namespace bench-mesh-ebpf, enrolled, client on worker3 and
 *    server on worker4, two more nodes whose agents run the eBPF backend: the same mesh with
 *    the other redirection, measured in the same rounds;
 *  - `mesh-baseline` (with --baseline <ref>): namespace bench-mesh-baseline, enrolled, client on
 *    worker5 and server on worker6, whose ztunnels run another commit's build (bench/baseline.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AmbitError } from '../src/errors.js';
import type { KubeClient } from '../src/k8s/client.js';
import { resources } from '../src/k8s/resources.js';
import type { KubeObject, Pod } from '../src/k8s/types.js';
import { repoRoot } from '../src/lab/cluster/paths.js';
import { applyObjects } from '../src/lab/orchestrator/manifests.js';
import { podReady } from '../src/lab/orchestrator/wait.js';
import { out } from '../src/sys/exec.js';
import {
  CLIENT_HAPROXY,
  CLIENT_L4,
  deployL7Proxies,
  haproxyCerts,
  HAPROXY_PORTS,
  L7_H1_PORT,
  L7_H2_PORT,
  l7ServerContainer,
  l7Targets,
  TUNNEL_L7,
  type L7Mode,
  type L7Target,
} from './l7-setup.js';

export const ECHO_PORT = 9000;
export const IPERF_PORT = 5201;

export interface Endpoint {
  /** Where the client connects for the echo server and for iperf3. */
  host: string;
  echoPort: number;
  iperfPort: number;
}

export interface BenchPods {
  /** netns of the client pod in each namespace. */
  clientNetns: { direct: string; mesh: string } & Partial<Record<ExtraMesh, string>>;
  targets: { direct: Endpoint; mesh: Endpoint; stunnel: Endpoint } & Partial<
    Record<ExtraMesh, Endpoint>
  >;
  /** With --l7: where each L7 mode points, and the two L7 proxies' pods (for metering). */
  l7?: { targets: Record<L7Mode, L7Target>; waypoint: Pod; haproxy: Pod };
}

/** The nodes of the mesh-ebpf mode (client, server) and where the bench cluster puts them. */
export const EBPF_NODES = [
  { name: 'worker3', ip: '172.18.0.5', podCIDR: '10.244.3.0/24', role: 'worker' as const },
  { name: 'worker4', ip: '172.18.0.6', podCIDR: '10.244.4.0/24', role: 'worker' as const },
];

/** The nodes of the mesh-baseline mode (client, server): their ztunnels run the baseline. */
export const BASELINE_NODES = [
  { name: 'worker5', ip: '172.18.0.7', podCIDR: '10.244.5.0/24', role: 'worker' as const },
  { name: 'worker6', ip: '172.18.0.8', podCIDR: '10.244.6.0/24', role: 'worker' as const },
];

/** The meshes on extra nodes, each with its own namespace and (client, server) nodes. */
export type ExtraMesh = 'mesh-ebpf' | 'mesh-baseline';
export const EXTRA_MESH_NODES: Record<ExtraMesh, typeof EBPF_NODES> = {
  'mesh-ebpf': EBPF_NODES,
  'mesh-baseline': BASELINE_NODES,
};

function pod(
  name: string,
  ns: string,
  node: string,
  containers: object[],
  extra: object = {},
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: { nodeName: node, containers, ...extra },
  };
}

function echoServer(): object {
  const js = join(repoRoot(), 'dist', 'bench', 'tools', 'echo-server.js');
  return {
    name: 'echo',
    image: 'node',
    command: [process.execPath, js, '--port', String(ECHO_PORT)],
  };
}

const iperfServer = {
  name: 'iperf3',
  image: 'iperf3',
  command: ['iperf3', '-s', '-p', String(IPERF_PORT)],
};
const idle = { name: 'client', image: 'sleep', command: ['sleep', 'infinity'] };

/** A throwaway CA, server and client certificates for stunnel (ECDSA P-256, as the mesh uses). */
function makeCerts(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const sh = `
set -e
cd ${dir}
openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -subj /CN=bench-ca -days 2 -out ca.pem
for who in server client; do
  openssl ecparam -name prime256v1 -genkey -noout -out $who.key
  openssl req -new -key $who.key -subj /CN=$who -out $who.csr
  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out $who.pem 2>/dev/null
  cat $who.pem $who.key > $who.bundle
done`;
  return out('sh', ['-c', sh]).then(() => undefined);
}

function stunnelConf(dir: string, role: 'server' | 'client', routes: [number, string][]): string {
  const lines = [
    'foreground = yes',
    'pid =',
    'debug = 3',
    `cert = ${dir}/${role}.bundle`,
    `CAfile = ${dir}/ca.pem`,
    'verifyChain = yes',
    'sslVersionMin = TLSv1.3',
    'socket = l:TCP_NODELAY=1',
    'socket = r:TCP_NODELAY=1',
  ];
  if (role === 'client') lines.push('client = yes');
  for (const [accept, connect] of routes) {
    lines.push(`[p${accept}]`, `accept = 0.0.0.0:${accept}`, `connect = ${connect}`);
  }
  const file = join(dir, `${role}.conf`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

async function waitPods(
  client: KubeClient,
  ns: string,
  names: string[],
  timeoutMs = 60_000,
): Promise<Map<string, Pod>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pods = (await client.list<Pod>(resources.pods, { namespace: ns })).items;
    const ready = new Map(pods.filter(podReady).map((p) => [p.metadata.name, p]));
    if (names.every((n) => ready.has(n))) return ready;
    await sleep(250);
  }
  throw new AmbitError(
    'BENCH_PODS_NOT_READY',
    `bench pods in ${ns} not ready: ${names.join(', ')}`,
    {
      value: ns,
      hint: 'see the pod logs in the lab state dir',
    },
  );
}

const ip = (p: Pod | undefined): string => p?.status?.podIP ?? '';
const netns = (p: Pod | undefined): string =>
  p?.metadata.annotations?.['lab.ambit.dev/netns'] ?? '';

/** An extra mesh's namespace `bench-<mode>`: the same client and server pods on its nodes. */
async function deployExtraMesh(
  client: KubeClient,
  mode: ExtraMesh,
): Promise<{ netns: string; target: Endpoint }> {
  const ns = `bench-${mode}`;
  const [clientNode, serverNode] = EXTRA_MESH_NODES[mode];
  await applyObjects(client, [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, labels: { 'istio.io/dataplane-mode': 'ambient' } },
    },
  ]);
  await applyObjects(client, [
    pod('server', ns, serverNode!.name, [echoServer(), iperfServer]),
    pod('client', ns, clientNode!.name, [idle]),
  ]);
  const p = await waitPods(client, ns, ['server', 'client']);
  return {
    netns: netns(p.get('client')),
    target: { host: ip(p.get('server')), echoPort: ECHO_PORT, iperfPort: IPERF_PORT },
  };
}

export async function deployBenchPods(
  client: KubeClient,
  workDir: string,
  opts: { extra?: ExtraMesh[]; l7?: { labDir: string } } = {},
): Promise<BenchPods> {
  const certs = join(workDir, 'certs');
  await makeCerts(certs);
  if (opts.l7) await haproxyCerts(certs, opts.l7.labDir);
  const servers = opts.l7
    ? [echoServer(), iperfServer, l7ServerContainer()]
    : [echoServer(), iperfServer];
  await applyObjects(client, [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench-direct' } },
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'bench-mesh', labels: { 'istio.io/dataplane-mode': 'ambient' } },
    },
  ]);
  // Servers first: stunnel's server side needs the server's address in its config.
  await applyObjects(client, [
    pod('server', 'bench-direct', 'worker', servers),
    pod('server', 'bench-mesh', 'worker', servers),
    pod('client', 'bench-direct', 'worker2', [idle]),
    pod('client', 'bench-mesh', 'worker2', [idle]),
  ]);
  const direct = await waitPods(client, 'bench-direct', ['server', 'client']);
  const mesh = await waitPods(client, 'bench-mesh', ['server', 'client']);
  const serverIp = ip(direct.get('server'));
  const sConf = stunnelConf(certs, 'server', [
    [9443, `${serverIp}:${ECHO_PORT}`],
    [9444, `${serverIp}:${IPERF_PORT}`],
    ...(opts.l7
      ? ([
          [TUNNEL_L7.h1, `${serverIp}:${L7_H1_PORT}`],
          [TUNNEL_L7.h2, `${serverIp}:${L7_H2_PORT}`],
        ] as [number, string][])
      : []),
  ]);
  await applyObjects(client, [
    pod('stunnel-server', 'bench-direct', 'worker', [
      { name: 'stunnel', image: 'stunnel', command: ['stunnel4', sConf] },
    ]),
  ]);
  const withServer = await waitPods(client, 'bench-direct', ['stunnel-server']);
  const tunnelIp = ip(withServer.get('stunnel-server'));
  const l7 = opts.l7 ? await deployL7Proxies(client, certs, tunnelIp) : undefined;
  const haproxyIp = ip(l7?.haproxy);
  const cConf = stunnelConf(certs, 'client', [
    [ECHO_PORT, `${tunnelIp}:9443`],
    [IPERF_PORT, `${tunnelIp}:9444`],
    ...(l7
      ? ([
          [CLIENT_L4.h1, `${tunnelIp}:${TUNNEL_L7.h1}`],
          [CLIENT_L4.h2, `${tunnelIp}:${TUNNEL_L7.h2}`],
          [CLIENT_HAPROXY.h1, `${haproxyIp}:${HAPROXY_PORTS.h1}`],
          [CLIENT_HAPROXY.h2, `${haproxyIp}:${HAPROXY_PORTS.h2}`],
        ] as [number, string][])
      : []),
  ]);
  await applyObjects(client, [
    pod('stunnel-client', 'bench-direct', 'worker2', [
      { name: 'stunnel', image: 'stunnel', command: ['stunnel4', cConf] },
    ]),
  ]);
  const all = await waitPods(client, 'bench-direct', ['stunnel-client']);
  const extra: [ExtraMesh, { netns: string; target: Endpoint }][] = [];
  for (const m of opts.extra ?? []) extra.push([m, await deployExtraMesh(client, m)]);
  // Servers need a moment to bind after their process starts (readiness = process alive).
  await sleep(500);
  return {
    clientNetns: {
      direct: netns(direct.get('client')),
      mesh: netns(mesh.get('client')),
      ...Object.fromEntries(extra.map(([m, x]) => [m, x.netns])),
    },
    targets: {
      direct: { host: serverIp, echoPort: ECHO_PORT, iperfPort: IPERF_PORT },
      mesh: { host: ip(mesh.get('server')), echoPort: ECHO_PORT, iperfPort: IPERF_PORT },
      stunnel: { host: ip(all.get('stunnel-client')), echoPort: ECHO_PORT, iperfPort: IPERF_PORT },
      ...Object.fromEntries(extra.map(([m, x]) => [m, x.target])),
    },
    ...(l7
      ? {
          l7: {
            waypoint: l7.waypoint,
            haproxy: l7.haproxy,
            targets: l7Targets({
              directServer: serverIp,
              meshServer: ip(mesh.get('server')),
              vip: l7.vip,
              stunnelClient: ip(all.get('stunnel-client')),
            }),
          },
        }
      : {}),
  };
}
