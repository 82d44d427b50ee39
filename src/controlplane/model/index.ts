/**
 * The control plane's model: a pure function from the Kubernetes objects it watches to the
 * Workload, Service and Authorization resources it pushes (plus a report per policy).
 */
import { isIP } from 'node:net';
import type { Authorization, Service, ServicePort, Workload } from '../../api/workload.js';
import {
  SERVICE_NAME_LABEL,
  type EndpointSlice,
  type Namespace,
  type Pod,
  type Service as KubeService,
} from '../../k8s/types.js';
import { convertPolicy, selects } from './authorization.js';
import {
  defaultModelOptions,
  type AuthorizationPolicy,
  type Model,
  type ModelOptions,
  type Snapshot,
} from './types.js';
import { indexPeerAuthentications, type PeerAuthIndex } from './peer-authentication.js';
import { WaypointIndex } from './waypoints.js';
import {
  buildWorkload,
  isMeshCandidate,
  podUid,
  resolveTargetPort,
  selectorMatches,
  serviceHostname,
} from './workloads.js';

export {
  renderWorkloadJson,
  renderConfigDump,
  type ConfigDump,
  type WorkloadJson,
} from './render.js';
export * from './types.js';

const appProtocols: Record<string, NonNullable<ServicePort['appProtocol']>> = {
  http: 'HTTP11',
  'kubernetes.io/h2c': 'HTTP2',
  http2: 'HTTP2',
  grpc: 'GRPC',
  tcp: 'TCP',
  tls: 'TLS',
};

export function appProtocolOf(p: {
  name?: string;
  appProtocol?: string;
}): ServicePort['appProtocol'] {
  if (p.appProtocol) return appProtocols[p.appProtocol.toLowerCase()];
  const prefix = (p.name ?? '').split('-')[0]!.toLowerCase();
  return appProtocols[prefix];
}

export function buildService(
  svc: KubeService,
  ns: Namespace | undefined,
  wps: WaypointIndex,
  opts: ModelOptions,
): Service {
  const ips = svc.spec?.clusterIPs?.length
    ? svc.spec.clusterIPs
    : svc.spec?.clusterIP
      ? [svc.spec.clusterIP]
      : [];
  const ports: ServicePort[] = (svc.spec?.ports ?? []).map((p) => {
    const t = p.targetPort;
    const targetPort =
      t === undefined || t === ''
        ? p.port
        : typeof t === 'number'
          ? t
          : /^\d+$/.test(t)
            ? Number(t)
            : 0;
    const out: ServicePort = { servicePort: p.port, targetPort };
    const ap = appProtocolOf(p);
    if (ap) out.appProtocol = ap;
    return out;
  });
  const out: Service = {
    name: svc.metadata.name,
    namespace: svc.metadata.namespace ?? 'default',
    hostname: serviceHostname(svc, opts),
    addresses: ips
      .filter((ip) => isIP(ip) !== 0)
      .map((address) => ({ network: opts.network, address })),
    ports,
    subjectAltNames: [],
  };
  const wp = wps.forService(svc, ns);
  if (wp) out.waypoint = wp;
  return out;
}

/** What one pod's workload depends on besides the pod itself (see workloadFor). */
export interface WorkloadDeps {
  ns: Namespace | undefined;
  wps: WaypointIndex;
  /** The Services of the pod's namespace (any order). */
  services: Iterable<KubeService>;
  /** EndpointSlices with an endpoint whose targetRef is this pod (any order). */
  slices: Iterable<EndpointSlice>;
  /** The Service a slice belongs to, by namespace and name. */
  serviceByName(namespace: string, name: string): KubeService | undefined;
  /** Converted AuthorizationPolicies with a selector of the pod's and the root namespace. */
  selectorPolicies: Iterable<ConvertedPolicy>;
  peerAuth: PeerAuthIndex;
  opts: ModelOptions;
}

export interface ConvertedPolicy extends ReturnType<typeof convertPolicy> {
  policy: AuthorizationPolicy;
}

/** The uid an EndpointSlice's targetRef names a pod by. */
export function podRefUid(pod: Pod, opts: ModelOptions): string {
  return pod.metadata.uid ?? podUid(pod, opts);
}

/**
 * One mesh candidate's Workload, and the PeerAuthentication-derived Authorizations it refers
 * to. Shared by the full build (buildModel) and the incremental one (IncrementalModel), so the
 * two can only differ in which pods they recompute.
 */
export function workloadFor(
  pod: Pod,
  d: WorkloadDeps,
): { workload: Workload; peerAuthorizations: Authorization[] } {
  const podNs = pod.metadata.namespace ?? 'default';
  const w = buildWorkload(pod, d.ns, d.opts);
  const wp = d.wps.forWorkload(pod, d.ns);
  if (wp) w.waypoint = wp;
  const labels = pod.metadata.labels ?? {};
  const services: Workload['services'] = {};
  for (const svc of d.services) {
    if ((svc.metadata.namespace ?? 'default') !== podNs) continue;
    if (!selectorMatches(svc.spec?.selector, labels)) continue;
    const ports = (svc.spec?.ports ?? []).flatMap((p) => {
      const targetPort = resolveTargetPort(p, pod);
      return targetPort === undefined ? [] : [{ servicePort: p.port, targetPort }];
    });
    services[`${podNs}/${serviceHostname(svc, d.opts)}`] = { ports };
  }
  // Services without a selector: their EndpointSlices (labelled with the Service's name, as
  // Kubernetes' mirroring controller writes them from Endpoints) name the pods. Two slices of
  // one Service naming the same pod: the last by slice name wins (order-independent).
  const uid = podRefUid(pod, d.opts);
  const slices = [...d.slices].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const slice of slices) {
    const svcName = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    const svc = svcName
      ? d.serviceByName(slice.metadata.namespace ?? 'default', svcName)
      : undefined;
    if (!svc || Object.keys(svc.spec?.selector ?? {}).length) continue;
    const key = `${svc.metadata.namespace ?? 'default'}/${serviceHostname(svc, d.opts)}`;
    for (const ep of slice.endpoints ?? []) {
      if (ep.targetRef?.kind !== 'Pod' || ep.targetRef.uid !== uid) continue;
      const ports = (svc.spec?.ports ?? []).flatMap((sp) => {
        const epPort = (slice.ports ?? []).find((x) => (x.name ?? '') === (sp.name ?? ''));
        return epPort?.port !== undefined
          ? [{ servicePort: sp.port, targetPort: epPort.port }]
          : [];
      });
      services[key] = { ports };
    }
  }
  // Sorted keys: the encoded bytes (and so the resource version) do not depend on watch order.
  for (const k of Object.keys(services).sort()) w.services[k] = services[k]!;
  const pa = d.peerAuth.resolve(podNs, labels);
  const selected: string[] = [];
  for (const c of d.selectorPolicies)
    if (selects(c.policy, podNs, labels, d.opts.rootNamespace))
      selected.push(`${c.authorization!.namespace}/${c.authorization!.name}`);
  w.authorizationPolicies = selected.concat(pa.names).sort();
  return { workload: w, peerAuthorizations: pa.authorizations };
}

export const byQualifiedName = <T extends { namespace: string; name: string }>(a: T, b: T) =>
  `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`);

/**
 * The whole model from a snapshot, from scratch. The control plane keeps it incrementally
 * (incremental.ts); this is the definition it is tested against.
 */
export function buildModel(snap: Snapshot, options: Partial<ModelOptions> = {}): Model {
  const opts = { ...defaultModelOptions, ...options };
  const namespaces = new Map(snap.namespaces.map((n) => [n.metadata.name, n]));
  const wps = new WaypointIndex(snap.gateways);

  const converted: ConvertedPolicy[] = snap.policies.map((p) => ({
    policy: p,
    ...convertPolicy(p, opts),
  }));
  const authorizations = converted.flatMap((c) => (c.authorization ? [c.authorization] : []));
  const selectorPolicies = converted.filter((c) => c.authorization?.scope === 'WORKLOAD_SELECTOR');
  const peerAuth = indexPeerAuthentications(snap.peerAuthentications ?? [], opts);
  const servicesByKey = new Map(
    snap.services.map((s) => [`${s.metadata.namespace ?? 'default'}/${s.metadata.name}`, s]),
  );
  const slicesByUid = new Map<string, EndpointSlice[]>();
  for (const slice of snap.endpointSlices)
    for (const uid of new Set((slice.endpoints ?? []).map((ep) => ep.targetRef?.uid ?? '')))
      slicesByUid.set(uid, [...(slicesByUid.get(uid) ?? []), slice]);

  const workloads: Workload[] = [];
  const peerAuthorizations = new Map<string, Authorization>();
  for (const pod of snap.pods.filter(isMeshCandidate)) {
    const { workload, peerAuthorizations: pas } = workloadFor(pod, {
      ns: namespaces.get(pod.metadata.namespace ?? 'default'),
      wps,
      services: snap.services,
      slices: slicesByUid.get(podRefUid(pod, opts)) ?? [],
      serviceByName: (ns, name) => servicesByKey.get(`${ns}/${name}`),
      selectorPolicies,
      peerAuth,
      opts,
    });
    workloads.push(workload);
    for (const a of pas) peerAuthorizations.set(`${a.namespace}/${a.name}`, a);
  }

  const services = snap.services.map((s) =>
    buildService(s, namespaces.get(s.metadata.namespace ?? 'default'), wps, opts),
  );
  return {
    workloads: workloads.sort(byQualifiedName),
    services: services.sort(byQualifiedName),
    authorizations: [...authorizations, ...peerAuthorizations.values()].sort(byQualifiedName),
    reports: converted.map((c) => c.report),
  };
}
