/**
 * The DaemonSet controller: one pod per eligible node (`spec.nodeName` set at creation, as the
 * real controller does), replaced when the template changes, removed from nodes that no longer
 * fit. Nodes' taints are honoured only when the Node object carries them.
 */
import { KubeApiError } from '../../k8s/client.js';
import { resources } from '../../k8s/resources.js';
import { podsOwnedBy, ownerRef, recordEvent, type Ctx } from './context.js';
import { createPod, deletePod } from './podops.js';
import { hostInCidr } from './ipv4.js';
import { daemonSetPodName, stableJson, templateHash } from './naming.js';
import { nodeSelectorMatches, tolerates } from './scheduler.js';
import {
  isFinished,
  isReady,
  isTerminating,
  POD_IP_ANNOTATION,
  POD_IP_OFFSET_ANNOTATION,
  POD_NAME_ANNOTATION,
  type DaemonSet,
  type DaemonSetStatus,
  type LabNode,
  type LabPod,
} from './types.js';

export const REVISION_HASH_LABEL = 'controller-revision-hash';

/** Whether the DaemonSet's pods are named after their node (a recreated pod keeps its name). */
const namedByNode = (ds: DaemonSet): boolean =>
  ds.spec?.template.metadata?.annotations?.[POD_NAME_ANNOTATION] === 'node';

export function daemonSetFits(ds: DaemonSet, n: LabNode): boolean {
  const spec = ds.spec!.template.spec;
  if (!nodeSelectorMatches(spec.nodeSelector, n)) return false;
  return (n.spec?.taints ?? [])
    .filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute')
    .every((t) => tolerates(spec.tolerations, t));
}

/** The pod a DaemonSet runs on `node`; undefined (with a reason) when the IP offset cannot apply. */
export function daemonPod(
  ds: DaemonSet,
  node: LabNode,
  hash: string,
): { pod?: LabPod; error?: string } {
  const t = ds.spec!.template;
  const annotations = { ...(t.metadata?.annotations ?? {}) };
  const offset = annotations[POD_IP_OFFSET_ANNOTATION];
  if (offset !== undefined) {
    const cidr = node.spec?.podCIDR ?? node.spec?.podCIDRs?.[0];
    const ip = cidr ? hostInCidr(cidr, Number(offset)) : undefined;
    if (!ip)
      return {
        error: `${POD_IP_OFFSET_ANNOTATION}=${offset} does not fit node ${node.metadata.name}'s pod CIDR ${cidr ?? '(none)'}`,
      };
    annotations[POD_IP_ANNOTATION] = ip;
  }
  return {
    pod: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: namedByNode(ds)
          ? `${ds.metadata.name}-${node.metadata.name}`
          : daemonSetPodName(ds.metadata.name),
        namespace: ds.metadata.namespace,
        labels: { ...(t.metadata?.labels ?? {}), [REVISION_HASH_LABEL]: hash },
        ...(Object.keys(annotations).length ? { annotations } : {}),
        ownerReferences: [ownerRef({ ...ds, apiVersion: 'apps/v1', kind: 'DaemonSet' })],
      },
      spec: { ...structuredClone(t.spec), nodeName: node.metadata.name },
    },
  };
}

export async function syncDaemonSet(ctx: Ctx, ns: string, name: string): Promise<void> {
  const key = `ds/${ns}/${name}`;
  const ds = ctx.daemonsets.cache.get(`${ns}/${name}`);
  if (!ds) {
    ctx.exp.forget(key);
    return;
  }
  if (ds.metadata.deletionTimestamp) return;
  if (!ds.spec?.template?.spec?.containers?.length) {
    await recordEvent(
      ctx,
      ds,
      'Warning',
      'InvalidTemplate',
      'spec.template.spec.containers is empty',
      'daemonset-controller',
    );
    return;
  }
  const hash = templateHash(ds.spec.template);
  const nodes = ctx.nodes.list().filter((n) => daemonSetFits(ds, n));
  const wanted = new Set(nodes.map((n) => n.metadata.name));
  const owned = ctx.exp.view(key, podsOwnedBy(ctx, ds));
  const remove = (p: LabPod, why: string) => deletePod(ctx, key, p, why);

  for (const p of owned) {
    if (isTerminating(p)) continue;
    const node = p.spec?.nodeName ?? '';
    if (!wanted.has(node)) await remove(p, `node ${node} no longer runs this daemon`);
    else if (isFinished(p)) await remove(p, `pod ${p.status?.phase ?? ''}`);
  }
  const placed: LabPod[] = [];
  for (const n of nodes) {
    const here = owned.filter((p) => p.spec?.nodeName === n.metadata.name);
    const alive = here.filter((p) => !isTerminating(p) && !isFinished(p));
    const stale = alive.filter((p) => p.metadata.labels?.[REVISION_HASH_LABEL] !== hash);
    for (const p of stale) await remove(p, 'template changed');
    const current = alive.filter((p) => p.metadata.labels?.[REVISION_HASH_LABEL] === hash);
    for (const p of current.slice(1)) await remove(p, 'more than one daemon pod on the node');
    // Wait until the old pod is gone: it may hold the node's pinned address, or its name.
    const gone = namedByNode(ds)
      ? here.length === 0
      : here.every((p) => p.metadata.labels?.[REVISION_HASH_LABEL] === hash || isFinished(p));
    if (current.length === 0 && gone) {
      const { pod, error } = daemonPod(ds, n, hash);
      if (error) {
        await recordEvent(ctx, ds, 'Warning', 'FailedCreate', error, 'daemonset-controller');
        continue;
      }
      await createPod(ctx, key, pod!, placed);
    }
  }
  await updateStatus(ctx, ds, ctx.exp.view(key, podsOwnedBy(ctx, ds)), wanted, hash);
}

export function daemonSetStatus(
  ds: DaemonSet,
  pods: readonly LabPod[],
  wanted: ReadonlySet<string>,
  hash: string,
): DaemonSetStatus {
  const active = pods.filter((p) => !isTerminating(p) && !isFinished(p));
  const scheduled = new Set(active.map((p) => p.spec?.nodeName ?? ''));
  const onWanted = [...scheduled].filter((n) => wanted.has(n));
  const ready = active.filter((p) => wanted.has(p.spec?.nodeName ?? '') && isReady(p)).length;
  return {
    observedGeneration: ds.metadata.generation ?? 1,
    currentNumberScheduled: onWanted.length,
    desiredNumberScheduled: wanted.size,
    numberMisscheduled: scheduled.size - onWanted.length,
    numberReady: ready,
    numberAvailable: ready,
    updatedNumberScheduled: active.filter((p) => p.metadata.labels?.[REVISION_HASH_LABEL] === hash)
      .length,
  };
}

async function updateStatus(
  ctx: Ctx,
  ds: DaemonSet,
  pods: readonly LabPod[],
  wanted: ReadonlySet<string>,
  hash: string,
): Promise<void> {
  const status = daemonSetStatus(ds, pods, wanted, hash);
  if (stableJson(status) === stableJson(ds.status ?? {})) return;
  try {
    await ctx.client.updateStatus(resources.daemonsets, { ...ds, status });
  } catch (err) {
    if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) return;
    throw err;
  }
}
