/**
 * The fields of workload kinds the lab's controllers read, beyond the shared `src/k8s/types.ts`.
 */
import type { KubeObject, ObjectMeta, PodSpec, PodStatus } from '../../k8s/types.js';
import { LabAnnotation } from '../conventions.js';

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: string;
}

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

export interface LabPodSpec extends PodSpec {
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
}

export type LabPod = KubeObject<LabPodSpec, PodStatus>;

export interface PodTemplate {
  metadata?: Partial<ObjectMeta>;
  spec: LabPodSpec;
}

export interface DeploymentSpec {
  replicas?: number;
  selector?: { matchLabels?: Record<string, string> };
  strategy?: {
    type?: 'RollingUpdate' | 'Recreate';
    rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string };
  };
  minReadySeconds?: number;
  progressDeadlineSeconds?: number;
  template: PodTemplate;
}

export interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  conditions?: {
    type: string;
    status: string;
    lastUpdateTime?: string;
    lastTransitionTime?: string;
    reason?: string;
    message?: string;
  }[];
}

export type Deployment = KubeObject<DeploymentSpec, DeploymentStatus>;

export interface DaemonSetSpec {
  selector?: { matchLabels?: Record<string, string> };
  template: PodTemplate;
}

export interface DaemonSetStatus {
  observedGeneration?: number;
  currentNumberScheduled?: number;
  desiredNumberScheduled?: number;
  numberMisscheduled?: number;
  numberReady?: number;
  numberAvailable?: number;
  updatedNumberScheduled?: number;
}

export type DaemonSet = KubeObject<DaemonSetSpec, DaemonSetStatus>;

export interface LabNodeSpec {
  podCIDR?: string;
  podCIDRs?: string[];
  taints?: Taint[];
  unschedulable?: boolean;
}

export type LabNode = KubeObject<LabNodeSpec, { conditions?: { type: string; status: string }[] }>;

/** The annotation that pins a pod's address (the kubelet honours it). */
export const POD_IP_ANNOTATION = LabAnnotation.ip;
/** On a DaemonSet's pod template: the host number inside each node's pod CIDR. */
export const POD_IP_OFFSET_ANNOTATION = LabAnnotation.ipOffset;
/** On a DaemonSet's pod template: `node` names its pods `<daemonset>-<node>`. */
export const POD_NAME_ANNOTATION = LabAnnotation.podName;
export const CONTROL_PLANE_TAINT = 'node-role.kubernetes.io/control-plane';

export function isTerminating(p: LabPod): boolean {
  return !!p.metadata.deletionTimestamp;
}

export function isFinished(p: LabPod): boolean {
  return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
}

export function isReady(p: LabPod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export function controllerOf(
  o: KubeObject,
): { kind: string; name: string; uid: string } | undefined {
  return o.metadata.ownerReferences?.find((r) => r.controller);
}

export function matchesLabels(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}
