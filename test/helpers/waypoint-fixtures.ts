/**
 * Builders for waypoint configs in tests: the conformance harness's services (echo, echo-v1,
 * echo-v2 with ports 80/8080 http, 7070 grpc, 9090 tcp) and route/policy shorthands.
 */
import type {
  HttpRoute,
  HttpRouteRule,
  GrpcRoute,
  GrpcRouteRule,
  RouteBackend,
  TcpRoute,
  WaypointConfig,
  WaypointEndpoint,
  WaypointService,
} from '../../src/api/waypoint-config.js';

export const NS = 'gateway-conformance-mesh';
export const svcKey = (name: string, ns = NS) => `${ns}/${name}.${ns}.svc.cluster.local`;

export function endpoint(
  pod: string,
  address: string,
  targetPorts: [number, number][],
  o: Partial<WaypointEndpoint> = {},
): WaypointEndpoint {
  const app = pod.replace(/-v\d.*$/, '');
  return {
    uid: `Kubernetes//Pod/${NS}/${pod}`,
    name: pod,
    namespace: o.namespace ?? NS,
    identity: `spiffe://cluster.local/ns/${o.namespace ?? NS}/sa/default`,
    serviceAccount: 'default',
    node: 'worker',
    workloadName: pod.replace(/-[a-z0-9]+-[a-z0-9]+$/, ''),
    canonicalName: app,
    canonicalRevision: /-(v\d)/.exec(pod)?.[1] ?? 'latest',
    app,
    version: /-(v\d)/.exec(pod)?.[1] ?? '',
    clusterId: 'Kubernetes',
    address,
    tunnel: 'HBONE',
    targetPorts: targetPorts.map(([servicePort, targetPort]) => ({ servicePort, targetPort })),
    healthy: true,
    ...o,
  };
}

export function service(
  name: string,
  vip: string,
  endpoints: WaypointEndpoint[],
  o: Partial<WaypointService> = {},
): WaypointService {
  return {
    name,
    namespace: NS,
    hostname: `${name}.${NS}.svc.cluster.local`,
    vips: [vip],
    ports: [
      { port: 80, name: 'http', protocol: 'HTTP' },
      { port: 8080, name: 'http-alt', protocol: 'HTTP' },
      { port: 7070, name: 'grpc', protocol: 'GRPC' },
      { port: 9090, name: 'tcp', protocol: 'TCP' },
    ],
    serves: true,
    endpoints,
    ...o,
  };
}

const PORTS: [number, number][] = [
  [80, 8080],
  [8080, 8080],
  [7070, 7070],
  [9090, 9090],
];

/** echo (both pods), echo-v1, echo-v2; pod IPs 10.244.1.10 / 10.244.2.10. */
export function conformanceServices(): WaypointService[] {
  const v1 = endpoint('echo-v1-6d8f9c7b4-x2k4q', '10.244.1.10', PORTS);
  const v2 = endpoint('echo-v2-5b7c8d9e1-q7w8e', '10.244.2.10', PORTS);
  return [
    service('echo', '10.96.100.1', [v1, v2]),
    service('echo-v1', '10.96.100.2', [v1]),
    service('echo-v2', '10.96.100.3', [v2]),
  ];
}

export function config(o: Partial<WaypointConfig> = {}): WaypointConfig {
  return {
    version: '1',
    waypoint: {
      name: 'namespace',
      namespace: NS,
      trustDomain: 'cluster.local',
      identity: `spiffe://cluster.local/ns/${NS}/sa/namespace`,
      trafficType: 'service',
    },
    services: conformanceServices(),
    workloads: [],
    httpRoutes: [],
    grpcRoutes: [],
    authorizationPolicies: [],
    ...o,
  };
}

export const to = (
  name: string,
  port = 8080,
  weight = 1,
  o: Partial<RouteBackend> = {},
): RouteBackend => ({ kind: 'service', service: svcKey(name), port, weight, ...o }) as RouteBackend;

let t0 = 1_700_000_000_000;
export function httpRoute(
  name: string,
  rules: Partial<HttpRouteRule>[],
  o: Partial<HttpRoute> = {},
): HttpRoute {
  return {
    name,
    namespace: NS,
    parents: [{ kind: 'Service', service: svcKey('echo'), port: 80 }],
    creationTimestampMs: t0++,
    rules: rules.map((r) => ({ matches: [], filters: [], backends: [], ...r })),
    ...o,
  };
}

export function grpcRoute(
  name: string,
  rules: Partial<GrpcRouteRule>[],
  o: Partial<GrpcRoute> = {},
): GrpcRoute {
  return {
    name,
    namespace: NS,
    parents: [{ kind: 'Service', service: svcKey('echo'), port: 7070 }],
    creationTimestampMs: t0++,
    rules: rules.map((r) => ({ matches: [], filters: [], backends: [], ...r })),
    ...o,
  };
}

/** A TCPRoute on echo:9090 (the harness's TCP port) with these backends. */
export function tcpRoute(
  name: string,
  backends: RouteBackend[],
  o: Partial<TcpRoute> = {},
): TcpRoute {
  return {
    name,
    namespace: NS,
    parents: [{ kind: 'Service', service: svcKey('echo'), port: 9090 }],
    creationTimestampMs: t0++,
    backends,
    ...o,
  };
}
