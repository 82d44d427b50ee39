/**
 * List-then-watch cache of one resource, the way client-go's informers work: a full list,
 * then a watch from the list's resourceVersion; on a dropped stream it re-watches from the last
 * version seen, and on 410 Gone (history compacted) it lists again and reports the difference.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { KubeApiError, type KubeClient, type ListOptions } from './client.js';
import type { Resource } from './resources.js';
import type { KubeObject } from './types.js';

export interface InformerEvents<T> {
  add: [obj: T];
  update: [obj: T, old: T];
  delete: [obj: T];
  /** The cache holds a full, consistent view (after the first list and after every relist). */
  synced: [];
}

export function objectKey(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

export class Informer<T extends KubeObject> extends EventEmitter<InformerEvents<T>> {
  readonly cache = new Map<string, T>();
  private resourceVersion = '';
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private hasSynced = false;

  constructor(
    private readonly client: KubeClient,
    private readonly resource: Resource,
    private readonly opts: ListOptions = {},
    private readonly log?: Logger,
  ) {
    super();
  }

  get synced(): boolean {
    return this.hasSynced;
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /** Starts the loop; resolves after the first full list. */
  async start(): Promise<void> {
    await this.relist();
    this.running = this.loop();
  }

  /**
   * Starts, retrying the first list with backoff while the API server is not reachable yet
   * (daemons start beside it, not after it); gives up quietly once `stopping()` is true.
   */
  async startWhenReachable(stopping: () => boolean = () => false): Promise<void> {
    for (let backoff = 200; !stopping(); backoff = Math.min(backoff * 2, 5000)) {
      try {
        await this.start();
        return;
      } catch (err) {
        this.log?.warn('cannot list from the API server yet, retrying', {
          resource: this.resource.plural,
          error: errorMessage(err),
        });
        await sleep(backoff);
      }
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  /** Resolves once the cache has synced. */
  waitSynced(): Promise<void> {
    return this.hasSynced ? Promise.resolve() : new Promise((r) => this.once('synced', () => r()));
  }

  private async relist(): Promise<void> {
    const list = await this.client.list<T>(this.resource, this.opts);
    const seen = new Set<string>();
    for (const item of list.items) {
      // Lists omit kind/apiVersion on items; fill them so consumers can rely on them.
      item.kind ??= this.resource.kind;
      item.apiVersion ??= this.resource.group
        ? `${this.resource.group}/${this.resource.version}`
        : this.resource.version;
      const k = objectKey(item);
      seen.add(k);
      this.apply('ADDED', item);
    }
    for (const [k, old] of [...this.cache]) {
      if (!seen.has(k)) {
        this.cache.delete(k);
        this.emit('delete', old);
      }
    }
    this.resourceVersion = list.metadata.resourceVersion ?? '';
    this.hasSynced = true;
    this.emit('synced');
  }

  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T): void {
    const k = objectKey(obj);
    const old = this.cache.get(k);
    if (type === 'DELETED') {
      if (old) {
        this.cache.delete(k);
        this.emit('delete', obj);
      }
      return;
    }
    this.cache.set(k, obj);
    if (!old) this.emit('add', obj);
    else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion)
      this.emit('update', obj, old);
  }

  private async loop(): Promise<void> {
    let backoff = 100;
    while (!this.abort.signal.aborted) {
      try {
        await this.client.watch<T>(
          this.resource,
          { ...this.opts, resourceVersion: this.resourceVersion, timeoutSeconds: 300 },
          (ev) => {
            if (ev.type === 'BOOKMARK') {
              this.resourceVersion = ev.object.metadata.resourceVersion ?? this.resourceVersion;
              return;
            }
            if (ev.type === 'ERROR') {
              const status = ev.object as unknown as { code?: number };
              throw new KubeApiError(
                'WATCH',
                this.resource.plural,
                status.code ?? 500,
                'watch error event',
              );
            }
            this.resourceVersion = ev.object.metadata.resourceVersion ?? this.resourceVersion;
            this.apply(ev.type, ev.object);
          },
          this.abort.signal,
        );
        backoff = 100;
      } catch (err) {
        if (this.abort.signal.aborted) return;
        if (err instanceof KubeApiError && err.status === 410) {
          this.log?.info('watch expired, relisting', { resource: this.resource.plural });
        } else {
          this.log?.warn('watch failed, retrying', {
            resource: this.resource.plural,
            error: (err as Error).message,
            backoffMs: backoff,
          });
          await sleep(backoff).catch(() => undefined);
          backoff = Math.min(backoff * 2, 5000);
        }
        try {
          await this.relist();
        } catch (e) {
          this.log?.warn('relist failed', {
            resource: this.resource.plural,
            error: (e as Error).message,
          });
        }
      }
    }
  }
}
