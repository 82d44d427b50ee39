/**
 * The codec between ambit's workload API types (src/api/workload.ts) and their protobuf wire
 * form (proto/workload.proto, proto/authorization.proto). Decoding validates everything a
 * consumer relies on and throws AmbitError('XDS_DECODE_FAILED') naming the resource and field,
 * so that a client can NACK what it cannot use instead of applying half of it.
 */
import { isIP } from 'node:net';
import { AmbitError } from '../errors.js';
import { HBONE_PORT } from '../api/ports.js';
import type {
  Address,
  Authorization,
  Cidr,
  GatewayAddress,
  Match,
  NetworkAddress,
  PortMapping,
  Service,
  ServicePort,
  StringMatch,
  Workload,
  WorkloadType,
} from '../api/workload.js';
import { readAddress } from './address-reader.js';
import { protos, toPlain } from './proto.js';

type Obj = Record<string, unknown>;

// ---------- IP bytes ----------

export function ipToBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  if (isIP(ip) === 6) {
    const [head = '', tail] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups =
      tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    const buf = Buffer.alloc(16);
    groups.forEach((g, i) => buf.writeUInt16BE(parseInt(g, 16), i * 2));
    return buf;
  }
  throw new AmbitError('XDS_BAD_IP', `not an IP address: ${JSON.stringify(ip)}`, { value: ip });
}

/** A field's name for an error, built only when there is one (decoding is per address). */
type Field = string | (() => string);
const fieldName = (f: Field): string => (typeof f === 'string' ? f : f());

export function bytesToIp(b: Uint8Array, field: Field): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
    return groups.join(':');
  }
  throw decodeError(fieldName(field), `address has ${b.length} bytes; want 4 (IPv4) or 16 (IPv6)`);
}

function decodeError(field: string, message: string): AmbitError {
  return new AmbitError('XDS_DECODE_FAILED', `${field}: ${message}`, {
    value: field,
    hint: 'the control plane sent a resource this client cannot use; it is NACKed',
  });
}

// ---------- encode ----------

function gatewayToWire(g: GatewayAddress): Obj {
  const out: Obj = { hboneMtlsPort: g.hboneMtlsPort };
  if (g.address)
    out.address = { network: g.address.network, address: ipToBytes(g.address.address) };
  else if (g.hostname) out.hostname = { ...g.hostname };
  return out;
}

const workloadTypeWire: Record<WorkloadType, string> = {
  deployment: 'DEPLOYMENT',
  cronjob: 'CRONJOB',
  pod: 'POD',
  job: 'JOB',
};

function workloadToWire(w: Workload): Obj {
  const services: Record<string, Obj> = {};
  for (const [k, v] of Object.entries(w.services))
    services[k] = { ports: v.ports.map((p) => ({ ...p })) };
  const out: Obj = {
    uid: w.uid,
    name: w.name,
    namespace: w.namespace,
    addresses: w.addresses.map(ipToBytes),
    hostname: w.hostname,
    network: w.network,
    tunnelProtocol: w.tunnelProtocol,
    trustDomain: w.trustDomain,
    serviceAccount: w.serviceAccount,
    node: w.node,
    canonicalName: w.canonicalName,
    canonicalRevision: w.canonicalRevision,
    workloadType: workloadTypeWire[w.workloadType],
    workloadName: w.workloadName,
    nativeTunnel: w.nativeTunnel,
    services,
    authorizationPolicies: [...w.authorizationPolicies],
    status: w.status === 'Healthy' ? 'HEALTHY' : 'UNHEALTHY',
    clusterId: w.clusterId,
  };
  if (w.waypoint) out.waypoint = gatewayToWire(w.waypoint);
  if (w.networkGateway) out.networkGateway = gatewayToWire(w.networkGateway);
  return out;
}

function serviceToWire(s: Service): Obj {
  const out: Obj = {
    name: s.name,
    namespace: s.namespace,
    hostname: s.hostname,
    addresses: s.addresses.map((a) => ({ network: a.network, address: ipToBytes(a.address) })),
    ports: s.ports.map((p) => ({
      servicePort: p.servicePort,
      targetPort: p.targetPort,
      appProtocol: p.appProtocol ?? 'UNKNOWN',
    })),
    subjectAltNames: [...s.subjectAltNames],
  };
  if (s.waypoint) out.waypoint = gatewayToWire(s.waypoint);
  return out;
}

/** Protobuf bytes of an istio.workload.Address. */
export function encodeAddress(a: Address): Uint8Array {
  const { Address: T } = protos();
  const obj = a.workload
    ? { workload: workloadToWire(a.workload) }
    : { service: serviceToWire(a.service) };
  return T.encode(T.fromObject(obj)).finish();
}

function stringMatchToWire(m: StringMatch): Obj {
  if ('exact' in m) return { exact: m.exact };
  if ('prefix' in m) return { prefix: m.prefix };
  if ('suffix' in m) return { suffix: m.suffix };
  return { presence: {} };
}

const cidrToWire = (c: Cidr): Obj => ({ address: ipToBytes(c.address), length: c.length });

function matchToWire(m: Match): Obj {
  return {
    namespaces: m.namespaces.map(stringMatchToWire),
    notNamespaces: m.notNamespaces.map(stringMatchToWire),
    principals: m.principals.map(stringMatchToWire),
    notPrincipals: m.notPrincipals.map(stringMatchToWire),
    sourceIps: m.sourceIps.map(cidrToWire),
    notSourceIps: m.notSourceIps.map(cidrToWire),
    destinationIps: m.destinationIps.map(cidrToWire),
    notDestinationIps: m.notDestinationIps.map(cidrToWire),
    destinationPorts: [...m.destinationPorts],
    notDestinationPorts: [...m.notDestinationPorts],
  };
}

/** Protobuf bytes of an istio.security.Authorization. */
export function encodeAuthorization(p: Authorization): Uint8Array {
  const { Authorization: T } = protos();
  const obj = {
    name: p.name,
    namespace: p.namespace,
    scope: p.scope,
    action: p.action,
    rules: p.rules.map((r) => ({
      clauses: r.clauses.map((c) => ({ matches: c.matches.map(matchToWire) })),
    })),
    dryRun: p.dryRun,
  };
  return T.encode(T.fromObject(obj)).finish();
}

// ---------- decode ----------

function str(o: Obj, k: string): string {
  const v = o[k];
  return typeof v === 'string' ? v : '';
}

function arr(o: Obj, k: string): Obj[] {
  const v = o[k];
  return Array.isArray(v) ? (v as Obj[]) : [];
}

function obj(o: Obj, k: string): Obj | undefined {
  const v = o[k];
  return v && typeof v === 'object' && !Buffer.isBuffer(v) ? (v as Obj) : undefined;
}

function port(v: unknown, field: Field, allowZero: boolean): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n > 65535 || n < (allowZero ? 0 : 1))
    throw decodeError(fieldName(field), `port ${String(v)} is out of range`);
  return n;
}

function gatewayFromWire(g: Obj, field: string): GatewayAddress {
  const hbone = port(g.hboneMtlsPort, () => `${field}.hbone_mtls_port`, true);
  const hboneMtlsPort = hbone === 0 ? HBONE_PORT : hbone;
  const addr = obj(g, 'address');
  const host = obj(g, 'hostname');
  if (g.destination === 'address' && addr) {
    const address = bytesToIp(addr.address as Uint8Array, () => `${field}.address.address`);
    return { address: { network: str(addr, 'network'), address }, hboneMtlsPort };
  }
  if (g.destination === 'hostname' && host) {
    if (!str(host, 'hostname')) throw decodeError(`${field}.hostname`, 'empty hostname');
    return {
      hostname: { namespace: str(host, 'namespace'), hostname: str(host, 'hostname') },
      hboneMtlsPort,
    };
  }
  throw decodeError(field, 'gateway address has neither an address nor a hostname');
}

const workloadTypeFromWire: Record<string, WorkloadType> = {
  DEPLOYMENT: 'deployment',
  CRONJOB: 'cronjob',
  POD: 'pod',
  JOB: 'job',
};

function portMappings(list: Obj[], field: Field): PortMapping[] {
  return list.map((p, i) => ({
    servicePort: port(p.servicePort, () => `${fieldName(field)}[${i}].service_port`, false),
    targetPort: port(p.targetPort, () => `${fieldName(field)}[${i}].target_port`, true),
  }));
}

function workloadFromWire(w: Obj): Workload {
  const uid = str(w, 'uid');
  const f = `workload ${uid || '(no uid)'}`;
  if (!uid) throw decodeError(f, 'uid is empty');
  const tunnel = str(w, 'tunnelProtocol');
  if (tunnel !== 'NONE' && tunnel !== 'HBONE')
    throw decodeError(`${f} tunnel_protocol`, `unsupported tunnel protocol ${tunnel}`);
  const workloadType = workloadTypeFromWire[str(w, 'workloadType')];
  if (!workloadType) throw decodeError(`${f} workload_type`, `unknown ${str(w, 'workloadType')}`);
  const services: Workload['services'] = {};
  const svc = obj(w, 'services') ?? {};
  for (const [k, v] of Object.entries(svc)) {
    if (!/^[^/]+\/[^/]+$/.test(k))
      throw decodeError(`${f} services`, `key ${k} is not namespace/hostname`);
    services[k] = {
      ports: portMappings(arr(v as Obj, 'ports'), () => `${f} services[${k}].ports`),
    };
  }
  const addresses = (Array.isArray(w.addresses) ? (w.addresses as Uint8Array[]) : []).map((b, i) =>
    bytesToIp(b, () => `${f} addresses[${i}]`),
  );
  const wp = obj(w, 'waypoint');
  const gw = obj(w, 'networkGateway');
  const out: Workload = {
    uid,
    name: str(w, 'name'),
    namespace: str(w, 'namespace'),
    addresses,
    hostname: str(w, 'hostname'),
    network: str(w, 'network'),
    tunnelProtocol: tunnel,
    trustDomain: str(w, 'trustDomain') || 'cluster.local',
    serviceAccount: str(w, 'serviceAccount') || 'default',
    node: str(w, 'node'),
    canonicalName: str(w, 'canonicalName'),
    canonicalRevision: str(w, 'canonicalRevision'),
    workloadType,
    workloadName: str(w, 'workloadName'),
    nativeTunnel: w.nativeTunnel === true,
    services,
    authorizationPolicies: (w.authorizationPolicies as string[] | undefined) ?? [],
    status: str(w, 'status') === 'UNHEALTHY' ? 'Unhealthy' : 'Healthy',
    clusterId: str(w, 'clusterId'),
  };
  if (!out.name || !out.namespace) throw decodeError(f, 'name and namespace are required');
  if (wp) out.waypoint = gatewayFromWire(wp, `${f} waypoint`);
  if (gw) out.networkGateway = gatewayFromWire(gw, `${f} network_gateway`);
  return out;
}

const appProtocols = new Set(['UNKNOWN', 'HTTP11', 'HTTP2', 'GRPC', 'TCP', 'TLS']);

function serviceFromWire(s: Obj): Service {
  const ns = str(s, 'namespace');
  const hostname = str(s, 'hostname');
  const f = `service ${ns}/${hostname}`;
  if (!ns || !hostname) throw decodeError(f, 'namespace and hostname are required');
  const addresses: NetworkAddress[] = arr(s, 'addresses').map((a, i) => ({
    network: str(a, 'network'),
    address: bytesToIp(a.address as Uint8Array, () => `${f} addresses[${i}]`),
  }));
  const ports: ServicePort[] = arr(s, 'ports').map((p, i) => {
    const ap = str(p, 'appProtocol') || 'UNKNOWN';
    if (!appProtocols.has(ap)) throw decodeError(`${f} ports[${i}]`, `unknown app protocol ${ap}`);
    const out: ServicePort = {
      servicePort: port(p.servicePort, () => `${f} ports[${i}].service_port`, false),
      targetPort: port(p.targetPort, () => `${f} ports[${i}].target_port`, true),
    };
    if (ap !== 'UNKNOWN') out.appProtocol = ap as ServicePort['appProtocol'];
    return out;
  });
  const out: Service = {
    name: str(s, 'name'),
    namespace: ns,
    hostname,
    addresses,
    ports,
    subjectAltNames: (s.subjectAltNames as string[] | undefined) ?? [],
  };
  const wp = obj(s, 'waypoint');
  if (wp) out.waypoint = gatewayFromWire(wp, `${f} waypoint`);
  return out;
}

function wireDecode(kind: 'Authorization', bytes: Uint8Array, name: string): Obj {
  const T = protos()[kind];
  try {
    return toPlain(T, T.decode(bytes));
  } catch (err) {
    throw decodeError(`${kind} ${name}`, `malformed protobuf: ${(err as Error).message}`);
  }
}

/** Decodes and validates an istio.workload.Address. `name` is only used in errors. */
export function decodeAddress(bytes: Uint8Array, name = '?'): Address {
  let o: Obj;
  try {
    // The hand-written reader: protobufjs's decode + toObject cost ~30 µs per address.
    o = readAddress(bytes);
  } catch (err) {
    throw decodeError(`Address ${name}`, `malformed protobuf: ${(err as Error).message}`);
  }
  return addressFromPlain(o, name);
}

/**
 * Validates a decoded Address in `toPlain`'s shape (exported so the tests can hold the
 * hand-written reader to protobufjs's decode of the same bytes).
 */
export function addressFromPlain(o: Obj, name = '?'): Address {
  const w = obj(o, 'workload');
  const s = obj(o, 'service');
  if (o.type === 'workload' && w) return { workload: workloadFromWire(w) };
  if (o.type === 'service' && s) return { service: serviceFromWire(s) };
  throw decodeError(`Address ${name}`, 'neither a workload nor a service');
}

function stringMatchFromWire(m: Obj, field: string): StringMatch {
  switch (m.matchType) {
    case 'exact':
      return { exact: str(m, 'exact') };
    case 'prefix':
      return { prefix: str(m, 'prefix') };
    case 'suffix':
      return { suffix: str(m, 'suffix') };
    case 'presence':
      return { presence: true };
    default:
      throw decodeError(field, 'string match has no match type');
  }
}

function cidrFromWire(c: Obj, field: string): Cidr {
  const address = bytesToIp(c.address as Uint8Array, field);
  const max = address.includes(':') ? 128 : 32;
  const length = Number(c.length);
  if (!Number.isInteger(length) || length > max)
    throw decodeError(field, `prefix length ${String(c.length)} is out of range`);
  return { address, length };
}

function matchFromWire(m: Obj, f: string): Match {
  const sm = (k: string) => arr(m, k).map((x, i) => stringMatchFromWire(x, `${f}.${k}[${i}]`));
  const cm = (k: string) => arr(m, k).map((x, i) => cidrFromWire(x, `${f}.${k}[${i}]`));
  const pm = (k: string) =>
    (Array.isArray(m[k]) ? (m[k] as number[]) : []).map((p, i) =>
      port(p, `${f}.${k}[${i}]`, false),
    );
  if (arr(m, 'serviceAccounts').length || arr(m, 'notServiceAccounts').length)
    throw decodeError(f, 'service_accounts matches are not supported by this client');
  return {
    namespaces: sm('namespaces'),
    notNamespaces: sm('notNamespaces'),
    principals: sm('principals'),
    notPrincipals: sm('notPrincipals'),
    sourceIps: cm('sourceIps'),
    notSourceIps: cm('notSourceIps'),
    destinationIps: cm('destinationIps'),
    notDestinationIps: cm('notDestinationIps'),
    destinationPorts: pm('destinationPorts'),
    notDestinationPorts: pm('notDestinationPorts'),
  };
}

/** Decodes and validates an istio.security.Authorization. */
export function decodeAuthorization(bytes: Uint8Array, name = '?'): Authorization {
  const o = wireDecode('Authorization', bytes, name);
  const f = `Authorization ${str(o, 'namespace')}/${str(o, 'name')}`;
  if (!str(o, 'name')) throw decodeError(f, 'name is empty');
  const scope = str(o, 'scope');
  if (scope !== 'GLOBAL' && scope !== 'NAMESPACE' && scope !== 'WORKLOAD_SELECTOR')
    throw decodeError(`${f} scope`, `unknown scope ${scope}`);
  const action = str(o, 'action');
  if (action !== 'ALLOW' && action !== 'DENY')
    throw decodeError(`${f} action`, `unknown action ${action}`);
  return {
    name: str(o, 'name'),
    namespace: str(o, 'namespace'),
    scope,
    action,
    dryRun: o.dryRun === true,
    rules: arr(o, 'rules').map((r, ri) => ({
      clauses: arr(r, 'clauses').map((c, ci) => ({
        matches: arr(c, 'matches').map((m, mi) =>
          matchFromWire(m, `${f} rules[${ri}].clauses[${ci}].matches[${mi}]`),
        ),
      })),
    })),
  };
}
