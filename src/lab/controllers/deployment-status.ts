/**
 * A Deployment's status as Kubernetes' deployment controller writes it (pkg/controller/deployment
 * in kube-controller-manager): replica counts over old and new pods, and the `Available` and
 * `Progressing` conditions with their reasons, messages and timestamps, which `kubectl wait
 * --for=condition=Available` and `kubectl rollout status` read. The lab has no ReplicaSets; the
 * "new ReplicaSet" the messages name is `<deployment>-<pod-template-hash>`, the name it would have.
 */
import {
  isFinished,
  isReady,
  isTerminating,
  type Deployment,
  type DeploymentStatus,
  type LabPod,
} from './types.js';
import { kubeTime } from '../../k8s/time.js';

export const TEMPLATE_HASH_LABEL = 'pod-template-hash';

type Condition = NonNullable<DeploymentStatus['conditions']>[number];

/** An int-or-percent of `total`, rounded as Kubernetes' intstr.GetScaledValueFromIntOrPercent. */
function scaled(
  v: number | string | undefined,
  total: number,
  dflt: string,
  roundUp: boolean,
): number {
  const x = v ?? dflt;
  if (typeof x === 'number') return x;
  const m = /^(\d+)%$/.exec(x);
  if (!m) return Number(x) || 0;
  const f = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(f) : Math.floor(f);
}

/** maxSurge of the rolling update (25% by default, rounded up; 0 for Recreate). */
export function maxSurge(d: Deployment, replicas: number): number {
  const s = d.spec?.strategy;
  if (s?.type === 'Recreate') return 0;
  return scaled(s?.rollingUpdate?.maxSurge, replicas, '25%', true);
}

/** maxUnavailable of the rolling update (25% by default; 0 for Recreate; 1 when both are 0). */
export function maxUnavailable(d: Deployment, replicas: number): number {
  const s = d.spec?.strategy;
  if (s?.type === 'Recreate' || replicas === 0) return 0;
  let unavailable = scaled(s?.rollingUpdate?.maxUnavailable, replicas, '25%', false);
  if (maxSurge(d, replicas) === 0 && unavailable === 0) unavailable = 1;
  return Math.min(unavailable, replicas);
}

/** Ready, and for at least minReadySeconds (from the Ready condition's transition time). */
function isAvailable(p: LabPod, minReadySeconds: number, now: number): boolean {
  if (!isReady(p)) return false;
  if (minReadySeconds <= 0) return true;
  const since = p.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime;
  return since !== undefined && Date.parse(since) + minReadySeconds * 1000 <= now;
}

/**
 * Sets `next` in `conds` as SetDeploymentCondition does: same status and reason → unchanged;
 * same status → the transition time is kept.
 */
function setCondition(conds: Condition[], next: Condition, forceUpdate = false): Condition[] {
  const cur = conds.find((c) => c.type === next.type);
  if (cur && cur.status === next.status && cur.reason === next.reason && !forceUpdate) return conds;
  const c = { ...next };
  if (cur && cur.status === next.status) c.lastTransitionTime = cur.lastTransitionTime;
  return [...conds.filter((x) => x.type !== next.type), c];
}

export function deploymentStatus(
  d: Deployment,
  pods: readonly LabPod[],
  hash: string,
  replicas: number,
  now = Date.now(),
): DeploymentStatus {
  const prev = d.status ?? {};
  const active = pods.filter((p) => !isTerminating(p) && !isFinished(p));
  const minReady = d.spec?.minReadySeconds ?? 0;
  const ready = active.filter(isReady).length;
  const available = active.filter((p) => isAvailable(p, minReady, now)).length;
  const current = active.filter((p) => p.metadata.labels?.[TEMPLATE_HASH_LABEL] === hash);
  const updated = current.length;
  const status: DeploymentStatus = {
    observedGeneration: d.metadata.generation ?? 1,
    replicas: active.length,
    updatedReplicas: updated,
    readyReplicas: ready,
    availableReplicas: available,
    ...(replicas - available > 0 ? { unavailableReplicas: replicas - available } : {}),
  };
  const t = kubeTime(now);
  const rs = `${d.metadata.name}-${hash}`;
  const cond = (type: string, s: string, reason: string, message: string): Condition => ({
    type,
    status: s,
    lastUpdateTime: t,
    lastTransitionTime: t,
    reason,
    message,
  });
  let conds: Condition[] = (prev.conditions ?? []).map((c) => ({ ...c }));

  const minAvailable = replicas - maxUnavailable(d, replicas);
  conds = setCondition(
    conds,
    available >= minAvailable
      ? cond(
          'Available',
          'True',
          'MinimumReplicasAvailable',
          'Deployment has minimum availability.',
        )
      : cond(
          'Available',
          'False',
          'MinimumReplicasUnavailable',
          'Deployment does not have minimum availability.',
        ),
  );

  const progressing = conds.find((c) => c.type === 'Progressing');
  const complete = updated === replicas && available >= replicas && active.length === replicas;
  const sameRs = progressing?.message?.includes(`"${rs}"`) ?? false;
  if (complete) {
    conds = setCondition(
      conds,
      cond(
        'Progressing',
        'True',
        'NewReplicaSetAvailable',
        `ReplicaSet "${rs}" has successfully progressed.`,
      ),
    );
  } else if (!sameRs) {
    conds = setCondition(
      conds,
      cond('Progressing', 'True', 'NewReplicaSetCreated', `Created new replica set "${rs}"`),
      true,
    );
  } else {
    // Progress: more pods of the new template, more ready or available ones, fewer old ones.
    const moved =
      updated > (prev.updatedReplicas ?? 0) ||
      ready > (prev.readyReplicas ?? 0) ||
      available > (prev.availableReplicas ?? 0) ||
      active.length - updated < (prev.replicas ?? 0) - (prev.updatedReplicas ?? 0);
    const deadline = d.spec?.progressDeadlineSeconds ?? 600;
    const since = Date.parse(progressing?.lastUpdateTime ?? t);
    if (moved)
      conds = setCondition(
        conds,
        cond('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${rs}" is progressing.`),
        true,
      );
    else if (progressing?.status === 'True' && since + deadline * 1000 < now)
      conds = setCondition(
        conds,
        cond(
          'Progressing',
          'False',
          'ProgressDeadlineExceeded',
          `ReplicaSet "${rs}" has timed out progressing.`,
        ),
      );
  }
  // Kubernetes lists Available before Progressing.
  status.conditions = ['Available', 'Progressing']
    .map((type) => conds.find((c) => c.type === type))
    .filter((c): c is Condition => c !== undefined);
  return status;
}

/** When an unfinished rollout's deadline passes (ms from now), for a re-sync then. */
export function progressDeadlineIn(
  d: Deployment,
  status: DeploymentStatus,
  now = Date.now(),
): number | undefined {
  const p = status.conditions?.find((c) => c.type === 'Progressing');
  if (!p || p.status !== 'True' || p.reason === 'NewReplicaSetAvailable' || !p.lastUpdateTime)
    return undefined;
  return (
    Math.max(
      0,
      Date.parse(p.lastUpdateTime) + (d.spec?.progressDeadlineSeconds ?? 600) * 1000 - now,
    ) + 1000
  );
}
