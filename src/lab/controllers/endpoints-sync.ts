/** The Endpoints controller's API side: one Endpoints object per selector Service. */
import { KubeApiError } from '../../k8s/client.js';
import { resources } from '../../k8s/resources.js';
import type { Endpoints } from '../../k8s/types.js';
import type { Ctx } from './context.js';
import { computeSubsets } from './endpoints.js';
import { stableJson } from './naming.js';

export async function syncEndpoints(ctx: Ctx, ns: string, name: string): Promise<void> {
  const key = `${ns}/${name}`;
  const svc = ctx.services.cache.get(key);
  const cur = ctx.endpoints.cache.get(key);
  try {
    if (!svc) {
      if (cur) await ctx.client.delete(resources.endpoints, name, ns);
      return;
    }
    const subsets = computeSubsets(svc, ctx.pods.list());
    if (subsets === undefined) return; // no selector: the user manages the Endpoints
    const labels = { ...(svc.metadata.labels ?? {}) };
    if (!cur) {
      await ctx.client.create<Endpoints>(resources.endpoints, {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name, namespace: ns, labels },
        subsets,
      });
      ctx.log.info('endpoints created', { service: key, subsets: subsets.length });
      return;
    }
    if (
      stableJson(cur.subsets ?? []) === stableJson(subsets) &&
      stableJson(cur.metadata.labels ?? {}) === stableJson(labels)
    )
      return;
    await ctx.client.update<Endpoints>(resources.endpoints, {
      ...cur,
      metadata: { ...cur.metadata, labels },
      subsets,
    });
    ctx.log.info('endpoints updated', {
      service: key,
      ready: subsets.reduce((n, s) => n + (s.addresses?.length ?? 0), 0),
      notReady: subsets.reduce((n, s) => n + (s.notReadyAddresses?.length ?? 0), 0),
    });
  } catch (err) {
    // 409: created or changed meanwhile; 404: already gone. The next event re-syncs.
    if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) {
      ctx.queue.addAfter(`ep/${key}`, 200);
      return;
    }
    throw err;
  }
}
