/**
 * Pods → istio.workload.Workload, the way istiod's ambient index does it: identity from the
 * service account, HBONE iff the node agent has captured the pod, canonical name/revision and
 * workload name/type from labels and owners, status from readiness, and the services that
 * select the pod with their resolved target ports.
 */
import { isIP } from 'node:net';
import { Annotation, Label } from '../../api/labels.js';
import type { Workload, WorkloadType } from '../../api/workload.js';
import type { Namespace, Pod, Service as KubeService } from '../../k8s/types.js';
import type { ModelOptions } from './types.js';

export const DATAPLANE_MODE = Label.dataplaneMode;
export const REDIRECTION_ANNOTATION = Annotation.redirection;

export function podUid(pod: Pod, opts: ModelOptions): string {
  return `${opts.clusterId}//Pod/${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`;
}

/** True when ztunnel captures this pod: ambient namespace or pod label, not opted out. */
export function isEnrolled(pod: Pod, ns: Namespace | undefined): boolean {
  if (pod.spec?.hostNetwork) return false;
  if (pod.metadata.annotations?.[REDIRECTION_ANNOTATION] === 'disabled') return false;
  if (isZtunnel(pod)) return false;
  const podMode = pod.metadata.labels?.[DATAPLANE_MODE];
  if (podMode === 'none') return false;
  if (podMode === 'ambient') return true;
  return ns?.metadata.labels?.[DATAPLANE_MODE] === 'ambient';
}

/**
 * HBONE only once the node agent says the pod's traffic is captured (its `redirection: enabled`
 * annotation, istiod's rule): from the namespace label alone, peers would send HBONE to a pod
 * whose node does not capture 15008 yet, and the first requests after enrolment fail. The agent
 * removes the annotation when it releases the pod, so opting out is ordered the same way.
 */
export function isCaptured(pod: Pod): boolean {
  return pod.metadata.annotations?.[REDIRECTION_ANNOTATION] === 'enabled';
}

export function isZtunnel(pod: Pod): boolean {
  return (
    pod.metadata.labels?.app === 'ztunnel' ||
    (pod.spec?.containers ?? []).some((c) => c.image === 'ambit/ztunnel')
  );
}

const CRONJOB_NAME = /^(.+)-\d{8,10}$/;

/** workloadName/type from the pod's controller, as istiod's workloadNameAndType. */
export function workloadNameAndType(pod: Pod): { name: string; type: WorkloadType } {
  const owner =
    pod.metadata.ownerReferences?.find((o) => o.controller) ?? pod.metadata.ownerReferences?.[0];
  const hash = pod.metadata.labels?.['pod-template-hash'];
  if (!owner) {
    // A Deployment pod without owner references (e.g. a lab controller): <deploy>-<hash>-<rand>.
    if (hash && pod.metadata.name.includes(`-${hash}-`))
      return {
        name: pod.metadata.name.slice(0, pod.metadata.name.lastIndexOf(`-${hash}-`)),
        type: 'deployment',
      };
    return { name: pod.metadata.name, type: 'pod' };
  }
  switch (owner.kind) {
    case 'ReplicaSet':
      if (hash && owner.name.endsWith(`-${hash}`))
        return { name: owner.name.slice(0, -(hash.length + 1)), type: 'deployment' };
      return { name: owner.name, type: 'pod' };
    case 'Deployment':
      return { name: owner.name, type: 'deployment' };
    case 'Job': {
      const m = CRONJOB_NAME.exec(owner.name);
      return m ? { name: m[1]!, type: 'cronjob' } : { name: owner.name, type: 'job' };
    }
    default:
      return { name: owner.name, type: 'pod' };
  }
}

export function canonicalName(labels: Record<string, string>, workloadName: string): string {
  return (
    labels[Label.canonicalName] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? workloadName
  );
}

export function canonicalRevision(labels: Record<string, string>): string {
  return (
    labels[Label.canonicalRevision] ??
    labels['app.kubernetes.io/version'] ??
    labels.version ??
    'latest'
  );
}

export function isReady(pod: Pod): boolean {
  if (pod.status?.phase !== 'Running') return false;
  return pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** A pod the mesh should know: has an IP, is not finished or being deleted, not host-network. */
export function isMeshCandidate(pod: Pod): boolean {
  if (pod.metadata.deletionTimestamp) return false;
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return false;
  if (pod.spec?.hostNetwork) return false;
  return isIP(pod.status?.podIP ?? '') !== 0;
}

export function selectorMatches(
  sel: Record<string, string> | undefined,
  labels: Record<string, string>,
): boolean {
  const keys = Object.keys(sel ?? {});
  return keys.length > 0 && keys.every((k) => labels[k] === sel![k]);
}

/**
 * The target port of a service port for one pod: a number as is, a name through the pod's
 * container ports, unset = the service port. undefined when a name does not resolve.
 */
export function resolveTargetPort(
  p: { port: number; targetPort?: number | string },
  pod: Pod,
): number | undefined {
  const t = p.targetPort;
  if (t === undefined || t === '') return p.port;
  if (typeof t === 'number') return t;
  if (/^\d+$/.test(t)) return Number(t);
  for (const c of pod.spec?.containers ?? [])
    for (const cp of c.ports ?? []) if (cp.name === t) return cp.containerPort;
  return undefined;
}

export function serviceHostname(svc: KubeService, opts: ModelOptions): string {
  return `${svc.metadata.name}.${svc.metadata.namespace ?? 'default'}.svc.${opts.domainSuffix}`;
}

export function buildWorkload(pod: Pod, ns: Namespace | undefined, opts: ModelOptions): Workload {
  const labels = pod.metadata.labels ?? {};
  const wl = workloadNameAndType(pod);
  const ips = pod.status?.podIPs?.map((x) => x.ip) ?? [];
  // Only well-formed IPs: one bad status must not block the whole push.
  const addresses = (ips.length ? ips : pod.status?.podIP ? [pod.status.podIP] : []).filter(
    (ip) => isIP(ip) !== 0,
  );
  return {
    uid: podUid(pod, opts),
    name: pod.metadata.name,
    namespace: pod.metadata.namespace ?? 'default',
    addresses,
    hostname: '',
    network: opts.network,
    tunnelProtocol: isCaptured(pod) ? 'HBONE' : 'NONE',
    trustDomain: opts.trustDomain,
    serviceAccount: pod.spec?.serviceAccountName ?? 'default',
    node: pod.spec?.nodeName ?? '',
    canonicalName: canonicalName(labels, wl.name),
    canonicalRevision: canonicalRevision(labels),
    workloadType: wl.type,
    workloadName: wl.name,
    nativeTunnel: false,
    services: {},
    authorizationPolicies: [],
    status: isReady(pod) ? 'Healthy' : 'Unhealthy',
    clusterId: opts.clusterId,
  };
}
