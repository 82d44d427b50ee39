/**
 * Which names ztunnel answers itself: A records for mesh service hostnames from its state,
 * trying the asking pod's search domains for short names (`httpbin` → `httpbin.<ns>.svc.
 * cluster.local`). Everything else is the upstream resolver's business.
 */
import type { Workload } from '../../api/workload.js';
import type { ZtunnelState } from '../../state/store.js';

export function searchDomains(w: Workload | undefined, zone = 'cluster.local'): string[] {
  const base = [`svc.${zone}`, zone];
  return w ? [`${w.namespace}.svc.${zone}`, ...base] : base;
}

/** The VIPs for `name` when it is a mesh service (possibly via search domains), else undefined. */
export function resolveMesh(
  state: ZtunnelState,
  name: string,
  client: Workload | undefined,
): string[] | undefined {
  const n = name.toLowerCase().replace(/\.$/, '');
  const tries = [n];
  if (!n.endsWith('.cluster.local')) for (const d of searchDomains(client)) tries.push(`${n}.${d}`);
  for (const host of tries) {
    const svc = state.serviceByHostname(host, client?.namespace);
    if (svc && svc.addresses.length > 0) return svc.addresses.map((a) => a.address);
  }
  return undefined;
}
