/** Encodes the model's resources into the store, keyed by their xDS resource names. */
import {
  TYPE_ADDRESS,
  TYPE_AUTHORIZATION,
  addressResourceName,
  authorizationResourceName,
  type Address,
  type Authorization,
} from '../../api/workload.js';
import { encodeAddress, encodeAuthorization } from '../../xds/codec.js';
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
