/** Encodes the model's resources into the store, keyed by their xDS resource names. */
import type { Address, Authorization } from '../../api/workload.js';
import type { ModelDelta } from '../model/incremental.js';
import type { WaypointConfig } from '../../api/waypoint-config.js';
import { TYPE_WAYPOINT_CONFIG } from '../../api/waypoint-resource.js';
import type { XdsResourceType } from '../../xds/resource-type.js';
import { encodeWaypointConfig } from '../../xds/waypoint-codec.js';
import { ADDRESS_TYPE, AUTHORIZATION_TYPE } from '../../xds/workload-types.js';
import type { ResourceStore } from './store.js';

/**
 * Replaces the whole set of one declared type (declaring it in the store if needed); true when
 * anything changed, and then every client subscribed to it gets the difference.
 */
export function publishType<T>(
  store: ResourceStore,
  type: XdsResourceType<T>,
  values: Iterable<T>,
): boolean {
  store.declare(type.typeUrl);
  const m = new Map<string, Uint8Array>();
  for (const v of values) m.set(type.name(v), type.encode(v));
  return store.set(type.typeUrl, m);
}

export function publish(
  store: ResourceStore,
  addresses: readonly Address[],
  authorizations: readonly Authorization[],
): { addresses: boolean; authorizations: boolean } {
  return {
    addresses: publishType(store, ADDRESS_TYPE, addresses),
    authorizations: publishType(store, AUTHORIZATION_TYPE, authorizations),
  };
}

/** One resource per waypoint, named `namespace/name`; true when anything changed. */
export function publishWaypointConfigs(
  store: ResourceStore,
  configs: ReadonlyMap<string, WaypointConfig>,
): boolean {
  const m = new Map<string, Uint8Array>();
  for (const [name, cfg] of configs) m.set(name, encodeWaypointConfig(cfg));
  return store.set(TYPE_WAYPOINT_CONFIG, m);
}

/** Applies one model delta; returns how many resources of each type really changed. */
export function publishDelta(
  store: ResourceStore,
  delta: ModelDelta,
): { addresses: number; authorizations: number } {
  const apply = <T>(
    type: XdsResourceType<T>,
    d: { upserted: readonly T[]; removed: readonly string[] },
  ) => {
    store.declare(type.typeUrl);
    const m = new Map<string, Uint8Array>();
    for (const v of d.upserted) m.set(type.name(v), type.encode(v));
    return store.update(type.typeUrl, m, d.removed).length;
  };
  return {
    addresses: apply(ADDRESS_TYPE, delta.addresses),
    authorizations: apply(AUTHORIZATION_TYPE, delta.authorizations),
  };
}
