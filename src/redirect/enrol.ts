/**
 * Who is captured (Istio's `PodRedirectionEnabled`) and which ztunnel is active
 * (`UpdateActiveNodeProxy`). Pure functions of API objects.
 */
import type { Namespace, Pod } from '../k8s/types.js';
import { Annot, DATAPLANE_MODE_LABEL } from './constants.js';
import type { ZtunnelTarget } from './types.js';

export function isZtunnel(p: Pod): boolean {
  return p.metadata.labels?.app === 'ztunnel';
}

export function podReady(p: Pod): boolean {
  return (
    p.status?.phase === 'Running' &&
    !p.metadata.deletionTimestamp &&
    (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/** Running (or about to run) on its own network: pods that can hold a capturable IP. */
function livePodNetwork(p: Pod): boolean {
  const phase = p.status?.phase;
  return (
    !p.spec?.hostNetwork &&
    !p.metadata.deletionTimestamp &&
    phase !== 'Succeeded' &&
    phase !== 'Failed'
  );
}

/**
 * Captured when its namespace is labelled `istio.io/dataplane-mode=ambient`, the pod itself is
 * not labelled `istio.io/dataplane-mode=none` (Istio's opt-out, which waypoint pods carry), it
 * has neither `ambient.istio.io/redirection: disabled` nor `sidecar.istio.io/status`, and it is
 * not a ztunnel.
 */
export function podEnrolled(p: Pod, ns: Namespace | undefined): boolean {
  if (ns?.metadata.labels?.[DATAPLANE_MODE_LABEL] !== 'ambient') return false;
  if (p.metadata.labels?.[DATAPLANE_MODE_LABEL] === 'none') return false;
  const a = p.metadata.annotations ?? {};
  if (a[Annot.redirection] === 'disabled') return false;
  if (a[Annot.sidecarStatus] !== undefined) return false;
  if (isZtunnel(p)) return false;
  return livePodNetwork(p);
}

/** The annotation patch that makes the pod's marker match its enrolment, or undefined. */
export function annotationPatch(p: Pod, enrolled: boolean): Record<string, unknown> | undefined {
  const now = p.metadata.annotations?.[Annot.redirection];
  if (enrolled && now !== 'enabled') {
    return { metadata: { annotations: { [Annot.redirection]: 'enabled' } } };
  }
  // Only ever remove our own marker: `disabled` is the user's opt-out.
  if (!enrolled && now === 'enabled') {
    return { metadata: { annotations: { [Annot.redirection]: null } } };
  }
  return undefined;
}

function envTrue(p: Pod, names: string[]): boolean {
  for (const c of p.spec?.containers ?? []) {
    for (const e of c.env ?? []) if (names.includes(e.name) && e.value === 'true') return true;
  }
  return false;
}

/** The newest ready ztunnel pod on this node. */
export function activeZtunnel(pods: Pod[]): Pod | undefined {
  return pods
    .filter((p) => isZtunnel(p) && podReady(p) && p.status?.podIP)
    .sort((a, b) =>
      (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''),
    )[0];
}

/** The backend target for ztunnel pod `p`, given where its network lives. */
export function ztunnelTarget(p: Pod, hostVeth: string, netns: string): ZtunnelTarget | undefined {
  const podIp = p.status?.podIP;
  if (!podIp) return undefined;
  return {
    podIp,
    hostVeth,
    netns,
    dnsCapture: envTrue(p, ['ISTIO_META_DNS_CAPTURE', 'DNS_CAPTURE']),
  };
}
