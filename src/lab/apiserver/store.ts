/**
 * The object store: every object by kind and `namespace/name`, one global resourceVersion
 * counter, and a bounded history of changes that watches replay from. Callers get copies;
 * only `commit` changes state, and it persists before it returns.
 */
import { EventEmitter } from 'node:events';
import type { EventType, Persistence, StoreEvent } from './persist.js';

export type Obj = Record<string, unknown> & {
  metadata: Record<string, unknown> & { name: string; namespace?: string };
};

export interface StoreOptions {
  /** How many changes a watch can resume across (older versions get 410 Gone). */
  historyLimit?: number;
  /** Fold the log into a snapshot after this many changes. */
  compactEvery?: number;
}

const objKey = (ns: string | undefined, name: string): string => (ns ? `${ns}/${name}` : name);

export class Store extends EventEmitter<{ event: [StoreEvent] }> {
  private rv = 0;
  private historyStart = 0;
  private history: StoreEvent[] = [];
  private readonly objects = new Map<string, Map<string, Obj>>();
  private readonly historyLimit: number;
  private readonly compactEvery: number;

  constructor(
    private readonly persistence: Persistence,
    opts: StoreOptions = {},
  ) {
    super();
    this.setMaxListeners(0);
    this.historyLimit = opts.historyLimit ?? 10_000;
    this.compactEvery = opts.compactEvery ?? 5_000;
    const loaded = persistence.load();
    this.rv = loaded.rv;
    this.historyStart = loaded.historyStart;
    this.history = loaded.history;
    for (const { key, object } of loaded.objects) this.put(key, object as Obj);
    for (const ev of loaded.log) this.apply(ev);
    this.trimHistory();
  }

  get resourceVersion(): number {
    return this.rv;
  }

  get oldestResumable(): number {
    return this.historyStart;
  }

  get(key: string, ns: string | undefined, name: string): Obj | undefined {
    const o = this.objects.get(key)?.get(objKey(ns, name));
    return o ? structuredClone(o) : undefined;
  }

  list(key: string, ns?: string): Obj[] {
    const m = this.objects.get(key);
    if (!m) return [];
    const out: Obj[] = [];
    for (const o of m.values())
      if (ns === undefined || o.metadata.namespace === ns) out.push(structuredClone(o));
    return out.sort((a, b) =>
      objKey(a.metadata.namespace, a.metadata.name).localeCompare(
        objKey(b.metadata.namespace, b.metadata.name),
      ),
    );
  }

  /** Does any object of any kind live in namespace `ns`? */
  namespaceEmpty(ns: string): boolean {
    for (const m of this.objects.values())
      for (const o of m.values()) if (o.metadata.namespace === ns) return false;
    return true;
  }

  /** Gives `obj` the next resourceVersion, stores (or removes) it, logs it, tells watchers. */
  commit(type: EventType, key: string, obj: Obj): Obj {
    const stored = structuredClone(obj);
    this.rv++;
    stored.metadata.resourceVersion = String(this.rv);
    const ev: StoreEvent = { rv: this.rv, type, key, object: stored };
    this.persistence.append(ev);
    this.apply(ev);
    this.trimHistory();
    if (this.persistence.loggedSinceSnapshot >= this.compactEvery) this.compact();
    this.emit('event', ev);
    return structuredClone(stored);
  }

  /** Every change after `rv`, or undefined when some of them are no longer retained. */
  eventsSince(rv: number): StoreEvent[] | undefined {
    if (rv < this.historyStart) return undefined;
    return this.history.filter((e) => e.rv > rv);
  }

  compact(): void {
    const objects: { key: string; object: Record<string, unknown> }[] = [];
    for (const [key, m] of this.objects)
      for (const o of m.values()) objects.push({ key, object: o });
    this.persistence.writeSnapshot({
      rv: this.rv,
      historyStart: this.historyStart,
      objects,
      history: this.history,
    });
  }

  close(): void {
    try {
      this.compact();
    } finally {
      this.persistence.close();
    }
  }

  private put(key: string, o: Obj): void {
    let m = this.objects.get(key);
    if (!m) this.objects.set(key, (m = new Map()));
    m.set(objKey(o.metadata.namespace, o.metadata.name), o);
  }

  private apply(ev: StoreEvent): void {
    const o = ev.object as Obj;
    if (ev.type === 'DELETED')
      this.objects.get(ev.key)?.delete(objKey(o.metadata.namespace, o.metadata.name));
    else this.put(ev.key, o);
    this.rv = Math.max(this.rv, ev.rv);
    this.history.push(ev);
  }

  private trimHistory(): void {
    const extra = this.history.length - this.historyLimit;
    if (extra > 0) {
      this.history.splice(0, extra);
      this.historyStart = this.history[0] ? this.history[0].rv - 1 : this.rv;
    }
  }
}
