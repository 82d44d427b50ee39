/**
 * The versioned resources the xDS server pushes, per type URL, already encoded. A resource's
 * version is a hash of its bytes, so it is stable across control-plane restarts and a
 * reconnecting client's `initial_resource_versions` can be compared directly: only resources
 * whose bytes differ are resent.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { AmbitError } from '../../errors.js';
import { resourceEntry } from '../../xds/wire.js';

export interface StoredResource {
  name: string;
  version: string;
  value: Uint8Array;
  /** The resource as a response's `resources` field, encoded once here for every subscriber. */
  entry: Uint8Array;
}

export function resourceVersion(value: Uint8Array): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 16);
}

export interface StoreEvents {
  /** `names`: the resources that changed or went away; undefined = any may have (a full set). */
  changed: [typeUrl: string, version: string, names: readonly string[] | undefined];
}

export class ResourceStore extends EventEmitter<StoreEvents> {
  private readonly types = new Map<string, Map<string, StoredResource>>();
  private readonly versions = new Map<string, string>();
  private counter = 0;
  private readonly epoch = Date.now().toString(36);

  constructor(typeUrls: readonly string[]) {
    super();
    for (const t of typeUrls) this.declare(t);
  }

  /** The types this store serves (requests for others are ignored by the ADS server). */
  get typeUrls(): readonly string[] {
    return [...this.types.keys()];
  }

  /** Adds a type (empty until `set`); a no-op for one already declared. */
  declare(typeUrl: string): void {
    if (this.types.has(typeUrl)) return;
    this.types.set(typeUrl, new Map());
    this.versions.set(typeUrl, this.nextVersion());
  }

  private nextVersion(): string {
    this.counter += 1;
    return `${this.epoch}-${this.counter}`;
  }

  /** Replaces the whole set of a type; returns true (and emits `changed`) when anything differs. */
  set(typeUrl: string, values: ReadonlyMap<string, Uint8Array>): boolean {
    const cur = this.types.get(typeUrl);
    if (!cur)
      throw new AmbitError('XDS_UNKNOWN_TYPE', `the store serves no type ${typeUrl}`, {
        value: typeUrl,
        hint: 'declare the type first (ResourceStore.declare or the constructor)',
      });
    const next = new Map<string, StoredResource>();
    let changed = values.size !== cur.size;
    for (const [name, value] of values) {
      const version = resourceVersion(value);
      const had = cur.get(name);
      if (had?.version !== version) changed = true;
      next.set(
        name,
        had?.version === version
          ? had
          : { name, version, value, entry: resourceEntry(typeUrl, { name, version, value }) },
      );
    }
    if (!changed) return false;
    this.types.set(typeUrl, next);
    const v = this.nextVersion();
    this.versions.set(typeUrl, v);
    this.emit('changed', typeUrl, v, undefined);
    return true;
  }

  /**
   * Changes some resources of a type in place: `upserts` replace or add, `removed` go away.
   * Returns the names that really changed (same bytes = no change); when any did, bumps the
   * type's version and emits `changed` with them, so subscribers get exactly those.
   */
  update(
    typeUrl: string,
    upserts: ReadonlyMap<string, Uint8Array>,
    removed: Iterable<string> = [],
  ): string[] {
    const cur = this.types.get(typeUrl);
    if (!cur)
      throw new AmbitError('XDS_UNKNOWN_TYPE', `the store serves no type ${typeUrl}`, {
        value: typeUrl,
        hint: 'declare the type first (ResourceStore.declare or the constructor)',
      });
    const names: string[] = [];
    for (const name of removed) {
      if (upserts.has(name) || !cur.delete(name)) continue;
      names.push(name);
    }
    for (const [name, value] of upserts) {
      const version = resourceVersion(value);
      if (cur.get(name)?.version === version) continue;
      cur.set(name, {
        name,
        version,
        value,
        entry: resourceEntry(typeUrl, { name, version, value }),
      });
      names.push(name);
    }
    if (!names.length) return names;
    const v = this.nextVersion();
    this.versions.set(typeUrl, v);
    this.emit('changed', typeUrl, v, names);
    return names;
  }

  get(typeUrl: string): ReadonlyMap<string, StoredResource> {
    return this.types.get(typeUrl) ?? new Map();
  }

  version(typeUrl: string): string {
    return this.versions.get(typeUrl) ?? '';
  }
}
