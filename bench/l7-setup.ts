/**
 * The L7 part of the bench lab (`--l7`, issue 15): the waypoint against HAProxy in the same
 * position, both with TLS 1.3 and client certificates on both legs.
 *
 *  - every bench server pod also runs `l7-server` (HTTP/1.1 on 8080, h2c/gRPC on 8081);
 *  - `waypoint`: in bench-mesh a Service `l7` (8080 http, 8081 http2) labelled
 *    `istio.io/use-waypoint=waypoint` and a Gateway of class istio-waypoint: client → ztunnel →
 *    HBONE → waypoint → HBONE → ztunnel → server. Its L4 baseline (`mesh`) is the same client to
 *    the server pod's IP, which no waypoint sees (a waypoint for services);
 *  - `haproxy`: HAProxy (Debian's /usr/sbin/haproxy) on the waypoint's node, in bench-direct,
 *    with a certificate the mesh CA signed (SPIFFE URI SAN): client → stunnel client → TLS 1.3
 *    mTLS → HAProxy (terminates, routes on the path, re-originates TLS 1.3 with its client
 *    certificate) → stunnel server → server. Its L4 baseline (`stunnel`) is the same two
 *    stunnels connected to each other: so "what the L7 proxy adds" is the same difference in
 *    both meshes (one more hop, two TLS legs, HTTP parsing and routing).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError } from '../src/errors.js';
import type { KubeClient } from '../src/k8s/client.js';
import { resources } from '../src/k8s/resources.js';
import type { Pod, Service } from '../src/k8s/types.js';
import { repoRoot } from '../src/lab/cluster/paths.js';
import { applyObjects } from '../src/lab/orchestrator/manifests.js';
import { podReady } from '../src/lab/orchestrator/wait.js';
import { out } from '../src/sys/exec.js';
import { setTimeout as sleep } from 'node:timers/promises';

export const L7_H1_PORT = 8080;
export const L7_H2_PORT = 8081;
/** stunnel server: TLS in, plain to the l7-server (h1, h2). */
export const TUNNEL_L7 = { h1: 9445, h2: 9446 } as const;
/** stunnel client: plain in; to the stunnel server directly (L4 baseline) or via HAProxy. */
export const CLIENT_L4 = { h1: 8090, h2: 8091 } as const;
export const CLIENT_HAPROXY = { h1: L7_H1_PORT, h2: L7_H2_PORT } as const;
/** HAProxy's TLS frontends. */
export const HAPROXY_PORTS = { h1: 8443, h2: 8444 } as const;

export const L7_MODES = ['direct', 'mesh', 'waypoint', 'stunnel', 'haproxy'] as const;
export type L7Mode = (typeof L7_MODES)[number];

/** Where the load generator points, per protocol (h1 for HTTP/1.1, h2 for h2c and gRPC). */
export interface L7Target {
  host: string;
  h1: number;
  h2: number;
}

export function l7ServerContainer(): object {
  const js = join(repoRoot(), 'dist', 'bench', 'l7-server.js');
  return {
    name: 'l7',
    image: 'node',
    command: [process.execPath, js, '--port', String(L7_H1_PORT)],
  };
}

/**
 * A certificate for HAProxy signed by the lab's mesh CA (the control plane's root in the lab's
 * state directory), and the bench CA file extended with the mesh root so the stunnels accept
 * HAProxy and HAProxy accepts the stunnels.
 */
export async function haproxyCerts(certs: string, labDir: string): Promise<void> {
  const cp = join(labDir, 'controlplane');
  const root = join(cp, 'root-cert.pem');
  let rootPem: string;
  try {
    rootPem = readFileSync(root, 'utf8');
  } catch {
    throw new AmbitError('BENCH_PODS_NOT_READY', `no mesh CA root at ${root}`, {
      value: root,
      hint: 'the mesh must be installed (its control plane creates the CA) before --l7',
    });
  }
  writeFileSync(
    join(certs, 'haproxy.ext'),
    'subjectAltName=URI:spiffe://cluster.local/ns/bench-direct/sa/haproxy\n' +
      'extendedKeyUsage=serverAuth,clientAuth\n',
  );
  const sh = `
set -e
cd ${certs}
openssl ecparam -name prime256v1 -genkey -noout -out haproxy.key
openssl req -new -key haproxy.key -subj /O=cluster.local -out haproxy.csr
openssl x509 -req -in haproxy.csr -CA ${root} -CAkey ${join(cp, 'ca-key.pem')} -CAcreateserial \
  -CAserial haproxy.srl -days 2 -extfile haproxy.ext -out haproxy.crt 2>/dev/null
cat haproxy.crt haproxy.key > haproxy.pem`;
  await out('sh', ['-c', sh]);
  // Both roots in one file: stunnel's CAfile and HAProxy's ca-file.
  writeFileSync(join(certs, 'ca.pem'), readFileSync(join(certs, 'ca.pem'), 'utf8') + rootPem);
}

/**
 * HAProxy as an L7 mTLS proxy: one event loop (nbthread 1, as the waypoint is one Node
 * process), TLS 1.3 only, client certificates required and presented, routing on the path,
 * one access-log line per request on stdout (the waypoint logs one too).
 */
export function haproxyConf(certs: string, tunnelIp: string): string {
  const tls = `ca-file ${certs}/ca.pem verify required`;
  const conf = `global
  nbthread 1
  maxconn 4096
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3
  log stdout format raw local0 info

defaults
  mode http
  log global
  option httplog
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s

frontend h1
  bind 0.0.0.0:${HAPROXY_PORTS.h1} ssl crt ${certs}/haproxy.pem ${tls}
  use_backend be_h1 if { path_beg / }

frontend h2
  # stunnel sends no ALPN: the decrypted stream is HTTP/2 with prior knowledge.
  bind 0.0.0.0:${HAPROXY_PORTS.h2} ssl crt ${certs}/haproxy.pem ${tls} proto h2
  use_backend be_h2 if { path_beg / }

backend be_h1
  http-reuse always
  server s1 ${tunnelIp}:${TUNNEL_L7.h1} ssl crt ${certs}/haproxy.pem ${tls}

backend be_h2
  http-reuse always
  server s1 ${tunnelIp}:${TUNNEL_L7.h2} ssl crt ${certs}/haproxy.pem ${tls} proto h2
`;
  const file = join(certs, 'haproxy.cfg');
  writeFileSync(file, conf);
  return file;
}

async function waitPod(
  client: KubeClient,
  ns: string,
  match: (p: Pod) => boolean,
  what: string,
  timeoutMs = 120_000,
): Promise<Pod> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pods = (await client.list<Pod>(resources.pods, { namespace: ns })).items;
    const p = pods.find((x) => match(x) && podReady(x));
    if (p) return p;
    await sleep(500);
  }
  throw new AmbitError('BENCH_PODS_NOT_READY', `${what} in ${ns} not ready`, {
    value: what,
    hint: 'see the pod logs in the lab state dir (ambit lab logs)',
  });
}

export interface L7Proxies {
  /** The waypoint's pod and node (HAProxy runs on the same node). */
  waypoint: Pod;
  haproxy: Pod;
  vip: string;
}

/** The Service, the waypoint for it, and HAProxy on the waypoint's node. */
export async function deployL7Proxies(
  client: KubeClient,
  certs: string,
  tunnelIp: string,
): Promise<L7Proxies> {
  const ns = 'bench-mesh';
  await applyObjects(client, [
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'waypoint', namespace: ns },
      spec: {
        gatewayClassName: 'istio-waypoint',
        listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'l7', namespace: ns, labels: { 'istio.io/use-waypoint': 'waypoint' } },
      spec: {
        selector: { app: 'server' },
        ports: [
          { name: 'http', port: L7_H1_PORT, targetPort: L7_H1_PORT },
          { name: 'http2', port: L7_H2_PORT, targetPort: L7_H2_PORT },
        ],
      },
    },
  ]);
  const waypoint = await waitPod(
    client,
    ns,
    (p) => p.metadata.labels?.['gateway.networking.k8s.io/gateway-name'] === 'waypoint',
    'the waypoint pod',
  );
  const svc = await client.get<Service>(resources.services, 'l7', ns);
  const vip = svc.spec?.clusterIP ?? '';
  const node = waypoint.spec?.nodeName ?? 'worker';
  const conf = haproxyConf(certs, tunnelIp);
  await applyObjects(client, [
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'haproxy', namespace: 'bench-direct', labels: { app: 'haproxy' } },
      spec: {
        nodeName: node,
        containers: [
          { name: 'haproxy', image: 'haproxy', command: ['/usr/sbin/haproxy', '-db', '-f', conf] },
        ],
      },
    },
  ]);
  const haproxy = await waitPod(
    client,
    'bench-direct',
    (p) => p.metadata.name === 'haproxy',
    'the haproxy pod',
  );
  return { waypoint, haproxy, vip };
}

/** The load generator's targets per L7 mode. */
export function l7Targets(a: {
  directServer: string;
  meshServer: string;
  vip: string;
  stunnelClient: string;
}): Record<L7Mode, L7Target> {
  return {
    direct: { host: a.directServer, h1: L7_H1_PORT, h2: L7_H2_PORT },
    mesh: { host: a.meshServer, h1: L7_H1_PORT, h2: L7_H2_PORT },
    waypoint: { host: a.vip, h1: L7_H1_PORT, h2: L7_H2_PORT },
    stunnel: { host: a.stunnelClient, ...CLIENT_L4 },
    haproxy: { host: a.stunnelClient, ...CLIENT_HAPROXY },
  };
}
