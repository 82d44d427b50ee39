/**
 * gRPC service definitions (for @grpc/grpc-js) of delta ADS and the Istio certificate service,
 * with protobufjs (de)serializers, and the plain TypeScript shapes of their messages. Shared by
 * the control plane's servers and the clients.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { protos, toPlain } from './proto.js';

export const ADS_PATH =
  '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';
export const CA_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';

export interface WireNode {
  id: string;
  cluster: string;
  metadata: Record<string, string>;
}

export interface DeltaRequest {
  node?: WireNode;
  typeUrl: string;
  resourceNamesSubscribe: string[];
  resourceNamesUnsubscribe: string[];
  initialResourceVersions: Record<string, string>;
  responseNonce: string;
  errorDetail?: { code: number; message: string };
}

export interface WireResource {
  name: string;
  version: string;
  /** Protobuf bytes of the resource of the response's type. */
  value: Uint8Array;
}

export interface DeltaResponse {
  systemVersionInfo: string;
  typeUrl: string;
  resources: WireResource[];
  removedResources: string[];
  nonce: string;
}

export interface CertRequest {
  csr: string;
  validityDuration: number;
  metadata: Record<string, string>;
}

export interface CertResponse {
  certChain: string[];
}

// ---------- google.protobuf.Struct (string values only: all we send) ----------

export function structFrom(rec: Record<string, string>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) fields[k] = { stringValue: v };
  return { fields };
}

export function structTo(s: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const fields = (s as { fields?: Record<string, Record<string, unknown>> } | null)?.fields;
  if (!fields) return out;
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v.stringValue === 'string') out[k] = v.stringValue;
    else if (typeof v.numberValue === 'number') out[k] = String(v.numberValue);
    else if (typeof v.boolValue === 'boolean') out[k] = String(v.boolValue);
  }
  return out;
}

// ---------- message codecs ----------

function enc(type: protobuf.Type, obj: Record<string, unknown>): Buffer {
  return Buffer.from(type.encode(type.fromObject(obj)).finish());
}

export function encodeDeltaRequest(r: DeltaRequest): Buffer {
  const o: Record<string, unknown> = {
    typeUrl: r.typeUrl,
    resourceNamesSubscribe: r.resourceNamesSubscribe,
    resourceNamesUnsubscribe: r.resourceNamesUnsubscribe,
    initialResourceVersions: r.initialResourceVersions,
    responseNonce: r.responseNonce,
  };
  if (r.node)
    o.node = { id: r.node.id, cluster: r.node.cluster, metadata: structFrom(r.node.metadata) };
  if (r.errorDetail) o.errorDetail = r.errorDetail;
  return enc(protos().DeltaDiscoveryRequest, o);
}

export function decodeDeltaRequest(buf: Buffer): DeltaRequest {
  const T = protos().DeltaDiscoveryRequest;
  const o = toPlain(T, T.decode(buf));
  const node = o.node as { id: string; cluster: string; metadata: unknown } | null;
  const err = o.errorDetail as { code: number; message: string } | null;
  const r: DeltaRequest = {
    typeUrl: o.typeUrl as string,
    resourceNamesSubscribe: o.resourceNamesSubscribe as string[],
    resourceNamesUnsubscribe: o.resourceNamesUnsubscribe as string[],
    initialResourceVersions: o.initialResourceVersions as Record<string, string>,
    responseNonce: o.responseNonce as string,
  };
  if (node) r.node = { id: node.id, cluster: node.cluster, metadata: structTo(node.metadata) };
  if (err && (err.code !== 0 || err.message))
    r.errorDetail = { code: err.code, message: err.message };
  return r;
}

export function encodeDeltaResponse(r: DeltaResponse): Buffer {
  return enc(protos().DeltaDiscoveryResponse, {
    systemVersionInfo: r.systemVersionInfo,
    typeUrl: r.typeUrl,
    nonce: r.nonce,
    removedResources: r.removedResources,
    resources: r.resources.map((x) => ({
      name: x.name,
      version: x.version,
      resource: { type_url: r.typeUrl, value: x.value },
    })),
  });
}

export function decodeDeltaResponse(buf: Buffer): DeltaResponse {
  const T = protos().DeltaDiscoveryResponse;
  const o = toPlain(T, T.decode(buf));
  const resources = (o.resources as Record<string, unknown>[]).map((x) => {
    const any = x.resource as { type_url?: string; value?: Uint8Array } | null;
    return {
      name: x.name as string,
      version: x.version as string,
      value: any?.value ?? new Uint8Array(),
    };
  });
  return {
    systemVersionInfo: o.systemVersionInfo as string,
    typeUrl: o.typeUrl as string,
    nonce: o.nonce as string,
    removedResources: o.removedResources as string[],
    resources,
  };
}

export function encodeCertRequest(r: CertRequest): Buffer {
  return enc(protos().IstioCertificateRequest, {
    csr: r.csr,
    validityDuration: r.validityDuration,
    metadata: structFrom(r.metadata),
  });
}

export function decodeCertRequest(buf: Buffer): CertRequest {
  const T = protos().IstioCertificateRequest;
  const o = toPlain(T, T.decode(buf));
  return {
    csr: o.csr as string,
    validityDuration: Number(o.validityDuration),
    metadata: structTo(o.metadata),
  };
}

export function encodeCertResponse(r: CertResponse): Buffer {
  return enc(protos().IstioCertificateResponse, { certChain: r.certChain });
}

export function decodeCertResponse(buf: Buffer): CertResponse {
  const T = protos().IstioCertificateResponse;
  const o = toPlain(T, T.decode(buf));
  return { certChain: o.certChain as string[] };
}

// ---------- service definitions ----------

export const adsService: ServiceDefinition = {
  DeltaAggregatedResources: {
    path: ADS_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: encodeDeltaRequest,
    requestDeserialize: decodeDeltaRequest,
    responseSerialize: encodeDeltaResponse,
    responseDeserialize: decodeDeltaResponse,
    originalName: 'deltaAggregatedResources',
  },
};

export const caService: ServiceDefinition = {
  CreateCertificate: {
    path: CA_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: encodeCertRequest,
    requestDeserialize: decodeCertRequest,
    responseSerialize: encodeCertResponse,
    responseDeserialize: decodeCertResponse,
    originalName: 'createCertificate',
  },
};

/** `authorization: Bearer <token>` call metadata value from a token file (re-read per call). */
export const IMPERSONATED_IDENTITY = 'ImpersonatedIdentity';
