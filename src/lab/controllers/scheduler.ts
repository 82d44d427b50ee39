/**
 * The lab's scheduler as a pure choice: filter nodes (Ready, not unschedulable, nodeSelector,
 * taints vs tolerations, a pinned IP inside the node's pod CIDR), then take the one running the
 * fewest pods. The control-plane node is never chosen unless the pod tolerates its taint, as
 * on kind even when the Node object carries only the role label.
 */
import { cidrContains } from './ipv4.js';
import {
  CONTROL_PLANE_TAINT,
  isFinished,
  POD_IP_ANNOTATION,
  type LabNode,
  type LabPod,
  type Taint,
  type Toleration,
} from './types.js';

export function isControlPlane(n: LabNode): boolean {
  return (
    (n.spec?.taints ?? []).some((t) => t.key === CONTROL_PLANE_TAINT) ||
    n.metadata.labels?.[CONTROL_PLANE_TAINT] !== undefined ||
    n.metadata.name === 'control-plane'
  );
}

export function tolerates(tolerations: readonly Toleration[] | undefined, taint: Taint): boolean {
  return (tolerations ?? []).some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

/** Taints the pod must tolerate on `n`, with the implied control-plane taint. */
export function schedulingTaints(n: LabNode): Taint[] {
  const taints = (n.spec?.taints ?? []).filter(
    (t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute',
  );
  if (isControlPlane(n) && !taints.some((t) => t.key === CONTROL_PLANE_TAINT))
    taints.push({ key: CONTROL_PLANE_TAINT, effect: 'NoSchedule' });
  return taints;
}

export function nodeSelectorMatches(
  selector: Record<string, string> | undefined,
  n: LabNode,
): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => {
    const label = n.metadata.labels?.[k];
    if (label !== undefined) return label === v;
    // A Node registered without the hostname label is still addressable by its name.
    return k === 'kubernetes.io/hostname' && n.metadata.name === v;
  });
}

export function nodeReady(n: LabNode): boolean {
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
  return !n.spec?.unschedulable && ready?.status !== 'False' && ready?.status !== 'Unknown';
}

export interface Placement {
  node?: string;
  /** Why no node fits, for an Event and the logs. */
  reason?: string;
}

/** Why `pod` cannot run on `n`, or undefined when it can. */
export function misfit(pod: LabPod, n: LabNode): string | undefined {
  if (!nodeReady(n)) return 'not ready';
  if (!nodeSelectorMatches(pod.spec?.nodeSelector, n)) return 'node selector does not match';
  const untolerated = schedulingTaints(n).find((t) => !tolerates(pod.spec?.tolerations, t));
  if (untolerated) return `untolerated taint ${untolerated.key}`;
  const pinned = pod.metadata.annotations?.[POD_IP_ANNOTATION];
  const cidr = n.spec?.podCIDR ?? n.spec?.podCIDRs?.[0];
  if (pinned && cidr && !cidrContains(cidr, pinned)) return `${pinned} is outside ${cidr}`;
  return undefined;
}

/** Where `pod` goes, given the nodes and the pods already placed (by `spec.nodeName`). */
export function chooseNode(
  pod: LabPod,
  nodes: readonly LabNode[],
  pods: readonly LabPod[],
): Placement {
  if (nodes.length === 0) return { reason: 'no nodes registered' };
  const reasons: string[] = [];
  const fit = nodes.filter((n) => {
    const why = misfit(pod, n);
    if (why) reasons.push(`${n.metadata.name}: ${why}`);
    return !why;
  });
  if (fit.length === 0) return { reason: `0/${nodes.length} nodes fit: ${reasons.join('; ')}` };
  const load = new Map<string, number>();
  for (const p of pods) {
    const n = p.spec?.nodeName;
    if (n && !isFinished(p)) load.set(n, (load.get(n) ?? 0) + 1);
  }
  fit.sort(
    (a, b) =>
      (load.get(a.metadata.name) ?? 0) - (load.get(b.metadata.name) ?? 0) ||
      a.metadata.name.localeCompare(b.metadata.name),
  );
  return { node: fit[0]!.metadata.name };
}
