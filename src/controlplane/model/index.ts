/**
 * The control plane's model: a pure function from the Kubernetes objects it watches to the
 * Workload, Service and Authorization resources it pushes (plus a report per policy).
 */
import { isIP } from 'node:net';
import type { Service, ServicePort, Workload } from '../../api/workload.js';
import {
  SERVICE_NAME_LABEL,
  type Namespace,
  type Service as KubeService,
} from '../../k8s/types.js';
import { convertPolicy, selects } from './authorization.js';
import { defaultModelOptions, type Model, type ModelOptions, type Snapshot } from './types.js';
import { indexPeerAuthentications } from './peer-authentication.js';
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

function buildService(
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

export function buildModel(snap: Snapshot, options: Partial<ModelOptions> = {}): Model {
  const opts = { ...defaultModelOptions, ...options };
  const namespaces = new Map(snap.namespaces.map((n) => [n.metadata.name, n]));
  const wps = new WaypointIndex(snap.gateways);

  const converted = snap.policies.map((p) => ({ policy: p, ...convertPolicy(p, opts) }));
  const authorizations = converted.flatMap((c) => (c.authorization ? [c.authorization] : []));
  const selectorPolicies = converted.filter((c) => c.authorization?.scope === 'WORKLOAD_SELECTOR');
  const peerAuth = indexPeerAuthentications(snap.peerAuthentications ?? [], opts);

  const workloads: Workload[] = [];
  const byUid = new Map<string, Workload>();
  const pods = snap.pods.filter(isMeshCandidate);
  for (const pod of pods) {
    const podNs = pod.metadata.namespace ?? 'default';
    const ns = namespaces.get(podNs);
    const w = buildWorkload(pod, ns, opts);
    const wp = wps.forWorkload(pod, ns);
    if (wp) w.waypoint = wp;
    const labels = pod.metadata.labels ?? {};
    for (const svc of snap.services) {
      if ((svc.metadata.namespace ?? 'default') !== podNs) continue;
      if (!selectorMatches(svc.spec?.selector, labels)) continue;
      const ports = (svc.spec?.ports ?? []).flatMap((p) => {
        const targetPort = resolveTargetPort(p, pod);
        return targetPort === undefined ? [] : [{ servicePort: p.port, targetPort }];
      });
      w.services[`${podNs}/${serviceHostname(svc, opts)}`] = { ports };
    }
    w.authorizationPolicies = selectorPolicies
      .filter((c) => selects(c.policy, podNs, labels, opts.rootNamespace))
      .map((c) => `${c.authorization!.namespace}/${c.authorization!.name}`)
      .concat(peerAuth.policiesFor(podNs, labels))
      .sort();
    workloads.push(w);
    byUid.set(pod.metadata.uid ?? podUid(pod, opts), w);
  }

  // Services without a selector: their EndpointSlices (labelled with the Service's name, as
  // Kubernetes' mirroring controller writes them from Endpoints) name the pods.
  for (const slice of snap.endpointSlices) {
    const svcName = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    const svc = snap.services.find(
      (s) => s.metadata.namespace === slice.metadata.namespace && s.metadata.name === svcName,
    );
    if (!svc || Object.keys(svc.spec?.selector ?? {}).length) continue;
    const key = `${svc.metadata.namespace ?? 'default'}/${serviceHostname(svc, opts)}`;
    for (const ep of slice.endpoints ?? []) {
      const w = ep.targetRef?.kind === 'Pod' ? byUid.get(ep.targetRef.uid) : undefined;
      if (!w) continue;
      const ports = (svc.spec?.ports ?? []).flatMap((sp) => {
        const epPort = (slice.ports ?? []).find((x) => (x.name ?? '') === (sp.name ?? ''));
        return epPort?.port !== undefined
          ? [{ servicePort: sp.port, targetPort: epPort.port }]
          : [];
      });
      w.services[key] = { ports };
    }
  }

  const services = snap.services.map((s) =>
    buildService(s, namespaces.get(s.metadata.namespace ?? 'default'), wps, opts),
  );
  const byName = <T extends { namespace: string; name: string }>(a: T, b: T) =>
    `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`);
  return {
    workloads: workloads.sort(byName),
    services: services.sort(byName),
    authorizations: [...authorizations, ...peerAuth.authorizations].sort(byName),
    reports: converted.map((c) => c.report),
  };
}
