/**
 * The EndpointSlice controllers' API side: keeps each Service's slices (labelled
 * `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`, owned by the
 * Service, or by the Endpoints they mirror) equal to what `endpointslices.ts` computes. A
 * selector Service with no endpoints keeps one empty slice, as Kubernetes does.
 */
import { createHash } from 'node:crypto';
import { KubeApiError } from '../../k8s/client.js';
import { resources } from '../../k8s/resources.js';
import { SERVICE_NAME_LABEL, type EndpointSlice, type KubeObject } from '../../k8s/types.js';
import { ownerRef, type Ctx } from './context.js';
import {
  desiredSlices,
  MANAGED_BY_LABEL,
  MIRROR_CONTROLLER,
  mirroredSlices,
  SLICE_CONTROLLER,
  type SliceContent,
} from './endpointslices.js';
import { stableJson } from './naming.js';

const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

/**
 * `<service>-<5 chars>`, like Kubernetes' generated names, but derived from the Service's uid and
 * the slice's index: a sync racing its own previous create meets AlreadyExists, not a duplicate.
 */
function sliceName(svc: string, uid: string, i: number): string {
  const h = createHash('sha256').update(`${uid}/${i}`).digest();
  let s = '';
  for (let j = 0; j < 5; j++) s += ALPHANUMS[h[j]! % ALPHANUMS.length]!;
  return `${svc.slice(0, 63 - 6)}-${s}`;
}

export async function syncEndpointSlices(ctx: Ctx, ns: string, name: string): Promise<void> {
  const key = `${ns}/${name}`;
  const svc = ctx.services.cache.get(key);
  const mine = (s: EndpointSlice, by?: string) =>
    s.metadata.namespace === ns &&
    s.metadata.labels?.[SERVICE_NAME_LABEL] === name &&
    (by === undefined
      ? [SLICE_CONTROLLER, MIRROR_CONTROLLER].includes(s.metadata.labels?.[MANAGED_BY_LABEL] ?? '')
      : s.metadata.labels[MANAGED_BY_LABEL] === by);
  try {
    let want: SliceContent[] = [];
    let owner: KubeObject | undefined;
    let by = SLICE_CONTROLLER;
    if (svc) {
      const sel = desiredSlices(svc, ctx.pods.list());
      if (sel !== undefined) {
        want = sel.length ? sel : [{ ports: [], endpoints: [] }];
        owner = { ...svc, apiVersion: 'v1', kind: 'Service' };
      } else {
        const ep = ctx.endpoints.cache.get(key);
        by = MIRROR_CONTROLLER;
        if (ep) {
          want = mirroredSlices(ep);
          owner = { ...ep, apiVersion: 'v1', kind: 'Endpoints' };
        }
      }
    }
    const have = ctx.endpointslices
      .list()
      .filter((s) => mine(s))
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const keep = have.filter((s) => owner && s.metadata.labels?.[MANAGED_BY_LABEL] === by);
    for (const s of have)
      if (!keep.includes(s)) await ctx.client.delete(resources.endpointslices, s.metadata.name, ns);
    if (!owner) return;
    const labels = {
      ...(svc?.metadata.labels ?? {}),
      [SERVICE_NAME_LABEL]: name,
      [MANAGED_BY_LABEL]: by,
    };
    const body = (c: SliceContent): Pick<EndpointSlice, 'addressType' | 'endpoints' | 'ports'> => ({
      addressType: 'IPv4',
      endpoints: c.endpoints,
      ports: c.ports,
    });
    const used = new Set<string>();
    for (let i = 0; i < want.length; i++) {
      const c = want[i]!;
      const cur = keep[i];
      if (cur) {
        used.add(cur.metadata.name);
        const next = { ...cur, ...body(c), metadata: { ...cur.metadata, labels } };
        if (stableJson(next) !== stableJson(cur))
          await ctx.client.update<EndpointSlice>(resources.endpointslices, next);
        continue;
      }
      let n = i;
      let sliceNm = sliceName(name, owner.metadata.uid ?? '', n);
      while (keep.some((s) => s.metadata.name === sliceNm) || used.has(sliceNm))
        sliceNm = sliceName(name, owner.metadata.uid ?? '', ++n);
      used.add(sliceNm);
      await ctx.client.create<EndpointSlice>(resources.endpointslices, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: sliceNm, namespace: ns, labels, ownerReferences: [ownerRef(owner)] },
        ...body(c),
      });
    }
    for (const s of keep.slice(want.length))
      await ctx.client.delete(resources.endpointslices, s.metadata.name, ns);
  } catch (err) {
    // 409: created or changed meanwhile; 404: already gone. Look again shortly.
    if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) {
      ctx.queue.addAfter(`eps/${key}`, 200);
      return;
    }
    throw err;
  }
}
