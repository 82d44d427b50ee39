/**
 * Watches the Kubernetes objects the model reads (list+watch informers), feeds every change to
 * the incremental model and flushes it after each burst of changes, debounced (default 50 ms)
 * so that one `kubectl apply` becomes one push that reaches ztunnels well within a second; each
 * flush emits the model and its delta (only the resources the burst affected). Kinds the API
 * server does not serve yet (e.g. Gateway API CRDs) are retried in the background and count as
 * empty until then.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import type { KubeClient } from '../k8s/client.js';
import { Informer, objectKey } from '../k8s/informer.js';
import { resources, type Resource } from '../k8s/resources.js';
import type { KubeObject, Namespace, Pod } from '../k8s/types.js';
import type { Logger } from '../log.js';
import { IncrementalModel, type ModelDelta } from './model/incremental.js';
import type { Model, ModelOptions, Snapshot } from './model/index.js';

const KINDS = {
  namespaces: resources.namespaces,
  pods: resources.pods,
  services: resources.services,
  endpointSlices: resources.endpointslices,
  serviceAccounts: resources.serviceaccounts,
  policies: resources.authorizationpolicies,
  gateways: resources.gateways,
  deployments: resources.deployments,
  httpRoutes: resources.httproutes,
  grpcRoutes: resources.grpcroutes,
  tcpRoutes: resources.tcproutes,
  referenceGrants: resources.referencegrants,
  secrets: resources.secrets,
  peerAuthentications: resources.peerauthentications,
} as const satisfies Record<keyof Snapshot, Resource>;

/** Kinds without which the model would be wrong; the rest may be missing on a bare cluster. */
const REQUIRED = new Set<keyof Snapshot>(['namespaces', 'pods', 'services']);

export interface RegistryEvents {
  model: [model: Model, delta: ModelDelta];
  namespace: [ns: Namespace];
}

export class Registry extends EventEmitter<RegistryEvents> {
  readonly informers = new Map<keyof Snapshot, Informer<KubeObject>>();
  private readonly incremental: IncrementalModel;
  private built = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly kube: KubeClient,
    private readonly log: Logger,
    private readonly modelOptions: Partial<ModelOptions> = {},
    private readonly debounceMs = 50,
  ) {
    super();
    this.incremental = new IncrementalModel(modelOptions);
  }

  /** The current model (undefined until the first flush); materialized on first use. */
  get model(): Model | undefined {
    return this.built ? this.incremental.model : undefined;
  }

  /** Resolves once the required kinds are synced and the first model is built. */
  async start(): Promise<void> {
    const starts: Promise<void>[] = [];
    for (const [key, res] of Object.entries(KINDS) as [keyof Snapshot, Resource][]) {
      const inf = new Informer<KubeObject>(this.kube, res, {}, this.log.child(res.plural));
      const changed = (o: KubeObject, deleted = false) => {
        this.incremental.set(key, objectKey(o), deleted ? undefined : o);
        this.schedule();
      };
      inf.on('add', (o) => {
        changed(o);
        if (key === 'namespaces') this.emit('namespace', o as Namespace);
      });
      inf.on('update', (o) => changed(o));
      inf.on('delete', (o) => changed(o, true));
      this.informers.set(key, inf);
      const p = this.startInformer(key, inf);
      if (REQUIRED.has(key)) starts.push(p);
    }
    await Promise.all(starts);
    this.rebuild();
  }

  private async startInformer(key: keyof Snapshot, inf: Informer<KubeObject>): Promise<void> {
    let delay = 500;
    let said = '';
    for (;;) {
      try {
        await inf.start();
        if (said) this.log.info('listing again', { kind: key });
        return;
      } catch (err) {
        if (this.stopped) return;
        // A kind whose CRD is not installed (TCPRoute's is experimental) fails every retry
        // alike: said once, then only when the reason changes.
        const error = errorMessage(err);
        if (error !== said) this.log.warn('cannot list; retrying', { kind: key, error });
        said = error;
        await sleep(delay);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.rebuild();
    }, this.debounceMs);
  }

  /** The watched objects, as the model holds them. */
  snapshot(): Snapshot {
    return this.incremental.snapshot();
  }

  pod(namespace: string, name: string): Pod | undefined {
    return this.informers.get('pods')?.cache.get(`${namespace}/${name}`) as Pod | undefined;
  }

  rebuild(): void {
    try {
      const delta = this.incremental.flush();
      this.built = true;
      this.emit('model', this.incremental.model, delta);
    } catch (err) {
      // Bad input must never take the control plane down; keep the previous model.
      this.log.error('model rebuild failed; keeping the previous state', {
        error: errorMessage(err),
      });
    }
  }
}
