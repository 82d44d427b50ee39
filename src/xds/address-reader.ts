/**
 * A hand-written protobuf reader for istio.workload.Address (proto/workload.proto), producing
 * the same plain object protobufjs's `decode` + `toObject` (proto.ts `toPlain`) gives for the
 * fields the codec reads: strings default to '', numbers to 0, booleans to false, unset
 * messages to null, enums as their names (an unknown number stays a number), oneofs named by
 * the last member present in declaration order, bytes as Buffers. Fields the codec does not
 * read are skipped by wire type.
 *
 * Why: a ztunnel receives the whole mesh (11,003 addresses at 10,000 pods) on connect, and
 * protobufjs's generic decode followed by `toObject` with defaults cost ~30 µs per address
 * (issue 15: ~0.3 s per subscriber at 10,000 workloads). test/unit/xds-address-reader.test.ts
 * checks this reader against protobufjs on random addresses.
 */
type Obj = Record<string, unknown>;

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** A varint as an unsigned 32-bit number (higher bits dropped, as protobufjs's uint32). */
  uint32(): number {
    let v = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RangeError('varint past the end');
      const b = this.buf[this.pos++]!;
      if (shift < 32) v |= (b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) return v >>> 0;
    }
    throw new RangeError('varint longer than 10 bytes');
  }

  /** The [start, end) of a length-delimited field's payload. */
  span(): [number, number] {
    const len = this.uint32();
    const start = this.pos;
    if (len > this.end - start) throw new RangeError('length past the end');
    this.pos = start + len;
    return [start, this.pos];
  }

  string(): string {
    const [s, e] = this.span();
    return this.buf.toString('utf8', s, e);
  }

  bytes(): Buffer {
    const [s, e] = this.span();
    return this.buf.subarray(s, e);
  }

  sub(): Reader {
    const [s, e] = this.span();
    return new Reader(this.buf, s, e);
  }

  skip(wireType: number): void {
    if (wireType === 0) this.uint32();
    else if (wireType === 1) this.advance(8);
    else if (wireType === 2) this.span();
    else if (wireType === 5) this.advance(4);
    else throw new RangeError(`unsupported wire type ${wireType}`);
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new RangeError('field past the end');
    this.pos += n;
  }

  /** Calls `f(field, wireType)` per field; `f` returns false for a field it did not read. */
  fields(f: (field: number, wireType: number) => boolean): void {
    while (this.pos < this.end) {
      const tag = this.uint32();
      const field = tag >>> 3;
      const wt = tag & 7;
      if (field === 0) throw new RangeError('field number 0');
      if (!f(field, wt)) this.skip(wt);
    }
  }
}

const TUNNEL = ['NONE', 'HBONE', 'LEGACY_ISTIO_MTLS'];
const WORKLOAD_TYPE = ['DEPLOYMENT', 'CRONJOB', 'POD', 'JOB'];
const STATUS = ['HEALTHY', 'UNHEALTHY'];
const APP_PROTOCOL = ['UNKNOWN', 'HTTP11', 'HTTP2', 'GRPC', 'TCP', 'TLS'];

const enumName = (names: string[], v: number): string | number => names[v] ?? v;

// Each reader takes the object an earlier occurrence of the same field produced: a message
// field seen twice on the wire is merged (protobuf's rule, which protobufjs follows).

function networkAddress(r: Reader, prev: unknown): Obj {
  const o = (prev as Obj | null) ?? { network: '', address: Buffer.alloc(0) };
  r.fields((f, wt) => {
    if (f === 1 && wt === 2) o.network = r.string();
    else if (f === 2 && wt === 2) o.address = r.bytes();
    else return false;
    return true;
  });
  return o;
}

function namespacedHostname(r: Reader, prev: unknown): Obj {
  const o = (prev as Obj | null) ?? { namespace: '', hostname: '' };
  r.fields((f, wt) => {
    if (f === 1 && wt === 2) o.namespace = r.string();
    else if (f === 2 && wt === 2) o.hostname = r.string();
    else return false;
    return true;
  });
  return o;
}

function gatewayAddress(r: Reader, prev: unknown): Obj {
  const o = (prev as Obj | null) ?? { hboneMtlsPort: 0 };
  let hostname = o.hostname as Obj | undefined;
  let address = o.address as Obj | undefined;
  r.fields((f, wt) => {
    if (f === 1 && wt === 2) hostname = namespacedHostname(r.sub(), hostname);
    else if (f === 2 && wt === 2) address = networkAddress(r.sub(), address);
    else if (f === 3 && wt === 0) o.hboneMtlsPort = r.uint32();
    else return false;
    return true;
  });
  if (hostname) {
    o.hostname = hostname;
    o.destination = 'hostname';
  }
  if (address) {
    o.address = address;
    o.destination = 'address';
  }
  return o;
}

function port(r: Reader): Obj {
  const o: Obj = { servicePort: 0, targetPort: 0, appProtocol: 'UNKNOWN' };
  r.fields((f, wt) => {
    if (f === 1 && wt === 0) o.servicePort = r.uint32();
    else if (f === 2 && wt === 0) o.targetPort = r.uint32();
    else if (f === 3 && wt === 0) o.appProtocol = enumName(APP_PROTOCOL, r.uint32());
    else return false;
    return true;
  });
  return o;
}

function portList(r: Reader, prev: unknown): Obj {
  const o = (prev as Obj | null) ?? { ports: [] };
  const ports = o.ports as Obj[];
  r.fields((f, wt) => {
    if (f !== 1 || wt !== 2) return false;
    ports.push(port(r.sub()));
    return true;
  });
  return o;
}

/** One `map<string, PortList>` entry: key 1, value 2 (an absent value is an empty list). */
function servicesEntry(r: Reader, into: Obj): void {
  let key = '';
  let value: Obj | null = null;
  r.fields((f, wt) => {
    if (f === 1 && wt === 2) key = r.string();
    else if (f === 2 && wt === 2) value = portList(r.sub(), value);
    else return false;
    return true;
  });
  // An own property even for "__proto__", so validation sees (and rejects) it.
  Object.defineProperty(into, key, {
    value: value ?? { ports: [] },
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function workload(r: Reader, prev: unknown): Obj {
  const o = (prev as Obj | null) ?? newWorkload();
  const services = o.services as Obj;
  const addresses = o.addresses as Buffer[];
  const authorizationPolicies = o.authorizationPolicies as string[];
  r.fields((f, wt) => {
    const s = WORKLOAD_STRINGS[f];
    if (s !== undefined && wt === 2) o[s] = r.string();
    else if (f === 3 && wt === 2) addresses.push(r.bytes());
    else if (f === 5 && wt === 0) o.tunnelProtocol = enumName(TUNNEL, r.uint32());
    else if (f === 8 && wt === 2) o.waypoint = gatewayAddress(r.sub(), o.waypoint);
    else if (f === 19 && wt === 2) o.networkGateway = gatewayAddress(r.sub(), o.networkGateway);
    else if (f === 12 && wt === 0) o.workloadType = enumName(WORKLOAD_TYPE, r.uint32());
    else if (f === 14 && wt === 0) o.nativeTunnel = r.uint32() !== 0;
    else if (f === 22 && wt === 2) servicesEntry(r.sub(), services);
    else if (f === 16 && wt === 2) authorizationPolicies.push(r.string());
    else if (f === 17 && wt === 0) o.status = enumName(STATUS, r.uint32());
    else return false;
    return true;
  });
  return o;
}

const WORKLOAD_STRINGS: Record<number, string> = {
  20: 'uid',
  1: 'name',
  2: 'namespace',
  21: 'hostname',
  4: 'network',
  6: 'trustDomain',
  7: 'serviceAccount',
  9: 'node',
  10: 'canonicalName',
  11: 'canonicalRevision',
  13: 'workloadName',
  18: 'clusterId',
};

function newWorkload(): Obj {
  return {
    uid: '',
    name: '',
    namespace: '',
    addresses: [],
    hostname: '',
    network: '',
    tunnelProtocol: 'NONE',
    trustDomain: '',
    serviceAccount: '',
    waypoint: null,
    networkGateway: null,
    node: '',
    canonicalName: '',
    canonicalRevision: '',
    workloadType: 'DEPLOYMENT',
    workloadName: '',
    nativeTunnel: false,
    services: {},
    authorizationPolicies: [],
    status: 'HEALTHY',
    clusterId: '',
  };
}

function service(r: Reader, prev: unknown): Obj {
  const o = (prev as Obj | null) ?? {
    name: '',
    namespace: '',
    hostname: '',
    addresses: [],
    ports: [],
    subjectAltNames: [],
    waypoint: null,
  };
  const addresses = o.addresses as Obj[];
  const ports = o.ports as Obj[];
  const subjectAltNames = o.subjectAltNames as string[];
  r.fields((f, wt) => {
    if (f === 1 && wt === 2) o.name = r.string();
    else if (f === 2 && wt === 2) o.namespace = r.string();
    else if (f === 3 && wt === 2) o.hostname = r.string();
    else if (f === 4 && wt === 2) addresses.push(networkAddress(r.sub(), null));
    else if (f === 5 && wt === 2) ports.push(port(r.sub()));
    else if (f === 6 && wt === 2) subjectAltNames.push(r.string());
    else if (f === 7 && wt === 2) o.waypoint = gatewayAddress(r.sub(), o.waypoint);
    else return false;
    return true;
  });
  return o;
}

/**
 * istio.workload.Address bytes → `{ type, workload, service }` as `toPlain` shapes them.
 * Throws RangeError on malformed bytes (the codec turns it into XDS_DECODE_FAILED).
 */
export function readAddress(bytes: Uint8Array): Obj {
  const buf = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new Reader(buf, 0, buf.length);
  const o: Obj = { workload: null, service: null };
  let w: Obj | undefined;
  let s: Obj | undefined;
  r.fields((f, wt) => {
    if (f === 1 && wt === 2) w = workload(r.sub(), w);
    else if (f === 2 && wt === 2) s = service(r.sub(), s);
    else return false;
    return true;
  });
  if (w) {
    o.workload = w;
    o.type = 'workload';
  }
  if (s) {
    o.service = s;
    o.type = 'service';
  }
  return o;
}
