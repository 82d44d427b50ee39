/** Pod creation and deletion on behalf of an owner, with expectations recorded. */
import { KubeApiError } from '../../k8s/client.js';
import { resources } from '../../k8s/resources.js';
import type { Ctx } from './context.js';
import { chooseNode } from './scheduler.js';
import type { LabPod } from './types.js';

export async function deletePod(ctx: Ctx, key: string, p: LabPod, why: string): Promise<void> {
  ctx.exp.expectDelete(key, p.metadata.name);
  ctx.log.info('deleting pod', { owner: key, pod: p.metadata.name, why });
  try {
    await ctx.client.delete(resources.pods, p.metadata.name, p.metadata.namespace);
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 404)) throw err;
  }
}

/** Creates `pod`, scheduled on the spot when a node fits (else the scheduler binds it later). */
export async function createPod(
  ctx: Ctx,
  key: string,
  pod: LabPod,
  placed: LabPod[],
): Promise<void> {
  if (!pod.spec?.nodeName) {
    const choice = chooseNode(pod, ctx.nodes.list(), [...ctx.pods.list(), ...placed]);
    if (choice.node) pod.spec = { ...pod.spec!, nodeName: choice.node };
  }
  ctx.exp.expectCreate(key, pod);
  placed.push(pod);
  ctx.log.info('creating pod', { owner: key, pod: pod.metadata.name, node: pod.spec?.nodeName });
  try {
    await ctx.client.create(resources.pods, pod);
  } catch (err) {
    ctx.exp.cancelCreate(key, pod.metadata.name);
    throw err;
  }
}
