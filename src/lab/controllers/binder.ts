/**
 * The scheduler's API side: binds pods created without `spec.nodeName` (bare pods from
 * `kubectl apply`, or owned pods no node fitted at creation) to the node `chooseNode` picks.
 */
import { KubeApiError } from '../../k8s/client.js';
import { resources } from '../../k8s/resources.js';
import { recordEvent, type Ctx } from './context.js';
import { chooseNode } from './scheduler.js';
import { isTerminating } from './types.js';

const RETRY_MS = 2000;
const lastReason = new Map<string, string>();

export async function schedulePod(ctx: Ctx, ns: string, name: string): Promise<void> {
  const key = `${ns}/${name}`;
  const pod = ctx.pods.cache.get(key);
  if (!pod || pod.spec?.nodeName || isTerminating(pod)) {
    lastReason.delete(key);
    return;
  }
  const choice = chooseNode(pod, ctx.nodes.list(), ctx.pods.list());
  if (!choice.node) {
    const reason = choice.reason ?? 'no node fits';
    if (lastReason.get(key) !== reason) {
      lastReason.set(key, reason);
      ctx.log.warn('cannot schedule pod', { pod: key, reason });
      await recordEvent(ctx, pod, 'Warning', 'FailedScheduling', reason, 'default-scheduler');
    }
    ctx.queue.addAfter(`sched/${key}`, RETRY_MS);
    return;
  }
  lastReason.delete(key);
  try {
    await ctx.client.update(resources.pods, {
      ...pod,
      spec: { ...pod.spec!, nodeName: choice.node },
    });
  } catch (err) {
    // Changed or gone meanwhile: the informer's event queues the pod again.
    if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) return;
    throw err;
  }
  ctx.log.info('scheduled pod', { pod: key, node: choice.node });
  await recordEvent(
    ctx,
    pod,
    'Normal',
    'Scheduled',
    `Successfully assigned ${key} to ${choice.node}`,
    'default-scheduler',
  );
}
