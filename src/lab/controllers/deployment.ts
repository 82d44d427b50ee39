/**
 * The Deployment controller: keeps `replicas` pods of the current template (named
 * `<deploy>-<hash>-<rand>`, labelled `pod-template-hash`, owned by the Deployment), replaces
 * pods of older templates, and reports status. The lab skips ReplicaSets: pods are owned by
 * the Deployment itself.
 */
import { KubeApiError } from '../../k8s/client.js';
import { resources } from '../../k8s/resources.js';
import { podsOwnedBy, ownerRef, recordEvent, type Ctx } from './context.js';
import { deploymentPodName, stableJson, templateHash } from './naming.js';
import { createPod, deletePod } from './podops.js';
import {
  isFinished,
  isReady,
  isTerminating,
  POD_IP_ANNOTATION,
  type Deployment,
  type DeploymentStatus,
  type LabPod,
} from './types.js';

export const TEMPLATE_HASH_LABEL = 'pod-template-hash';

/** The pod a Deployment's template makes, before scheduling. */
export function podFromTemplate(d: Deployment, hash: string, name?: string): LabPod {
  const t = d.spec!.template;
  const spec = structuredClone(t.spec);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: name ?? deploymentPodName(d.metadata.name, hash),
      namespace: d.metadata.namespace,
      labels: { ...(t.metadata?.labels ?? {}), [TEMPLATE_HASH_LABEL]: hash },
      ...(t.metadata?.annotations ? { annotations: { ...t.metadata.annotations } } : {}),
      ownerReferences: [ownerRef({ ...d, apiVersion: 'apps/v1', kind: 'Deployment' })],
    },
    spec,
  };
}

/** Which pods to remove first: unscheduled, then not ready, then the newest. */
function deletionOrder(a: LabPod, b: LabPod): number {
  const rank = (p: LabPod) => (!p.spec?.nodeName ? 0 : !isReady(p) ? 1 : 2);
  return (
    rank(a) - rank(b) ||
    (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '')
  );
}

export async function syncDeployment(ctx: Ctx, ns: string, name: string): Promise<void> {
  const key = `deploy/${ns}/${name}`;
  const d = ctx.deployments.cache.get(`${ns}/${name}`);
  if (!d) {
    ctx.exp.forget(key);
    return;
  }
  if (d.metadata.deletionTimestamp) return;
  const template = d.spec?.template;
  if (!template?.spec?.containers?.length) {
    await recordEvent(
      ctx,
      d,
      'Warning',
      'InvalidTemplate',
      'spec.template.spec.containers is empty',
      'deployment-controller',
    );
    return;
  }
  const hash = templateHash(template);
  const replicas = Math.max(0, d.spec?.replicas ?? 1);
  const owned = ctx.exp.view(key, podsOwnedBy(ctx, d));
  const live = owned.filter((p) => !isFinished(p));
  const active = live.filter((p) => !isTerminating(p));
  const current = active.filter((p) => p.metadata.labels?.[TEMPLATE_HASH_LABEL] === hash);
  const old = active.filter((p) => p.metadata.labels?.[TEMPLATE_HASH_LABEL] !== hash);
  // A pinned address can be held by one pod only: replace old pods before starting new ones.
  const recreate =
    d.spec?.strategy?.type === 'Recreate' || !!template.metadata?.annotations?.[POD_IP_ANNOTATION];

  if (old.length > 0) {
    const readyNew = current.filter(isReady).length;
    const keep = recreate ? 0 : Math.max(0, replicas - readyNew);
    for (const p of [...old].sort(deletionOrder).slice(0, Math.max(0, old.length - keep)))
      await deletePod(ctx, key, p, 'template changed');
  }
  // Finished pods of a Deployment are replaced, as a ReplicaSet does.
  for (const p of owned.filter((x) => isFinished(x) && !isTerminating(x)))
    await deletePod(ctx, key, p, `pod ${p.status?.phase ?? ''}`);

  const oldAlive = live.some((p) => p.metadata.labels?.[TEMPLATE_HASH_LABEL] !== hash);
  const placed: LabPod[] = [];
  if (current.length < replicas && !(recreate && oldAlive)) {
    for (let i = current.length; i < replicas; i++)
      await createPod(ctx, key, podFromTemplate(d, hash), placed);
  } else if (current.length > replicas) {
    for (const p of [...current].sort(deletionOrder).slice(0, current.length - replicas))
      await deletePod(ctx, key, p, 'scaled down');
  }
  await updateStatus(ctx, d, ctx.exp.view(key, podsOwnedBy(ctx, d)), hash, replicas);
}

export function deploymentStatus(
  d: Deployment,
  pods: readonly LabPod[],
  hash: string,
  replicas: number,
): DeploymentStatus {
  const active = pods.filter((p) => !isTerminating(p) && !isFinished(p));
  const ready = active.filter(isReady).length;
  const updated = active.filter((p) => p.metadata.labels?.[TEMPLATE_HASH_LABEL] === hash).length;
  const available = ready >= replicas;
  return {
    observedGeneration: d.metadata.generation ?? 1,
    replicas: active.length,
    updatedReplicas: updated,
    readyReplicas: ready,
    availableReplicas: ready,
    ...(replicas - ready > 0 ? { unavailableReplicas: replicas - ready } : {}),
    conditions: [
      {
        type: 'Available',
        status: available ? 'True' : 'False',
        reason: available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
        message: available
          ? 'Deployment has minimum availability.'
          : 'Deployment does not have minimum availability.',
      },
      {
        type: 'Progressing',
        status: 'True',
        reason: updated >= replicas ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
        message: `${updated} of ${replicas} pods run the current template.`,
      },
    ],
  };
}

async function updateStatus(
  ctx: Ctx,
  d: Deployment,
  pods: readonly LabPod[],
  hash: string,
  replicas: number,
): Promise<void> {
  const status = deploymentStatus(d, pods, hash, replicas);
  if (stableJson(status) === stableJson(d.status ?? {})) return;
  try {
    await ctx.client.updateStatus(resources.deployments, { ...d, status });
  } catch (err) {
    // A stale resourceVersion: the informer brings the newer object and a new sync.
    if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) return;
    throw err;
  }
}
