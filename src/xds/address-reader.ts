/**
 * A hand-written protobuf reader for istio.workload.Address (proto/workload.proto), producing
 * the same plain object protobufjs's `decode` + `toObject` (proto.ts `toPlain`) gives for the
 * fields the codec reads: strings default to '', numbers to 0, booleans to false, unset
 * messages to null, enums as their names (an unknown number stays a number), oneofs named by
 * the last member present in declaration order, bytes as Buffers. Fields the codec does not
 * read are skipped by wire type. The wire reading is `protobuf-reader.ts`'s; this file is the
 * schema.
 *
 * Why: a ztunnel receives the whole mesh (11,003 addresses at 10,000 pods) on connect, and
 * protobufjs's generic decode followed by `toObject` with defaults cost ~30 µs per address
 * (issue 15: ~0.3 s per subscriber at 10,000 workloads). test/unit/xds-address-reader.test.ts
 * checks this reader against protobufjs on random addresses.
 */
import {
  field,
  LEN,
  oneof,
  readerOf,
  readFields,
  type FieldTable,
  type Reader,
} from './protobuf-reader.js';

type Obj = Record<string, unknown>;

const TUNNEL = ['NONE', 'HBONE', 'LEGACY_ISTIO_MTLS'];
const WORKLOAD_TYPE = ['DEPLOYMENT', 'CRONJOB', 'POD', 'JOB'];
const STATUS = ['HEALTHY', 'UNHEALTHY'];
const APP_PROTOCOL = ['UNKNOWN', 'HTTP11', 'HTTP2', 'GRPC', 'TCP', 'TLS'];

// Each message reader takes the object an earlier occurrence of the same field produced: a
// message field seen twice on the wire is merged (protobuf's rule, which protobufjs follows).

const NETWORK_ADDRESS: FieldTable<Obj> = { 1: field.string('network'), 2: field.bytes('address') };
const networkAddress = (r: Reader, prev: unknown): Obj =>
  readFields(r, NETWORK_ADDRESS, (prev as Obj | null) ?? { network: '', address: Buffer.alloc(0) });

const NAMESPACED_HOSTNAME: FieldTable<Obj> = {
  1: field.string('namespace'),
  2: field.string('hostname'),
};
const namespacedHostname = (r: Reader, prev: unknown): Obj =>
  readFields(r, NAMESPACED_HOSTNAME, (prev as Obj | null) ?? { namespace: '', hostname: '' });

const GATEWAY_ADDRESS: FieldTable<Obj> = {
  1: field.message('hostname', namespacedHostname),
  2: field.message('address', networkAddress),
  3: field.uint32('hboneMtlsPort'),
};
const gatewayAddress = (r: Reader, prev: unknown): Obj =>
  oneof(
    readFields(r, GATEWAY_ADDRESS, (prev as Obj | null) ?? { hboneMtlsPort: 0 }),
    'destination',
    ['hostname', 'address'],
  );

const PORT: FieldTable<Obj> = {
  1: field.uint32('servicePort'),
  2: field.uint32('targetPort'),
  3: field.enumeration('appProtocol', APP_PROTOCOL),
};
const port = (r: Reader): Obj =>
  readFields(r, PORT, { servicePort: 0, targetPort: 0, appProtocol: 'UNKNOWN' });

const PORT_LIST: FieldTable<Obj> = { 1: field.repeatedMessage('ports', port) };
const portList = (r: Reader, prev: unknown): Obj =>
  readFields(r, PORT_LIST, (prev as Obj | null) ?? { ports: [] });

/** One `map<string, PortList>` entry: key 1, value 2 (an absent value is an empty list). */
const SERVICES_ENTRY: FieldTable<Obj> = {
  1: field.string('key'),
  2: field.message('value', portList),
};
const servicesEntry = (r: Reader, o: Obj): void => {
  const e = readFields(r.sub(), SERVICES_ENTRY, { key: '', value: null });
  // An own property even for "__proto__", so validation sees (and rejects) it.
  Object.defineProperty(o.services, e.key as string, {
    value: e.value ?? { ports: [] },
    enumerable: true,
    writable: true,
    configurable: true,
  });
};

const WORKLOAD: FieldTable<Obj> = {
  1: field.string('name'),
  2: field.string('namespace'),
  3: field.repeatedBytes('addresses'),
  4: field.string('network'),
  5: field.enumeration('tunnelProtocol', TUNNEL),
  6: field.string('trustDomain'),
  7: field.string('serviceAccount'),
  8: field.message('waypoint', gatewayAddress),
  9: field.string('node'),
  10: field.string('canonicalName'),
  11: field.string('canonicalRevision'),
  12: field.enumeration('workloadType', WORKLOAD_TYPE),
  13: field.string('workloadName'),
  14: field.bool('nativeTunnel'),
  16: field.repeatedString('authorizationPolicies'),
  17: field.enumeration('status', STATUS),
  18: field.string('clusterId'),
  19: field.message('networkGateway', gatewayAddress),
  20: field.string('uid'),
  21: field.string('hostname'),
  22: [LEN, servicesEntry],
};

const newWorkload = (): Obj => ({
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
});
const workload = (r: Reader, prev: unknown): Obj =>
  readFields(r, WORKLOAD, (prev as Obj | null) ?? newWorkload());

const SERVICE: FieldTable<Obj> = {
  1: field.string('name'),
  2: field.string('namespace'),
  3: field.string('hostname'),
  4: field.repeatedMessage('addresses', (r) => networkAddress(r, null)),
  5: field.repeatedMessage('ports', port),
  6: field.repeatedString('subjectAltNames'),
  7: field.message('waypoint', gatewayAddress),
};
const service = (r: Reader, prev: unknown): Obj =>
  readFields(
    r,
    SERVICE,
    (prev as Obj | null) ?? {
      name: '',
      namespace: '',
      hostname: '',
      addresses: [],
      ports: [],
      subjectAltNames: [],
      waypoint: null,
    },
  );

const ADDRESS: FieldTable<Obj> = {
  1: field.message('workload', workload),
  2: field.message('service', service),
};

/**
 * istio.workload.Address bytes → `{ type, workload, service }` as `toPlain` shapes them.
 * Throws RangeError on malformed bytes (the codec turns it into XDS_DECODE_FAILED).
 */
export function readAddress(bytes: Uint8Array): Obj {
  const o = readFields(readerOf(bytes), ADDRESS, { workload: null, service: null });
  return oneof(o, 'type', ['workload', 'service']);
}
