/**
 * The hand-written istio.workload.Address reader (src/xds/address-reader.ts) against
 * protobufjs's decode + toObject of the same bytes: on random Addresses (every field the codec
 * reads, fields it does not read, unknown enum numbers, out-of-range ports, both members of a
 * oneof, repeated non-repeated fields), the codec's validation of either gives the same Address
 * or the same error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { addressFromPlain, decodeAddress, encodeAddress } from '../../src/xds/codec.js';
import { readAddress } from '../../src/xds/address-reader.js';
import { protos, toPlain } from '../../src/xds/proto.js';
import { service, workload } from '../../src/ztunnel/testing.js';

const str = fc.oneof(
  fc.constant(''),
  fc.constantFrom('default', 'httpbin', 'ns/host', 'a/b', 'cluster.local', 'ünï/cødé'),
  fc.string({ maxLength: 12 }),
);
const ipBytes = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }),
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  fc.uint8Array({ maxLength: 6 }),
);
const u32 = fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.constant(0xffffffff));
const enumNum = fc.integer({ min: 0, max: 7 });
const netAddr = fc.record(
  { network: str, address: ipBytes, length: fc.integer({ min: 0, max: 32 }) },
  { requiredKeys: [] },
);
const gateway = fc.record(
  {
    hostname: fc.record({ namespace: str, hostname: str }, { requiredKeys: [] }),
    address: netAddr,
    hboneMtlsPort: u32,
  },
  { requiredKeys: [] },
);
const port = fc.record(
  { servicePort: u32, targetPort: u32, appProtocol: enumNum },
  { requiredKeys: [] },
);
const wl = fc.record(
  {
    uid: str,
    name: str,
    namespace: str,
    addresses: fc.array(ipBytes, { maxLength: 3 }),
    hostname: str,
    network: str,
    tunnelProtocol: enumNum,
    trustDomain: str,
    serviceAccount: str,
    waypoint: gateway,
    networkGateway: gateway,
    node: str,
    canonicalName: str,
    canonicalRevision: str,
    workloadType: enumNum,
    workloadName: str,
    nativeTunnel: fc.boolean(),
    applicationTunnel: fc.record({ protocol: enumNum, port: u32 }),
    services: fc.dictionary(str, fc.record({ ports: fc.array(port, { maxLength: 3 }) }), {
      maxKeys: 3,
    }),
    authorizationPolicies: fc.array(str, { maxLength: 3 }),
    status: enumNum,
    clusterId: str,
    locality: fc.record({ region: str, zone: str, subzone: str }),
    networkMode: enumNum,
    capacity: fc.record({ value: u32 }),
  },
  { requiredKeys: [] },
);
const svc = fc.record(
  {
    name: str,
    namespace: str,
    hostname: str,
    addresses: fc.array(netAddr, { maxLength: 3 }),
    ports: fc.array(port, { maxLength: 3 }),
    subjectAltNames: fc.array(str, { maxLength: 3 }),
    waypoint: gateway,
    loadBalancing: fc.record({
      routingPreference: fc.array(enumNum, { maxLength: 3 }),
      mode: enumNum,
    }),
    ipFamilies: enumNum,
    canonical: fc.boolean(),
  },
  { requiredKeys: [] },
);
const address = fc.record({ workload: wl, service: svc }, { requiredKeys: [] });

function encode(plain: object): Uint8Array {
  const T = protos().Address;
  return T.encode(T.fromObject(plain)).finish();
}

function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const reference = (b: Uint8Array) =>
  outcome(() => addressFromPlain(toPlain(protos().Address, protos().Address.decode(b)), 'x'));
const handWritten = (b: Uint8Array) => outcome(() => addressFromPlain(readAddress(b), 'x'));

test('random Addresses: the reader and protobufjs give the same Address or the same error', () => {
  fc.assert(
    fc.property(address, (plain) => {
      const b = encode(plain);
      assert.deepEqual(handWritten(b), reference(b));
    }),
    { numRuns: 400 },
  );
});

test('a field repeated on the wire: the last one wins, as in protobufjs', () => {
  const a = encodeAddress({ workload: workload('a', '10.0.0.1', 'n1') });
  const b = encodeAddress({ workload: workload('b', '10.0.0.2', 'n2') });
  const both = Buffer.concat([a, b]);
  assert.deepEqual(handWritten(both), reference(both));
  assert.equal(decodeAddress(both).workload?.name, 'b');
});

test("the codec's own encodings round-trip through the reader", () => {
  const w = workload('httpbin', '10.244.1.7', 'worker');
  assert.deepEqual(decodeAddress(encodeAddress({ workload: w })), { workload: w });
  const s = service('httpbin', '10.96.0.105', [[8000, 80]]);
  assert.deepEqual(decodeAddress(encodeAddress({ service: s })), { service: s });
});

test('truncated bytes are XDS_DECODE_FAILED naming the resource', () => {
  const b = encodeAddress({ workload: workload('httpbin', '10.244.1.7', 'worker') });
  assert.throws(
    () => decodeAddress(b.subarray(0, b.length - 3), 'Kubernetes//Pod/default/httpbin'),
    (e: Error & { code?: string }) =>
      e.code === 'XDS_DECODE_FAILED' &&
      /Address Kubernetes\/\/Pod\/default\/httpbin/.test(e.message),
  );
});

test('a services key "__proto__" is an own key the codec rejects, not a prototype', () => {
  const T = protos().Address;
  const b = T.encode(
    T.fromObject({
      workload: {
        uid: 'u',
        name: 'n',
        namespace: 'ns',
        services: { ['__proto__']: { ports: [] } },
      },
    }),
  ).finish();
  assert.throws(() => decodeAddress(b), /key __proto__ is not namespace\/hostname/);
});
