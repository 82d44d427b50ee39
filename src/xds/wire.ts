/**
 * gRPC service definitions (for @grpc/grpc-js) of delta ADS and the Istio certificate service,
 * with protobufjs (de)serializers, and the plain TypeScript shapes of their messages. Shared by
 * the control plane's servers and the clients.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { AmbitError } from '../errors.js';
import { protos, toPlain } from './proto.js';
import { field, LEN, readerOf, readFields, type FieldTable } from './protobuf-reader.js';

/**
 * Runs one message decode; bytes that are not that message (they come from an unauthenticated
 * peer on 15012) fail as XDS_DECODE_FAILED rather than as protobufjs's own errors.
 */
function decoding<T>(what: string, buf: Buffer, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new AmbitError(
      'XDS_DECODE_FAILED',
      `${what}: malformed protobuf: ${(err as Error).message}`,
      {
        value: buf.subarray(0, 32).toString('hex'),
        hint: 'the peer sent bytes that are not this message',
      },
    );
  }
}

function decodeMessage(type: protobuf.Type, buf: Buffer): Record<string, unknown> {
  return decoding(type.name, buf, () => toPlain(type, type.decode(buf)));
}

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
  /**
   * This resource's whole `resources` field of a response of its type, as `resourceEntry`
   * encodes it: a response copies it instead of encoding it again (the control plane keeps it
   * with the resource, so a full push to N ztunnels encodes each resource once, not N times).
   */
  entry?: Uint8Array;
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
  const o = decodeMessage(T, buf);
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

/*
 * DeltaDiscoveryResponse by hand (proto/discovery.proto field numbers): a full push of 10,000
 * workloads is one message of ~11,000 resources, and protobufjs' fromObject/toObject on it cost
 * more than the rest of the push. The resource values are already-encoded bytes and are copied
 * as they are; unknown fields are skipped on decode.
 */
const RESPONSE = { systemVersionInfo: 1, resources: 2, typeUrl: 4, nonce: 5, removed: 6 };
const RESOURCE = { version: 1, resource: 2, name: 3 };
const ANY = { typeUrl: 1, value: 2 };
const tag = (field: number) => (field << 3) | LEN;

/** The resource as one `resources` field of a DeltaDiscoveryResponse of `typeUrl`. */
export function resourceEntry(typeUrl: string, x: Omit<WireResource, 'entry'>): Buffer {
  const w = protobuf.Writer.create();
  w.uint32(tag(RESPONSE.resources)).fork();
  if (x.version) w.uint32(tag(RESOURCE.version)).string(x.version);
  w.uint32(tag(RESOURCE.resource)).fork();
  w.uint32(tag(ANY.typeUrl)).string(typeUrl);
  if (x.value.length) w.uint32(tag(ANY.value)).bytes(x.value);
  w.ldelim();
  if (x.name) w.uint32(tag(RESOURCE.name)).string(x.name);
  w.ldelim();
  return asBuffer(w.finish());
}

const asBuffer = (u: Uint8Array): Buffer =>
  Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.length);

/** A length-delimited string field (tag, length, UTF-8 bytes). */
function stringField(field: number, s: string): Buffer {
  const w = protobuf.Writer.create();
  w.uint32(tag(field)).string(s);
  return asBuffer(w.finish());
}

/**
 * The response as the concatenation of its fields, in field order 1, 2…, 4, 5, 6 (what
 * protobufjs wrote before): a resource with an `entry` is copied as it is.
 */
export function encodeDeltaResponse(r: DeltaResponse): Buffer {
  const parts: Buffer[] = [];
  if (r.systemVersionInfo) parts.push(stringField(RESPONSE.systemVersionInfo, r.systemVersionInfo));
  for (const x of r.resources)
    parts.push(x.entry ? asBuffer(x.entry) : resourceEntry(r.typeUrl, x));
  if (r.typeUrl) parts.push(stringField(RESPONSE.typeUrl, r.typeUrl));
  if (r.nonce) parts.push(stringField(RESPONSE.nonce, r.nonce));
  for (const n of r.removedResources) parts.push(stringField(RESPONSE.removed, n));
  return Buffer.concat(parts);
}

export function decodeDeltaResponse(buf: Buffer): DeltaResponse {
  return decoding('DeltaDiscoveryResponse', buf, () => readDeltaResponse(buf));
}

type Obj = Record<string, unknown>;

/** google.protobuf.Any: only its value, read into the resource. */
const ANY_VALUE: FieldTable<Obj> = { [ANY.value]: field.bytes('value') };
const RESOURCE_FIELDS: FieldTable<Obj> = {
  [RESOURCE.name]: field.string('name'),
  [RESOURCE.version]: field.string('version'),
  [RESOURCE.resource]: [LEN, (r, o) => void readFields(r.sub(), ANY_VALUE, o)],
};
const RESPONSE_FIELDS: FieldTable<Obj> = {
  [RESPONSE.systemVersionInfo]: field.string('systemVersionInfo'),
  [RESPONSE.typeUrl]: field.string('typeUrl'),
  [RESPONSE.nonce]: field.string('nonce'),
  [RESPONSE.removed]: field.repeatedString('removedResources'),
  [RESPONSE.resources]: field.repeatedMessage('resources', (r) =>
    readFields(r, RESOURCE_FIELDS, { name: '', version: '', value: new Uint8Array() }),
  ),
};

function readDeltaResponse(buf: Buffer): DeltaResponse {
  const out = {
    systemVersionInfo: '',
    typeUrl: '',
    nonce: '',
    removedResources: [],
    resources: [],
  };
  return readFields(readerOf(buf), RESPONSE_FIELDS, out) as unknown as DeltaResponse;
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
  const o = decodeMessage(T, buf);
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
  const o = decodeMessage(T, buf);
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
