/**
 * A pod's status as the kubelet reports it, computed from its runtime state: phase, pod
 * IPs, container states (waiting/running/terminated, lastState, restartCount, ready) and the
 * conditions PodScheduled, Initialized, ContainersReady, Ready.
 */
import type { PodStatus } from '../../k8s/types.js';

export type ContainerStateValue =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | {
      terminated: {
        exitCode: number;
        signal?: number;
        reason: string;
        message?: string;
        startedAt?: string;
        finishedAt: string;
      };
    };

export interface ContainerView {
  name: string;
  image: string;
  state: ContainerStateValue;
  lastState?: ContainerStateValue;
  restartCount: number;
  ready: boolean;
  /** Has ever started. */
  started: boolean;
  /** Exited and will not be restarted (restartPolicy). */
  final: boolean;
  pid?: number;
}

export interface PodView {
  /** Network, volumes and CNI done. */
  initialized: boolean;
  podIP?: string;
  hostIP: string;
  startTime: string;
  containers: ContainerView[];
  /** Why the pod cannot start yet (shown on its containers while waiting). */
  pendingReason?: { reason: string; message: string };
}

type Phase = NonNullable<PodStatus['phase']>;

export function podPhase(v: PodView): Phase {
  if (!v.initialized) return 'Pending';
  const cs = v.containers;
  if (cs.length > 0 && cs.every((c) => c.final)) {
    const ok = cs.every((c) => 'terminated' in c.state && c.state.terminated.exitCode === 0);
    return ok ? 'Succeeded' : 'Failed';
  }
  return cs.some((c) => c.started) ? 'Running' : 'Pending';
}

export function computeStatus(v: PodView, now = new Date().toISOString()): PodStatus {
  const phase = podPhase(v);
  const allReady = v.containers.length > 0 && v.containers.every((c) => c.ready);
  const cond = (type: string, ok: boolean, reason?: string) => ({
    type,
    status: ok ? ('True' as const) : ('False' as const),
    lastTransitionTime: now,
    ...(reason && !ok ? { reason } : {}),
  });
  return {
    phase,
    hostIP: v.hostIP,
    ...(v.podIP ? { podIP: v.podIP, podIPs: [{ ip: v.podIP }] } : {}),
    startTime: v.startTime,
    conditions: [
      cond('PodScheduled', true),
      cond('Initialized', v.initialized),
      cond('ContainersReady', allReady, 'ContainersNotReady'),
      cond('Ready', allReady, 'ContainersNotReady'),
    ],
    containerStatuses: v.containers.map((c) => ({
      name: c.name,
      image: c.image,
      imageID: '',
      containerID: c.pid !== undefined ? `ambit://${c.pid}` : undefined,
      ready: c.ready,
      started: 'running' in c.state,
      restartCount: c.restartCount,
      state:
        !v.initialized && v.pendingReason && !c.started
          ? { waiting: { reason: 'ContainerCreating', message: v.pendingReason.message } }
          : c.state,
      ...(c.lastState ? { lastState: c.lastState } : {}),
    })),
  } as PodStatus;
}
