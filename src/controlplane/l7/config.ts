/**
 * One WaypointConfig (src/api/waypoint-config.ts) per waypoint Gateway, from the watched
 * objects and the workload model: the services bound to it (serves) with their endpoints, the
 * services its routes send to, every mesh workload (serves = bound for workload traffic), the
 * accepted HTTPRoutes/GRPCRoutes/TCPRoutes attached to a served Service or to the Gateway, and the L7
 * policies placed on it. Also the route and policy reports for status. Pure.
 */
import { createHash } from 'node:crypto';
import { Label } from '../../api/labels.js';
import { portProtocol } from '../../api/port-protocol.js';
import type {
  GrpcRoute,
  HttpRoute,
  IngressListener,
  TcpRoute,
  L7AuthorizationPolicy,
  WaypointConfig,
  WaypointEndpoint,
  WaypointService,
  WaypointWorkload,
  WorkloadFacts,
} from '../../api/waypoint-config.js';
import { spiffeId, type Workload } from '../../api/workload.js';
import type { Namespace, Pod, Secret, Service as KubeService } from '../../k8s/types.js';
import { listenerCertificates, secretIndex } from '../gateway/certificates.js';
import { classOf, deployedName, WAYPOINT_CLASS } from '../gateway/classes.js';
import { ReferenceGrants } from '../gateway/reference-grants.js';
import type { Gateway, Model, ModelOptions, PolicyReport, Snapshot } from '../model/types.js';
import { WaypointIndex, type WaypointFor } from '../model/waypoints.js';
import { serviceHostname } from '../model/workloads.js';
import { translatePolicy, type PlacedPolicy } from './policies.js';
import { translateGrpcRoute, translateHttpRoute, type TranslatedRoute } from './routes.js';
import { translateTcpRoute } from './tcp-routes.js';

export interface WaypointConfigs {
  /** Keyed `namespace/name` of the Gateway. */
  configs: Map<string, WaypointConfig>;
  routes: TranslatedRoute<HttpRoute | GrpcRoute | TcpRoute>[];
  policyReports: PolicyReport[];
}

const nsOf = (o: { metadata: { namespace?: string } }) => o.metadata.namespace ?? 'default';

function facts(w: Workload, pod: Pod | undefined): WorkloadFacts {
  const labels = pod?.metadata.labels ?? {};
  return {
    uid: w.uid,
    name: w.name,
    namespace: w.namespace,
    identity: spiffeId(w.trustDomain, w.namespace, w.serviceAccount),
    serviceAccount: w.serviceAccount,
    node: w.node,
    workloadName: w.workloadName,
    canonicalName: w.canonicalName,
    canonicalRevision: w.canonicalRevision,
    app: labels.app ?? '',
    version: labels.version ?? '',
    clusterId: w.clusterId,
  };
}

/**
 * An ingress Gateway's listeners as its proxy serves them: HTTP, TCP (TCPRoutes), and HTTPS (TLS
 * terminated) with the certificates of its certificateRefs; an HTTPS listener whose
 * certificates cannot be used is left out (its status says why), as is every other protocol.
 */
function ingressListeners(
  gw: Gateway,
  secrets: ReadonlyMap<string, Secret>,
  grants: ReferenceGrants,
): IngressListener[] {
  return (gw.spec?.listeners ?? []).flatMap((l): IngressListener[] => {
    if (!l.port) return [];
    const base = {
      name: l.name ?? '',
      port: l.port,
      ...(l.hostname ? { hostname: l.hostname } : {}),
    };
    if (l.protocol === 'HTTP') return [{ ...base, protocol: 'HTTP' }];
    // A TCP listener has no hostname to match (Gateway API: it is ignored there).
    if (l.protocol === 'TCP') return [{ name: base.name, port: base.port, protocol: 'TCP' }];
    if (l.protocol !== 'HTTPS' || (l.tls?.mode ?? 'Terminate') !== 'Terminate') return [];
    const c = listenerCertificates(gw, l, secrets, grants);
    return 'certificates' in c
      ? [{ ...base, protocol: 'HTTPS', tls: { certificates: c.certificates } }]
      : [];
  });
}

/** The version is a hash of the content, so an unchanged config keeps its version. */
function withVersion(c: Omit<WaypointConfig, 'version'>): WaypointConfig {
  const version = createHash('sha256').update(JSON.stringify(c)).digest('hex').slice(0, 16);
  return { version, ...c };
}

export function buildWaypointConfigs(
  snap: Snapshot,
  model: Model,
  options: ModelOptions,
): WaypointConfigs {
  const namespaces = new Map<string, Namespace>(snap.namespaces.map((n) => [n.metadata.name, n]));
  const kubeServices = new Map<string, KubeService>(
    snap.services.map((s) => [`${nsOf(s)}/${s.metadata.name}`, s]),
  );
  const podsByUid = new Map<string, Pod>();
  for (const p of snap.pods)
    podsByUid.set(`${options.clusterId}//Pod/${nsOf(p)}/${p.metadata.name}`, p);
  const index = new WaypointIndex(snap.gateways);
  // Waypoints and ingress gateways (class istio): both get a config, both can be route parents.
  const managed = snap.gateways.filter(
    (g) => classOf(g.spec?.gatewayClassName) && !g.metadata.deletionTimestamp,
  );
  const gatewayMap = new Map(managed.map((g) => [`${nsOf(g)}/${g.metadata.name}`, g]));
  const waypointKeys = new Set(
    managed
      .filter((g) => g.spec?.gatewayClassName === WAYPOINT_CLASS)
      .map((g) => `${nsOf(g)}/${g.metadata.name}`),
  );

  // Which waypoint serves each service (key namespace/hostname) and each workload (uid).
  const serviceOwner = new Map<string, string>();
  for (const s of snap.services) {
    const wp = index.serviceWaypoint(s, namespaces.get(nsOf(s)));
    if (wp)
      serviceOwner.set(`${nsOf(s)}/${serviceHostname(s, options)}`, `${wp.namespace}/${wp.name}`);
  }
  const workloadOwner = new Map<string, string>();
  for (const p of snap.pods) {
    const wp = index.workloadWaypoint(p, namespaces.get(nsOf(p)));
    if (wp)
      workloadOwner.set(
        `${options.clusterId}//Pod/${nsOf(p)}/${p.metadata.name}`,
        `${wp.namespace}/${wp.name}`,
      );
  }

  const grants = new ReferenceGrants(snap.referenceGrants);
  const ctx = {
    domainSuffix: options.domainSuffix,
    services: kubeServices,
    grants,
    namespaceLabels: new Map(
      snap.namespaces.map((n) => [n.metadata.name, n.metadata.labels ?? {}]),
    ),
  };
  const routes: TranslatedRoute<HttpRoute | GrpcRoute | TcpRoute>[] = [
    ...snap.httpRoutes.map((r) => translateHttpRoute(r, ctx, gatewayMap)),
    ...snap.grpcRoutes.map((r) => translateGrpcRoute(r, ctx, gatewayMap)),
    ...(snap.tcpRoutes ?? []).map((r) => translateTcpRoute(r, ctx, gatewayMap)),
  ].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));

  const policyReports: PolicyReport[] = [];
  const placed: PlacedPolicy[] = [];
  for (const p of snap.policies) {
    const t = translatePolicy(p, {
      rootNamespace: options.rootNamespace,
      domainSuffix: options.domainSuffix,
      services: kubeServices,
      waypoints: new Set(gatewayMap.keys()),
      serviceBound: (k) => serviceOwner.has(k),
    });
    placed.push(...t.placed);
    if (t.report) policyReports.push(t.report);
  }

  const endpointsOf = (key: string): WaypointEndpoint[] =>
    model.workloads.flatMap((w) => {
      const svc = w.services[key];
      const address = w.addresses[0];
      if (!svc || !address) return [];
      return [
        {
          ...facts(w, podsByUid.get(w.uid)),
          address,
          tunnel: w.tunnelProtocol,
          targetPorts: svc.ports.map((p) => ({
            servicePort: p.servicePort,
            targetPort: p.targetPort || p.servicePort,
          })),
          healthy: w.status === 'Healthy',
        },
      ];
    });
  const serviceEntry = (key: string, serves: boolean): WaypointService | undefined => {
    const s = model.services.find((x) => `${x.namespace}/${x.hostname}` === key);
    const k = kubeServices.get(`${s?.namespace}/${s?.name}`);
    if (!s || !k) return undefined;
    return {
      name: s.name,
      namespace: s.namespace,
      hostname: s.hostname,
      vips: s.addresses.map((a) => a.address),
      ports: (k.spec?.ports ?? []).map((p) => ({
        port: p.port,
        name: p.name ?? '',
        protocol: portProtocol(p.name, p.appProtocol),
      })),
      serves,
      endpoints: endpointsOf(key),
    };
  };

  // An ingress gateway sends to a service's waypoint instead of its endpoints when the service
  // or its namespace says `istio.io/ingress-use-waypoint: "true"` (docs/istio/waypoint.md §1).
  const viaWaypoint = (s: WaypointService): WaypointService => {
    const k = kubeServices.get(`${s.namespace}/${s.name}`);
    const on = (l: Record<string, string> | undefined) => l?.[Label.ingressUseWaypoint] === 'true';
    if (!on(k?.metadata.labels) && !on(namespaces.get(s.namespace)?.metadata.labels)) return s;
    const owner = serviceOwner.get(`${s.namespace}/${s.hostname}`);
    if (!owner) return s;
    const [wpNs, wpName] = owner.split('/') as [string, string];
    const pods = endpointsOf(`${wpNs}/${wpName}.${wpNs}.svc.${options.domainSuffix}`);
    return pods.length > 0 ? { ...s, waypoint: pods } : s;
  };

  const secrets = secretIndex(snap.secrets);
  const configs = new Map<string, WaypointConfig>();
  for (const gw of managed) {
    const info = classOf(gw.spec?.gatewayClassName)!;
    const ingress = info.kind === 'ingress';
    const ns = nsOf(gw);
    const key = `${ns}/${gw.metadata.name}`;
    const forLabel = gw.metadata.labels?.['istio.io/waypoint-for'] ?? 'service';
    const trafficType = (
      ingress
        ? 'none'
        : ['service', 'workload', 'all', 'none'].includes(forLabel)
          ? forLabel
          : 'service'
    ) as WaypointFor;
    const served = [...serviceOwner]
      .filter(([, o]) => o === key)
      .map(([k]) => k)
      .sort();
    const servedSet = new Set(served);
    const attached = routes.filter(
      (r) =>
        !r.problems.accepted &&
        r.parents.some(
          (p) => p.parent && (p.kind === 'Gateway' ? p.key === key : servedSet.has(p.key!)),
        ),
    );
    const backendKeys = new Set(attached.flatMap((r) => r.referenced));
    const services = [
      ...served.map((k) => serviceEntry(k, true)),
      ...[...backendKeys]
        .filter((k) => !servedSet.has(k))
        .sort()
        .map((k) => serviceEntry(k, false))
        .map((s) => (ingress && s ? viaWaypoint(s) : s)),
    ].filter((s): s is WaypointService => s !== undefined);
    const workloads: WaypointWorkload[] = model.workloads.map((w) => ({
      ...facts(w, podsByUid.get(w.uid)),
      addresses: [...w.addresses],
      tunnel: w.tunnelProtocol,
      serves: workloadOwner.get(w.uid) === key,
    }));
    const authorizationPolicies: L7AuthorizationPolicy[] = placed
      .filter(({ placement: pl }) =>
        'waypoint' in pl
          ? pl.waypoint === key
          : 'allWaypoints' in pl
            ? waypointKeys.has(key)
            : serviceOwner.get(pl.serviceKey) === key,
      )
      .map((p) => p.policy)
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
    configs.set(
      key,
      withVersion({
        waypoint: {
          name: gw.metadata.name,
          namespace: ns,
          trustDomain: options.trustDomain,
          identity: spiffeId(options.trustDomain, ns, deployedName(gw.metadata.name, info)),
          trafficType,
          ...(ingress
            ? {
                role: 'ingress' as const,
                listeners: ingressListeners(gw, secrets, grants),
              }
            : {}),
        },
        services,
        workloads,
        httpRoutes: attached.filter((r) => r.kind === 'HTTPRoute').map((r) => r.route as HttpRoute),
        grpcRoutes: attached.filter((r) => r.kind === 'GRPCRoute').map((r) => r.route as GrpcRoute),
        ...(attached.some((r) => r.kind === 'TCPRoute')
          ? {
              tcpRoutes: attached
                .filter((r) => r.kind === 'TCPRoute')
                .map((r) => r.route as TcpRoute),
            }
          : {}),
        authorizationPolicies,
      }),
    );
  }
  return { configs, routes, policyReports };
}
