/**
 * Human-facing JSON of the model: a workload in the shape of ztunnel's (2023) config-dump entry
 * quoted in seed 004, and the whole config a node's ztunnel would receive.
 */
import { spiffeId, type Authorization, type Service, type Workload } from '../../api/workload.js';
import type { Model } from './types.js';

export interface WorkloadJson {
  workloadIp: string | null;
  waypointAddresses: string[];
  gatewayAddress: string | null;
  protocol: 'HBONE' | 'TCP';
  name: string;
  namespace: string;
  serviceAccount: string;
  workloadName: string;
  workloadType: string;
  canonicalName: string;
  canonicalRevision: string;
  node: string;
  nativeHbone: boolean;
  authorizationPolicies: string[];
  status: 'Healthy' | 'Unhealthy';
}

export function renderWorkloadJson(w: Workload): WorkloadJson {
  const wp = w.waypoint?.address?.address;
  const gw = w.networkGateway?.address;
  return {
    workloadIp: w.addresses[0] ?? null,
    waypointAddresses: wp ? [wp] : [],
    gatewayAddress: gw ? `${gw.address}:${w.networkGateway!.hboneMtlsPort}` : null,
    protocol: w.tunnelProtocol === 'HBONE' ? 'HBONE' : 'TCP',
    name: w.name,
    namespace: w.namespace,
    serviceAccount: w.serviceAccount,
    workloadName: w.workloadName,
    workloadType: w.workloadType,
    canonicalName: w.canonicalName,
    canonicalRevision: w.canonicalRevision,
    node: w.node,
    nativeHbone: w.nativeTunnel,
    authorizationPolicies: [...w.authorizationPolicies],
    status: w.status,
  };
}

export interface ConfigDump {
  node: string;
  /** Keyed by workload IP, as in seed 004. */
  workloads: Record<string, WorkloadJson>;
  services: Service[];
  policies: Authorization[];
  /** Identities the node's ztunnel may obtain certificates for (HBONE pods on the node). */
  identities: string[];
}

/** What the control plane sends to the ztunnel of `node` (every ztunnel gets the full mesh). */
export function renderConfigDump(model: Model, node: string): ConfigDump {
  const workloads: Record<string, WorkloadJson> = {};
  for (const w of model.workloads) workloads[w.addresses[0] ?? w.uid] = renderWorkloadJson(w);
  const identities = new Set<string>();
  for (const w of model.workloads)
    if (w.node === node && w.tunnelProtocol === 'HBONE')
      identities.add(spiffeId(w.trustDomain, w.namespace, w.serviceAccount));
  return {
    node,
    workloads,
    services: model.services,
    policies: model.authorizations,
    identities: [...identities].sort(),
  };
}
