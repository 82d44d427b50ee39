/**
 * The EndpointSlice controllers' computation (Kubernetes' endpointslice and endpointslice-
 * mirroring controllers): the slices a Service should have, one per distinct resolved port
 * list. From the selector for selector Services (terminating pods stay, `terminating: true`);
 * mirrored from the user's Endpoints for Services without a selector.
 */
import type { EndpointSlice, Endpoints, Service } from '../../k8s/types.js';
import { podPorts, podRef } from './endpoints.js';
import { isFinished, isReady, isTerminating, matchesLabels, type LabPod } from './types.js';

export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const SLICE_CONTROLLER = 'endpointslice-controller.k8s.io';
export const MIRROR_CONTROLLER = 'endpointslicemirroring-controller.k8s.io';
/** Kubernetes' default --max-endpoints-per-slice. */
export const MAX_ENDPOINTS_PER_SLICE = 100;

export interface SliceContent {
  ports: NonNullable<EndpointSlice['ports']>;
  endpoints: EndpointSlice['endpoints'];
}

const ipKey = (ip: string): string =>
  ip
    .split('.')
    .map((o) => o.padStart(3, '0'))
    .join('.');

/** Groups endpoints by port list, sorted, split into slices of at most `max` endpoints. */
function toSlices(
  groups: Map<string, SliceContent>,
  max = MAX_ENDPOINTS_PER_SLICE,
): SliceContent[] {
  const out: SliceContent[] = [];
  for (const key of [...groups.keys()].sort()) {
    const g = groups.get(key)!;
    const eps = [...g.endpoints].sort((a, b) =>
      ipKey(a.addresses[0] ?? '').localeCompare(ipKey(b.addresses[0] ?? '')),
    );
    for (let i = 0; i < eps.length; i += max)
      out.push({ ports: g.ports, endpoints: eps.slice(i, i + max) });
  }
  return out;
}

/** The slices of a selector Service, or undefined when it has no selector. */
export function desiredSlices(svc: Service, pods: readonly LabPod[]): SliceContent[] | undefined {
  const selector = svc.spec?.selector;
  if (!selector || Object.keys(selector).length === 0) return undefined;
  const groups = new Map<string, SliceContent>();
  for (const pod of pods) {
    if (pod.metadata.namespace !== svc.metadata.namespace) continue;
    if (!matchesLabels(selector, pod.metadata.labels)) continue;
    const ip = pod.status?.podIP;
    if (!ip || isFinished(pod)) continue;
    const ports = podPorts(pod, svc.spec?.ports ?? []);
    if (!ports) continue;
    const key = JSON.stringify(ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports, endpoints: [] }));
    const terminating = isTerminating(pod);
    const ready = isReady(pod);
    g.endpoints.push({
      addresses: [ip],
      conditions: { ready: ready && !terminating, serving: ready, terminating },
      ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      targetRef: podRef(pod),
    });
  }
  return toSlices(groups);
}

/** The mirrored slices of a selector-less Service's Endpoints. */
export function mirroredSlices(ep: Endpoints): SliceContent[] {
  const groups = new Map<string, SliceContent>();
  for (const subset of ep.subsets ?? []) {
    const ports = (subset.ports ?? []).map((p) => ({
      name: p.name ?? '',
      port: p.port,
      protocol: p.protocol ?? 'TCP',
    }));
    const key = JSON.stringify(ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports, endpoints: [] }));
    for (const [ready, list] of [
      [true, subset.addresses ?? []],
      [false, subset.notReadyAddresses ?? []],
    ] as const)
      for (const a of list)
        g.endpoints.push({
          addresses: [a.ip],
          conditions: { ready },
          ...(a.nodeName ? { nodeName: a.nodeName } : {}),
          ...(a.targetRef ? { targetRef: a.targetRef } : {}),
        });
  }
  return toSlices(groups);
}
