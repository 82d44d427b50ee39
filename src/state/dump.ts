/**
 * The admin config dump's rendering of state. Workloads use the seed-004 shape (ztunnel's
 * 2023 JSON: `workloadIp`, `waypointAddresses`, `protocol: HBONE|TCP`, …), keyed by IP, with
 * today's `uid` and `services` added; services list their VIPs, ports and endpoints.
 */
import { renderWorkloadJson } from '../api/workload-json.js';
import type { Service, Workload } from '../api/workload.js';
import type { ZtunnelState } from './store.js';

export function renderWorkload(w: Workload): Record<string, unknown> {
  return {
    uid: w.uid,
    ...renderWorkloadJson(w),
    trustDomain: w.trustDomain,
    clusterId: w.clusterId,
    services: Object.keys(w.services),
  };
}

export function renderService(state: ZtunnelState, s: Service): Record<string, unknown> {
  return {
    name: s.name,
    namespace: s.namespace,
    hostname: s.hostname,
    vips: s.addresses.map((a) => `${a.network}/${a.address}`),
    ports: Object.fromEntries(s.ports.map((p) => [String(p.servicePort), p.targetPort])),
    endpoints: state.endpoints(s).map((w) => ({
      workloadUid: w.uid,
      address: w.addresses[0],
      status: w.status,
    })),
    subjectAltNames: s.subjectAltNames,
    waypoint: s.waypoint ?? null,
  };
}

export function renderState(state: ZtunnelState): Record<string, unknown> {
  const workloads: Record<string, unknown> = {};
  for (const w of state.allWorkloads()) workloads[w.addresses[0] ?? w.uid] = renderWorkload(w);
  return {
    workloads,
    services: state.allServices().map((s) => renderService(state, s)),
    policies: state.allPolicies(),
  };
}
