/**
 * WaypointConfig ↔ the bytes of an `ambit.waypoint.WaypointConfigJson` resource (proto/
 * waypoint.proto): JSON inside a protobuf bytes field, with a schema name. Decoding checks the
 * schema and the config's shape and throws XDS_DECODE_FAILED naming what is wrong, so the
 * client NACKs it and keeps its previous config.
 */
import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { WaypointConfig } from '../api/waypoint-config.js';
import {
  TYPE_WAYPOINT_CONFIG,
  WAYPOINT_CONFIG_SCHEMA,
  waypointResourceName,
} from '../api/waypoint-resource.js';
import { AmbitError } from '../errors.js';
import { repoRoot } from '../repo.js';
import type { XdsResourceType } from './resource-type.js';

let type: protobuf.Type | undefined;

function messageType(): protobuf.Type {
  if (type) return type;
  const root = new protobuf.Root();
  root.loadSync(join(repoRoot(), 'proto', 'waypoint.proto'), { keepCase: false });
  type = root.lookupType('ambit.waypoint.WaypointConfigJson');
  return type;
}

function bad(message: string, value?: unknown): AmbitError {
  return new AmbitError('XDS_DECODE_FAILED', `waypoint config: ${message}`, { value });
}

export function encodeWaypointConfig(cfg: WaypointConfig): Uint8Array {
  const t = messageType();
  return t
    .encode(
      t.create({ schema: WAYPOINT_CONFIG_SCHEMA, json: Buffer.from(JSON.stringify(cfg), 'utf8') }),
    )
    .finish();
}

const LISTS = [
  'services',
  'workloads',
  'httpRoutes',
  'grpcRoutes',
  'authorizationPolicies',
] as const;

export function decodeWaypointConfig(bytes: Uint8Array): WaypointConfig {
  const t = messageType();
  let msg: { schema?: string; json?: Uint8Array };
  try {
    msg = t.toObject(t.decode(bytes), { bytes: Buffer }) as typeof msg;
  } catch (err) {
    throw bad(`not a WaypointConfigJson message: ${(err as Error).message}`);
  }
  if (msg.schema !== WAYPOINT_CONFIG_SCHEMA)
    throw bad(
      `schema ${JSON.stringify(msg.schema ?? '')} is not ${WAYPOINT_CONFIG_SCHEMA}`,
      msg.schema,
    );
  let cfg: unknown;
  try {
    cfg = JSON.parse(Buffer.from(msg.json ?? new Uint8Array()).toString('utf8'));
  } catch (err) {
    throw bad(`json does not parse: ${(err as Error).message}`);
  }
  if (typeof cfg !== 'object' || cfg === null) throw bad('json is not an object');
  const c = cfg as Record<string, unknown>;
  if (typeof c.version !== 'string') throw bad('version is not a string', c.version);
  const w = c.waypoint as Record<string, unknown> | undefined;
  if (typeof w?.name !== 'string' || typeof w.namespace !== 'string')
    throw bad('waypoint.name / waypoint.namespace missing', w);
  for (const k of LISTS) if (!Array.isArray(c[k])) throw bad(`${k} is not a list`, c[k]);
  if (c.tcpRoutes !== undefined && !Array.isArray(c.tcpRoutes))
    throw bad('tcpRoutes is not a list', c.tcpRoutes);
  return cfg as WaypointConfig;
}

/**
 * The waypoint's resource type for the generic subscriber (resource-type.ts): one resource per
 * waypoint, named `<namespace>/<gateway>`.
 */
export const WAYPOINT_CONFIG_TYPE: XdsResourceType<WaypointConfig> = {
  typeUrl: TYPE_WAYPOINT_CONFIG,
  decode: (value, name) => {
    const cfg = decodeWaypointConfig(value);
    const own = waypointResourceName(cfg.waypoint.namespace, cfg.waypoint.name);
    if (own !== name)
      throw new AmbitError('XDS_DECODE_FAILED', `waypoint config: resource ${name} holds ${own}`, {
        value: name,
      });
    return cfg;
  },
  encode: encodeWaypointConfig,
  name: (cfg) => waypointResourceName(cfg.waypoint.namespace, cfg.waypoint.name),
};
