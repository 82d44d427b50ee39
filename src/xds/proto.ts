/**
 * Loads ambit's protos (proto/) once with protobufjs and exposes the message types the codec
 * and the gRPC services use. The proto directory is found from the repository root (the
 * directory holding package.json), so this works from sources (tsx) and from dist/.
 */
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { repoRoot } from '../repo.js';

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
