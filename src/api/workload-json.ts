/**
 * A workload as ztunnel's config dump showed it in 2023 (the JSON quoted in seed 004):
 * `workloadIp`, `waypointAddresses`, `protocol: HBONE|TCP`, … The control plane's
 * `ambit x config-dump` and ztunnel's `/config_dump` both render workloads this way.
 */
import type { GatewayAddress, Workload } from './workload.js';

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

/** A gateway's addresses as the old dump listed them: the IP, or `namespace/hostname`. */
export function gatewayAddresses(g: GatewayAddress | undefined): string[] {
  if (!g) return [];
  if (g.address) return [g.address.address];
  return g.hostname ? [`${g.hostname.namespace}/${g.hostname.hostname}`] : [];
}

export function renderWorkloadJson(w: Workload): WorkloadJson {
  const gw = w.networkGateway?.address;
  return {
    workloadIp: w.addresses[0] ?? null,
    waypointAddresses: gatewayAddresses(w.waypoint),
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
