/** The ServiceAccount controller: every active namespace has a `default` ServiceAccount. */
import { KubeApiError } from '../../k8s/client.js';
import { resources } from '../../k8s/resources.js';
import type { Ctx } from './context.js';

export async function syncServiceAccounts(ctx: Ctx, ns: string): Promise<void> {
  const n = ctx.namespaces.cache.get(ns);
  if (!n || n.metadata.deletionTimestamp || n.status?.phase === 'Terminating') return;
  if (ctx.serviceaccounts.cache.has(`${ns}/default`)) return;
  try {
    await ctx.client.create(resources.serviceaccounts, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'default', namespace: ns },
    });
    ctx.log.info('created default service account', { namespace: ns });
  } catch (err) {
    if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) return;
    throw err;
  }
}
