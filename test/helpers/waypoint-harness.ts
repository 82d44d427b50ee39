/**
 * An in-process waypoint between real parts on loopback, with real HBONE TLS from a fake CA:
 *
 *   curl / http2 / grpc-js → client tunnel (127.0.0.1, plays ztunnel A: HBONE as `sleep`)
 *     → waypoint (127.0.0.2, its own identity) → "ztunnel B" (a real HBONE server on 127.0.0.3
 *     that checks the waypoint identity and connects to `:authority`) → echo pods on 127.0.0.11/12.
 *
 * Pod IPs in the config are the loopback addresses of the echo servers, so `:authority
 * <pod IP>:<target port>` leads to them.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { WaypointConfig, WaypointWorkload } from '../../src/api/waypoint-config.js';
import { createHboneClient } from '../../src/hbone/client.js';
import { createHboneServer, type HboneServer } from '../../src/hbone/server.js';
import { decideThenSplice } from '../../src/hbone/handoff.js';
import { splice } from '../../src/relay/splice.js';
import type { CertificateSource, HboneClient, HboneRequest } from '../../src/hbone/types.js';
import { createLogger } from '../../src/log.js';
import { startEcho, type EchoServer } from '../../src/lab/apps/echo.js';
import { Waypoint } from '../../src/waypoint/app.js';
import type { IssuedCertificate } from '../../src/xds/types.js';
import { createFakeCa, spiffe, type FakeCa } from './fake-ca.js';
import { endpoint, NS, service } from './waypoint-fixtures.js';

export const WAYPOINT_ID = spiffe(NS, 'namespace');
export const SLEEP_ID = spiffe('default', 'sleep');
export const ECHO_ID = spiffe(NS, 'default');
export const SLEEP_IP = '10.244.0.5';
export const VIP = {
  echo: '10.96.100.1',
  v1: '10.96.100.2',
  v2: '10.96.100.3',
  flaky: '10.96.100.4',
  mirror: '10.96.100.5',
};
const WAYPOINT_IP = '127.0.0.2';
const ZTUNNEL_B_IP = '127.0.0.3';

class Certs implements CertificateSource {
  private readonly m = new Map<string, Promise<IssuedCertificate>>();
  constructor(private readonly ca: FakeCa) {}
  get(id: string) {
    let c = this.m.get(id);
    if (!c) this.m.set(id, (c = this.ca.issue(id)));
    return c;
  }
}

function listen(s: net.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, host, () => resolve((s.address() as net.AddressInfo).port));
  });
}

export interface Harness {
  ca: FakeCa;
  waypoint: Waypoint;
  /** A local port that tunnels each TCP connection to the waypoint as `sleep`, to `authority`. */
  tunnel(authority: string): Promise<number>;
  /** Opens one CONNECT to the waypoint as `identity`; rejects with the HBONE status. */
  connect(authority: string, identity?: string): Promise<Duplex>;
  /** CONNECTs ztunnel B saw (their peer identity must be the waypoint's). */
  seenByZtunnelB: HboneRequest[];
  accessLog: string[];
  echoPorts: { v1: EchoServer['ports']; v2: EchoServer['ports'] };
  mirrorHits: string[];
  config(o?: Partial<WaypointConfig>): WaypointConfig;
  apply(o?: Partial<WaypointConfig>): void;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const ca = await createFakeCa();
  const certs = new Certs(ca);
  const log = process.env.WAYPOINT_TEST_LOG
    ? createLogger('test')
    : createLogger('test', () => undefined);
  const closers: (() => Promise<void>)[] = [];
  const seenByZtunnelB: HboneRequest[] = [];
  const accessLog: string[] = [];
  const mirrorHits: string[] = [];

  const echo = (ip: string, pod: string) =>
    startEcho({
      host: ip,
      httpPorts: [0],
      h2cPorts: [0],
      grpcPort: 0,
      tcpPort: 0,
      hostname: pod,
      log,
    });
  const [v1, v2] = await Promise.all([
    echo('127.0.0.11', 'echo-v1-6d8f9c7b4-x2k4q'),
    echo('127.0.0.12', 'echo-v2-5b7c8d9e1-q7w8e'),
  ]);
  closers.push(
    () => v1.close(),
    () => v2.close(),
  );
  const mirror = net.createServer((s) => {
    s.once('data', (d: Buffer) => {
      mirrorHits.push(d.toString('latin1').split('\r\n')[0] ?? '');
      s.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    });
    s.on('error', () => undefined);
  });
  const mirrorPort = await listen(mirror, '127.0.0.14');
  closers.push(() => new Promise((r) => mirror.close(() => r())));

  // ztunnel B: terminates HBONE for every pod, presents the pod identity, dials :authority.
  const bListener = net.createServer({ allowHalfOpen: true });
  const bPort = await listen(bListener, ZTUNNEL_B_IP);
  const ztunnelB: HboneServer = createHboneServer({
    server: bListener,
    trustDomain: 'cluster.local',
    certificateFor: () => certs.get(ECHO_ID),
    handler: decideThenSplice((req) => {
      seenByZtunnelB.push(req);
      const [ip, port] = req.authority.split(':');
      return new Promise((resolve) => {
        const up = net.connect({ host: ip, port: Number(port), allowHalfOpen: true });
        up.once('connect', () => resolve({ status: 200, upstream: up }));
        up.once('error', () => resolve({ status: 503, reason: 'connect failed' }));
      });
    }),
    log,
  });
  closers.push(async () => {
    bListener.close();
    await ztunnelB.close(false);
  });

  const wpClient = createHboneClient({ certificates: certs, log });
  const waypoint = new Waypoint({
    identity: WAYPOINT_ID,
    trustDomain: 'cluster.local',
    ip: WAYPOINT_IP,
    certificates: certs,
    hboneClient: wpClient,
    listen: {
      hbone: { host: WAYPOINT_IP, port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      metrics: { host: '127.0.0.1', port: 0 },
      readiness: { host: '127.0.0.1', port: 0 },
    },
    hbonePort: () => ({ ip: ZTUNNEL_B_IP, port: bPort }),
    log,
    accessLog: (l) => accessLog.push(l),
  });

  const ports = (p: EchoServer['ports']): [number, number][] => [
    [80, p.http[0]!],
    [8080, p.http[0]!],
    [8081, p.h2c[0]!],
    [8082, p.http[0]!],
    [8083, p.tcp!],
    [7070, p.grpc!],
    [9090, p.tcp!],
  ];
  const ep1 = endpoint('echo-v1-6d8f9c7b4-x2k4q', '127.0.0.11', ports(v1.ports), {
    identity: ECHO_ID,
  });
  const ep2 = endpoint('echo-v2-5b7c8d9e1-q7w8e', '127.0.0.12', ports(v2.ports), {
    identity: ECHO_ID,
  });
  // A pod whose node refuses the CONNECT (nothing listens on 127.0.0.13): retries must skip it.
  const dead = endpoint('echo-v3-0000000000-deadd', '127.0.0.13', ports(v1.ports), {
    identity: ECHO_ID,
  });
  const svcPorts = [
    { port: 80, name: 'http', protocol: 'HTTP' as const },
    { port: 8080, name: 'http-alt', protocol: 'HTTP' as const },
    { port: 8081, name: 'web', protocol: 'UNKNOWN' as const },
    { port: 8082, name: 'web-h1', protocol: 'UNKNOWN' as const },
    { port: 8083, name: 'raw', protocol: 'UNKNOWN' as const },
    { port: 7070, name: 'grpc', protocol: 'GRPC' as const },
    { port: 9090, name: 'tcp', protocol: 'TCP' as const },
  ];
  const sleep: WaypointWorkload = {
    uid: 'Kubernetes//Pod/default/sleep-1',
    name: 'sleep-1',
    namespace: 'default',
    identity: SLEEP_ID,
    serviceAccount: 'sleep',
    node: 'worker',
    workloadName: 'sleep',
    canonicalName: 'sleep',
    canonicalRevision: 'latest',
    app: 'sleep',
    version: '',
    clusterId: 'Kubernetes',
    addresses: [SLEEP_IP],
    tunnel: 'HBONE',
    serves: false,
  };
  const base = (o: Partial<WaypointConfig> = {}): WaypointConfig => ({
    version: String(Date.now()),
    waypoint: {
      name: 'namespace',
      namespace: NS,
      trustDomain: 'cluster.local',
      identity: WAYPOINT_ID,
      trafficType: 'service',
    },
    services: [
      service('echo', VIP.echo, [ep1, ep2], { ports: svcPorts }),
      service('echo-v1', VIP.v1, [ep1], { ports: svcPorts }),
      service('echo-v2', VIP.v2, [ep2], { ports: svcPorts }),
      service('flaky', VIP.flaky, [dead, ep1], { ports: svcPorts }),
      service(
        'mirror',
        VIP.mirror,
        [
          endpoint('mirror-0', '127.0.0.14', [[80, mirrorPort]], {
            identity: ECHO_ID,
            tunnel: 'NONE',
          }),
        ],
        {
          ports: [{ port: 80, name: 'http', protocol: 'HTTP' }],
          serves: false,
        },
      ),
    ],
    workloads: [sleep],
    httpRoutes: [],
    grpcRoutes: [],
    authorizationPolicies: [],
    ...o,
  });
  waypoint.store.apply(base());
  await waypoint.start();
  closers.unshift(() => waypoint.stop(false));
  closers.push(() => wpClient.close());

  const wpAddr = waypoint.bound.hbone!;
  const clients = new Map<string, HboneClient>();
  const clientFor = (id: string) => {
    let c = clients.get(id);
    if (!c) clients.set(id, (c = createHboneClient({ certificates: certs, log })));
    return c;
  };
  closers.push(async () => {
    for (const c of clients.values()) await c.close();
  });
  const connect = async (authority: string, identity = SLEEP_ID) => {
    const { stream } = await clientFor(identity).connect({
      srcIdentity: identity,
      dstIdentities: [WAYPOINT_ID],
      srcIp: SLEEP_IP,
      dstIp: wpAddr.host,
      dstPort: wpAddr.port,
      authority,
      headers: { forwarded: `for="${SLEEP_IP}:40000"` },
    });
    return stream;
  };
  const tunnels: net.Server[] = [];
  closers.unshift(async () => {
    for (const t of tunnels) await new Promise<void>((r) => t.close(() => r()));
  });
  const sockets = new Set<net.Socket>();
  closers.unshift(() => Promise.resolve(sockets.forEach((s) => s.destroy())));
  const tunnel = async (authority: string) => {
    const srv = net.createServer({ allowHalfOpen: true }, (sock) => {
      sockets.add(sock);
      sock.once('close', () => sockets.delete(sock));
      connect(authority).then(
        (stream) => void splice(sock, stream),
        () => sock.destroy(),
      );
    });
    tunnels.push(srv);
    return listen(srv, '127.0.0.1');
  };

  return {
    ca,
    waypoint,
    tunnel,
    connect,
    seenByZtunnelB,
    accessLog,
    mirrorHits,
    echoPorts: { v1: v1.ports, v2: v2.ports },
    config: base,
    apply: (o) => void waypoint.store.apply(base(o)),
    close: async () => {
      for (const [i, c] of closers.entries()) {
        let timer: NodeJS.Timeout | undefined;
        const slow = new Promise<void>(
          (r) => (timer = setTimeout(() => (log.warn('closer slow', { i }), r()), 3000)),
        );
        await Promise.race([c().catch(() => undefined), slow]);
        clearTimeout(timer);
      }
    },
  };
}
