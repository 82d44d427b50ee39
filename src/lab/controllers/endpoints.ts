/**
 * The Endpoints controller's computation: a Service's selector over the pods of its namespace
 * → subsets of ready and not-ready addresses, one subset per distinct resolved port list
 * (a named targetPort can resolve to different numbers on different pods).
 */
import type { EndpointAddress, Endpoints, Service } from '../../k8s/types.js';
import { isFinished, isReady, isTerminating, matchesLabels, type LabPod } from './types.js';

export type Subsets = NonNullable<Endpoints['subsets']>;

/** The container port `targetPort` names on `pod` (a number is itself), or undefined. */
export function resolveTargetPort(
  pod: LabPod,
  targetPort: number | string | undefined,
  port: number,
): number | undefined {
  if (targetPort === undefined) return port;
  if (typeof targetPort === 'number') return targetPort;
  if (/^\d+$/.test(targetPort)) return Number(targetPort);
  for (const c of pod.spec?.containers ?? [])
    for (const p of c.ports ?? []) if (p.name === targetPort) return p.containerPort;
  return undefined;
}

/**
 * The Service's ports as `pod` serves them (named targetPorts resolved on it; `name` empty
 * when the Service port has none), or undefined when the Service has ports and the pod serves
 * none of them (it is then no endpoint).
 */
export function podPorts(
  pod: LabPod,
  svcPorts: NonNullable<NonNullable<Service['spec']>['ports']>,
): { name: string; port: number; protocol: string }[] | undefined {
  const ports: { name: string; port: number; protocol: string }[] = [];
  for (const sp of svcPorts) {
    const port = resolveTargetPort(pod, sp.targetPort, sp.port);
    if (port !== undefined)
      ports.push({ name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP' });
  }
  return svcPorts.length > 0 && ports.length === 0 ? undefined : ports;
}

/** The pod as an endpoint's `targetRef`. */
export function podRef(pod: LabPod): { kind: 'Pod'; name: string; namespace: string; uid: string } {
  return {
    kind: 'Pod',
    name: pod.metadata.name,
    namespace: pod.metadata.namespace ?? 'default',
    uid: pod.metadata.uid ?? '',
  };
}

function byIp(a: EndpointAddress, b: EndpointAddress): number {
  const k = (ip: string) =>
    ip
      .split('.')
      .map((o) => o.padStart(3, '0'))
      .join('.');
  return k(a.ip) < k(b.ip) ? -1 : k(a.ip) > k(b.ip) ? 1 : 0;
}

/** The subsets of `svc`'s Endpoints, or undefined when the Service has no selector. */
export function computeSubsets(svc: Service, pods: readonly LabPod[]): Subsets | undefined {
  const selector = svc.spec?.selector;
  if (!selector || Object.keys(selector).length === 0) return undefined;
  const svcPorts = svc.spec?.ports ?? [];
  const groups = new Map<
    string,
    {
      ports: { name?: string; port: number; protocol: string }[];
      ready: EndpointAddress[];
      notReady: EndpointAddress[];
    }
  >();
  for (const pod of pods) {
    if (pod.metadata.namespace !== svc.metadata.namespace) continue;
    if (!matchesLabels(selector, pod.metadata.labels)) continue;
    const ip = pod.status?.podIP;
    if (!ip || isTerminating(pod) || isFinished(pod)) continue;
    const resolved = podPorts(pod, svcPorts);
    if (!resolved) continue;
    // Endpoints omit an empty port name.
    const ports = resolved.map(({ name, ...p }) => (name ? { name, ...p } : p));
    const key = JSON.stringify(ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports, ready: [], notReady: [] }));
    const addr: EndpointAddress = {
      ip,
      ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      targetRef: podRef(pod),
    };
    (isReady(pod) ? g.ready : g.notReady).push(addr);
  }
  const subsets: Subsets = [];
  for (const key of [...groups.keys()].sort()) {
    const g = groups.get(key)!;
    subsets.push({
      ...(g.ready.length ? { addresses: g.ready.sort(byIp) } : {}),
      ...(g.notReady.length ? { notReadyAddresses: g.notReady.sort(byIp) } : {}),
      ports: g.ports,
    });
  }
  return subsets;
}
