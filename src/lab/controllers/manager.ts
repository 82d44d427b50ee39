/**
 * The lab's kube-controller-manager + kube-scheduler: informers on the kinds the controllers
 * read, one work queue, and the event → key wiring. Keys: `deploy/ns/name`, `ds/ns/name`,
 * `sched/ns/pod`, `ep/ns/svc`, `sa/ns`.
 */
import type { KubeClient } from '../../k8s/client.js';
import { Informer } from '../../k8s/informer.js';
import { resources } from '../../k8s/resources.js';
import { SERVICE_NAME_LABEL, type KubeObject } from '../../k8s/types.js';
import type { Logger } from '../../log.js';
import { schedulePod } from './binder.js';
import type { Caches, Ctx } from './context.js';
import { syncDaemonSet } from './daemonset.js';
import { syncDeployment } from './deployment.js';
import { syncEndpoints } from './endpoints-sync.js';
import { syncEndpointSlices } from './endpointslices-sync.js';
import { Expectations } from './expectations.js';
import { WorkQueue } from './queue.js';
import { syncServiceAccounts } from './serviceaccounts.js';
import { controllerOf, type LabPod } from './types.js';

export interface ControllerManager {
  ctx: Ctx;
  /** Resolves when the queue is drained (for tests). */
  idle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

async function handle(ctx: Ctx, key: string): Promise<void> {
  const [kind, a = '', b = ''] = key.split('/');
  switch (kind) {
    case 'deploy':
      return syncDeployment(ctx, a, b);
    case 'ds':
      return syncDaemonSet(ctx, a, b);
    case 'sched':
      return schedulePod(ctx, a, b);
    case 'ep':
      return syncEndpoints(ctx, a, b);
    case 'eps':
      return syncEndpointSlices(ctx, a, b);
    case 'sa':
      return syncServiceAccounts(ctx, a);
  }
}

function wire(ctx: Ctx): void {
  const q = ctx.queue;
  const nsName = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  const onAll = <T extends KubeObject>(inf: Informer<T>, fn: (o: T) => void) => {
    inf
      .on('add', fn)
      .on('update', (o) => fn(o))
      .on('delete', fn);
  };
  onAll(ctx.deployments, (d) => q.add(`deploy/${nsName(d)}`));
  onAll(ctx.daemonsets, (d) => q.add(`ds/${nsName(d)}`));
  onAll(ctx.services, (s) => {
    q.add(`ep/${nsName(s)}`);
    q.add(`eps/${nsName(s)}`);
  });
  // Someone else changed or deleted an Endpoints object: put ours back (and mirror it).
  ctx.endpoints.on('update', (e) => q.add(`ep/${nsName(e)}`));
  ctx.endpoints.on('delete', (e) => q.add(`ep/${nsName(e)}`));
  onAll(ctx.endpoints, (e) => q.add(`eps/${nsName(e)}`));
  onAll(ctx.endpointslices, (s) => {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (svc) q.add(`eps/${s.metadata.namespace ?? ''}/${svc}`);
  });
  onAll(ctx.namespaces, (n) => q.add(`sa/${n.metadata.name}`));
  ctx.serviceaccounts.on('delete', (s) => q.add(`sa/${s.metadata.namespace ?? ''}`));
  onAll(ctx.pods, (p: LabPod) => {
    const owner = controllerOf(p);
    if (owner?.kind === 'Deployment') q.add(`deploy/${p.metadata.namespace ?? ''}/${owner.name}`);
    if (owner?.kind === 'DaemonSet') q.add(`ds/${p.metadata.namespace ?? ''}/${owner.name}`);
    if (!p.spec?.nodeName && !p.metadata.deletionTimestamp) q.add(`sched/${nsName(p)}`);
    for (const s of ctx.services.list())
      if (s.metadata.namespace === p.metadata.namespace && s.spec?.selector) {
        q.add(`ep/${nsName(s)}`);
        q.add(`eps/${nsName(s)}`);
      }
  });
  onAll(ctx.nodes, () => {
    for (const d of ctx.daemonsets.list()) q.add(`ds/${nsName(d)}`);
    for (const d of ctx.deployments.list()) q.add(`deploy/${nsName(d)}`);
    for (const p of ctx.pods.list()) if (!p.spec?.nodeName) q.add(`sched/${nsName(p)}`);
  });
}

export async function startControllerManager(opts: {
  client: KubeClient;
  log: Logger;
}): Promise<ControllerManager> {
  const { client, log } = opts;
  const caches: Caches = {
    pods: new Informer(client, resources.pods, {}, log.child('pods')),
    nodes: new Informer(client, resources.nodes, {}, log.child('nodes')),
    deployments: new Informer(client, resources.deployments, {}, log.child('deployments')),
    daemonsets: new Informer(client, resources.daemonsets, {}, log.child('daemonsets')),
    services: new Informer(client, resources.services, {}, log.child('services')),
    endpoints: new Informer(client, resources.endpoints, {}, log.child('endpoints')),
    endpointslices: new Informer(client, resources.endpointslices, {}, log.child('slices')),
    namespaces: new Informer(client, resources.namespaces, {}, log.child('namespaces')),
    serviceaccounts: new Informer(client, resources.serviceaccounts, {}, log.child('sa')),
  };
  const ctx: Ctx = {
    ...caches,
    client,
    log,
    exp: new Expectations(),
    queue: undefined as unknown as WorkQueue,
  };
  ctx.queue = new WorkQueue((key) => handle(ctx, key), log);
  // Wire before the first list so its `add` events queue every existing object.
  wire(ctx);
  const informers = Object.values(caches) as Informer<KubeObject>[];
  let stopping = false;
  await Promise.all(informers.map((inf) => inf.startWhenReachable(() => stopping)));
  // Start working only on a complete view: a partial one would create pods that exist.
  ctx.queue.start();
  log.info('controllers running', {
    deployments: caches.deployments.cache.size,
    daemonsets: caches.daemonsets.cache.size,
    pods: caches.pods.cache.size,
    nodes: caches.nodes.cache.size,
  });
  return {
    ctx,
    idle: (ms) => ctx.queue.idle(ms),
    stop: async () => {
      stopping = true;
      await ctx.queue.stop();
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}
