/** The two resource types ztunnel subscribes to, as declarations (see resource-type.ts). */
import {
  TYPE_ADDRESS,
  TYPE_AUTHORIZATION,
  addressResourceName,
  authorizationResourceName,
  type Address,
  type Authorization,
} from '../api/workload.js';
import { decodeAddress, decodeAuthorization, encodeAddress, encodeAuthorization } from './codec.js';
import type { XdsResourceType } from './resource-type.js';

export const ADDRESS_TYPE: XdsResourceType<Address> = {
  typeUrl: TYPE_ADDRESS,
  decode: decodeAddress,
  encode: encodeAddress,
  name: addressResourceName,
};

export const AUTHORIZATION_TYPE: XdsResourceType<Authorization> = {
  typeUrl: TYPE_AUTHORIZATION,
  decode: decodeAuthorization,
  encode: encodeAuthorization,
  name: authorizationResourceName,
};
