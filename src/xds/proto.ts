/**
 * Loads ambit's protos (proto/) once with protobufjs and exposes the message types the codec
 * and the gRPC services use. The proto directory is found from the repository root (the
 * directory holding package.json), so this works from sources (tsx) and from dist/.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { AmbitError } from '../errors.js';

export function repoRoot(from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new AmbitError('XDS_PROTO_MISSING', 'cannot find the repository root holding proto/', {
    value: from,
    hint: 'run ambit from its repository checkout',
  });
}

export interface Protos {
  root: protobuf.Root;
  Address: protobuf.Type;
  Authorization: protobuf.Type;
  DeltaDiscoveryRequest: protobuf.Type;
  DeltaDiscoveryResponse: protobuf.Type;
  IstioCertificateRequest: protobuf.Type;
  IstioCertificateResponse: protobuf.Type;
}

let cached: Protos | undefined;

export function protos(): Protos {
  if (cached) return cached;
  const dir = join(repoRoot(), 'proto');
  const root = new protobuf.Root();
  root.loadSync(
    ['workload.proto', 'authorization.proto', 'discovery.proto', 'ca.proto'].map((f) =>
      join(dir, f),
    ),
    { keepCase: false },
  );
  root.resolveAll();
  cached = {
    root,
    Address: root.lookupType('istio.workload.Address'),
    Authorization: root.lookupType('istio.security.Authorization'),
    DeltaDiscoveryRequest: root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest'),
    DeltaDiscoveryResponse: root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse'),
    IstioCertificateRequest: root.lookupType('istio.v1.auth.IstioCertificateRequest'),
    IstioCertificateResponse: root.lookupType('istio.v1.auth.IstioCertificateResponse'),
  };
  return cached;
}

/** Plain-object view of a decoded message: enums as names, bytes as Buffers, oneof names set. */
export function toPlain(type: protobuf.Type, msg: protobuf.Message): Record<string, unknown> {
  return type.toObject(msg, {
    enums: String,
    longs: Number,
    bytes: Buffer,
    defaults: true,
    oneofs: true,
    arrays: true,
    objects: true,
  });
}
