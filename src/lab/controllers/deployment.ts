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
import {
  deploymentStatus,
  maxSurge,
  maxUnavailable,
  progressDeadlineIn,
  TEMPLATE_HASH_LABEL,
} from './deployment-status.js';
import { createPod, deletePod } from './podops.js';
import {
  isFinished,
  isReady,
  isTerminating,
  POD_IP_ANNOTATION,
  type Deployment,
  type LabPod,
} from './types.js';

export { deploymentStatus, TEMPLATE_HASH_LABEL };

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
    // Old pods go while enough stay ready: replicas - maxUnavailable of them, old and new.
    const keep = recreate ? 0 : Math.max(0, replicas - maxUnavailable(d, replicas) - readyNew);
    for (const p of [...old].sort(deletionOrder).slice(0, Math.max(0, old.length - keep)))
      await deletePod(ctx, key, p, 'template changed');
  }
  // Finished pods of a Deployment are replaced, as a ReplicaSet does.
  for (const p of owned.filter((x) => isFinished(x) && !isTerminating(x)))
    await deletePod(ctx, key, p, `pod ${p.status?.phase ?? ''}`);

  const oldAlive = live.some((p) => p.metadata.labels?.[TEMPLATE_HASH_LABEL] !== hash);
  const placed: LabPod[] = [];
  // A rolling update runs at most replicas + maxSurge pods at once (Kubernetes' default 25%).
  const surgeRoom = recreate
    ? replicas
    : replicas + maxSurge(d, replicas) - live.filter((p) => !isTerminating(p)).length;
  const toCreate = Math.min(replicas - current.length, Math.max(surgeRoom, 0));
  if (toCreate > 0 && !(recreate && oldAlive)) {
    for (let i = 0; i < toCreate; i++) await createPod(ctx, key, podFromTemplate(d, hash), placed);
  } else if (current.length > replicas) {
    for (const p of [...current].sort(deletionOrder).slice(0, current.length - replicas))
      await deletePod(ctx, key, p, 'scaled down');
  }
  await updateStatus(ctx, d, ctx.exp.view(key, podsOwnedBy(ctx, d)), hash, replicas);
}

async function updateStatus(
  ctx: Ctx,
  d: Deployment,
  pods: readonly LabPod[],
  hash: string,
  replicas: number,
): Promise<void> {
  const status = deploymentStatus(d, pods, hash, replicas);
  // An unfinished rollout is looked at again when its progress deadline passes.
  const deadline = progressDeadlineIn(d, status);
  if (deadline !== undefined)
    ctx.queue.addAfter(`deploy/${d.metadata.namespace}/${d.metadata.name}`, deadline);
  if (stableJson(status) === stableJson(d.status ?? {})) return;
  try {
    await ctx.client.updateStatus(resources.deployments, { ...d, status });
  } catch (err) {
    // A stale resourceVersion: the informer brings the newer object and a new sync.
    if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) return;
    throw err;
  }
}
