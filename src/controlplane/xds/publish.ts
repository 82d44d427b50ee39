/** Encodes the model's resources into the store, keyed by their xDS resource names. */
import {
  TYPE_ADDRESS,
  TYPE_AUTHORIZATION,
  addressResourceName,
  authorizationResourceName,
  type Address,
  type Authorization,
} from '../../api/workload.js';
import type { WaypointConfig } from '../../api/waypoint-config.js';
import { TYPE_WAYPOINT_CONFIG } from '../../api/waypoint-resource.js';
import { encodeAddress, encodeAuthorization } from '../../xds/codec.js';
import { encodeWaypointConfig } from '../../xds/waypoint-codec.js';
import type { ResourceStore } from './store.js';

export function publish(
  store: ResourceStore,
  addresses: readonly Address[],
  authorizations: readonly Authorization[],
): { addresses: boolean; authorizations: boolean } {
  const a = new Map<string, Uint8Array>();
  for (const x of addresses) a.set(addressResourceName(x), encodeAddress(x));
  const p = new Map<string, Uint8Array>();
  for (const x of authorizations) p.set(authorizationResourceName(x), encodeAuthorization(x));
  return {
    addresses: store.set(TYPE_ADDRESS, a),
    authorizations: store.set(TYPE_AUTHORIZATION, p),
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
