/** What every controller of the manager shares: the client, the caches, the queue. */
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../../errors.js';
import type { KubeClient } from '../../k8s/client.js';
import type { Informer } from '../../k8s/informer.js';
import { resources } from '../../k8s/resources.js';
import type { EndpointSlice, Endpoints, KubeObject, Namespace, Service } from '../../k8s/types.js';
import type { Logger } from '../../log.js';
import type { Expectations } from './expectations.js';
import type { WorkQueue } from './queue.js';
import type { DaemonSet, Deployment, LabNode, LabPod } from './types.js';

export interface Caches {
  pods: Informer<LabPod>;
  nodes: Informer<LabNode>;
  deployments: Informer<Deployment>;
  daemonsets: Informer<DaemonSet>;
  services: Informer<Service>;
  endpoints: Informer<Endpoints>;
  endpointslices: Informer<EndpointSlice>;
  namespaces: Informer<Namespace>;
  serviceaccounts: Informer<KubeObject>;
}

export interface Ctx extends Caches {
  client: KubeClient;
  log: Logger;
  queue: WorkQueue;
  exp: Expectations;
}

/** Records a Kubernetes Event on `obj`; failures are only logged (events are best effort). */
export async function recordEvent(
  ctx: Ctx,
  obj: KubeObject,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
  component: string,
): Promise<void> {
  const now = new Date().toISOString();
  const ns = obj.metadata.namespace ?? 'default';
  try {
    await ctx.client.create(resources.events, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${obj.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace: ns,
        uid: obj.metadata.uid,
      },
      reason,
      message,
      type,
      source: { component },
      reportingComponent: component,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    } as KubeObject);
  } catch (err) {
    ctx.log.debug('cannot record event', { reason, error: errorMessage(err) });
  }
}

export function podsOwnedBy(ctx: Ctx, owner: KubeObject): LabPod[] {
  const uid = owner.metadata.uid;
  return ctx.pods
    .list()
    .filter(
      (p) =>
        p.metadata.namespace === owner.metadata.namespace &&
        p.metadata.ownerReferences?.some((r) => r.controller && r.uid === uid),
    );
}

export function ownerRef(
  owner: KubeObject,
): NonNullable<KubeObject['metadata']['ownerReferences']>[number] {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  } as NonNullable<KubeObject['metadata']['ownerReferences']>[number];
}
