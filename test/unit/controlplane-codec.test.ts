/**
 * The xDS codec refuses what a ztunnel cannot use (so it NACKs instead of applying half of
 * it), and the wire messages keep Istio's field numbers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCode } from '../../src/errors.js';
import { protos } from '../../src/xds/proto.js';
import {
  bytesToIp,
  decodeAddress,
  decodeAuthorization,
  encodeAddress,
  ipToBytes,
} from '../../src/xds/codec.js';
import { decodeDeltaRequest, encodeDeltaRequest } from '../../src/xds/wire.js';
import { workload } from '../helpers/xds-fixtures.js';

function wire(obj: Record<string, unknown>): Uint8Array {
  const T = protos().Address;
  return T.encode(T.fromObject(obj)).finish();
}

const rejects = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(isCode(e, 'XDS_DECODE_FAILED'), String(e));
    assert.match((e as Error).message, re);
    return true;
  });

void test('invalid resources are refused with the resource and field named', () => {
  const base = {
    uid: 'u1',
    name: 'p',
    namespace: 'default',
    workloadType: 'POD',
    addresses: [Buffer.from([10, 0, 0, 1])],
  };
  assert.equal(decodeAddress(wire({ workload: base })).workload?.uid, 'u1');
  rejects(
    () => decodeAddress(wire({ workload: { ...base, tunnelProtocol: 'LEGACY_ISTIO_MTLS' } })),
    /workload u1 tunnel_protocol: unsupported/,
  );
  rejects(
    () => decodeAddress(wire({ workload: { ...base, addresses: [Buffer.from([1, 2, 3, 4, 5])] } })),
    /workload u1 addresses\[0\]: address has 5 bytes/,
  );
  rejects(() => decodeAddress(wire({ workload: { ...base, uid: '' } })), /uid is empty/);
  rejects(
    () =>
      decodeAddress(
        wire({
          workload: { ...base, services: { 'default/x': { ports: [{ servicePort: 70000 }] } } },
        }),
      ),
    /services\[default\/x\]\.ports\[0\]\.service_port: port 70000 is out of range/,
  );
  rejects(
    () => decodeAddress(wire({ workload: { ...base, waypoint: { hboneMtlsPort: 15008 } } })),
    /waypoint: gateway address has neither/,
  );
  rejects(
    () => decodeAddress(wire({ service: { name: 's', namespace: 'default' } })),
    /namespace and hostname are required/,
  );
  rejects(() => decodeAddress(wire({})), /neither a workload nor a service/);
  rejects(() => decodeAddress(Buffer.from([0x0a, 0x10, 0x01])), /malformed protobuf/);
  const A = protos().Authorization;
  const policy = (m: Record<string, unknown>) =>
    A.encode(
      A.fromObject({ name: 'p', namespace: 'ns', rules: [{ clauses: [{ matches: [m] }] }] }),
    ).finish();
  rejects(
    () =>
      decodeAuthorization(
        policy({ sourceIps: [{ address: Buffer.from([10, 0, 0, 0]), length: 33 }] }),
      ),
    /sourceIps\[0\]: prefix length 33/,
  );
  rejects(
    () => decodeAuthorization(policy({ destinationPorts: [0] })),
    /destinationPorts\[0\]: port 0/,
  );
  rejects(
    () => decodeAuthorization(policy({ namespaces: [{}] })),
    /namespaces\[0\]: string match has no match type/,
  );
  rejects(
    () =>
      decodeAuthorization(policy({ serviceAccounts: [{ namespace: 'a', serviceAccount: 'b' }] })),
    /service_accounts/,
  );
});

void test('Istio field numbers on the wire', () => {
  // Workload.uid is field 20 (tag 0xa2 0x01), name 1, addresses 3; Address.workload is field 1.
  const bytes = Buffer.from(encodeAddress({ workload: workload('a', '10.0.0.1', 'n') }));
  assert.equal(bytes[0], 0x0a, 'Address.workload = 1, length-delimited');
  assert.ok(bytes.includes(Buffer.from([0xa2, 0x01])), 'Workload.uid = 20');
  assert.ok(
    bytes.includes(Buffer.from([0x1a, 0x04, 10, 0, 0, 1])),
    'Workload.addresses = 3, 4 bytes',
  );
  const req = encodeDeltaRequest({
    typeUrl: 't',
    resourceNamesSubscribe: [],
    resourceNamesUnsubscribe: [],
    initialResourceVersions: { a: '1' },
    responseNonce: 'n',
    errorDetail: { code: 3, message: 'bad' },
  });
  assert.equal(req[0], 0x12, 'DeltaDiscoveryRequest.type_url = 2');
  assert.deepEqual(decodeDeltaRequest(req), {
    typeUrl: 't',
    resourceNamesSubscribe: [],
    resourceNamesUnsubscribe: [],
    initialResourceVersions: { a: '1' },
    responseNonce: 'n',
    errorDetail: { code: 3, message: 'bad' },
  });
});

void test('IP bytes', () => {
  assert.equal(bytesToIp(ipToBytes('10.244.2.8'), 'x'), '10.244.2.8');
  assert.equal(bytesToIp(ipToBytes('fd00::1'), 'x'), 'fd00:0:0:0:0:0:0:1');
  assert.throws(() => ipToBytes('10.0.0'), /not an IP address/);
});
