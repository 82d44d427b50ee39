/**
 * Load balancing, as ztunnel does it: once per connection, weighted random among the service's
 * healthy endpoints whose port resolves. No round robin, no least-connections.
 */
import type { Service, Workload } from '../api/workload.js';
import type { ZtunnelState } from './store.js';
import { serviceKey } from './store.js';

export interface Endpoint {
  workload: Workload;
  /** The workload's IP to dial. */
  ip: string;
  targetPort: number;
}

/**
 * The port a connection to `svc:servicePort` reaches on `w`: the endpoint's own port map first
 * (named target ports resolve per pod), then the service's target port, then the service port.
 * undefined when the service does not expose `servicePort`.
 */
export function resolveTargetPort(
  svc: Service,
  servicePort: number,
  w: Workload,
): number | undefined {
  const sp = svc.ports.find((p) => p.servicePort === servicePort);
  if (!sp) return undefined;
  const mapped = w.services[serviceKey(svc)]?.ports.find((p) => p.servicePort === servicePort);
  if (mapped && mapped.targetPort > 0) return mapped.targetPort;
  if (sp.targetPort > 0) return sp.targetPort;
  return servicePort;
}

/** Healthy endpoints of `svc` reachable on `servicePort`. */
export function candidates(state: ZtunnelState, svc: Service, servicePort: number): Endpoint[] {
  const out: Endpoint[] = [];
  for (const w of state.endpoints(svc)) {
    if (w.status !== 'Healthy') continue;
    const ip = w.addresses[0];
    if (!ip) continue;
    const targetPort = resolveTargetPort(svc, servicePort, w);
    if (targetPort === undefined) continue;
    out.push({ workload: w, ip, targetPort });
  }
  return out;
}

/**
 * Weighted random choice (every workload weighs 1: the API carries no capacity yet).
 * `random` returns [0,1); injectable so tests can pin the choice.
 */
export function chooseEndpoint(
  state: ZtunnelState,
  svc: Service,
  servicePort: number,
  random: () => number = Math.random,
): Endpoint | undefined {
  const all = candidates(state, svc, servicePort);
  if (all.length === 0) return undefined;
  const weights = all.map(() => 1);
  const total = weights.reduce((a, b) => a + b, 0);
  let r = random() * total;
  for (let i = 0; i < all.length; i++) {
    r -= weights[i]!;
    if (r < 0) return all[i];
  }
  return all[all.length - 1];
}
