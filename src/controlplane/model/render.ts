/**
 * Human-facing JSON of the model: a workload in the shape of ztunnel's (2023) config-dump entry
 * quoted in seed 004, and the whole config a node's ztunnel would receive.
 */
import { spiffeId, type Authorization, type Service } from '../../api/workload.js';
import { renderWorkloadJson, type WorkloadJson } from '../../api/workload-json.js';
import type { Model } from './types.js';

export { renderWorkloadJson, type WorkloadJson } from '../../api/workload-json.js';

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
