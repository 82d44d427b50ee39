/**
 * The hand-written DeltaDiscoveryResponse codec (src/xds/wire.ts) against protobufjs' reflection
 * of proto/discovery.proto: what one writes the other reads, field for field, including
 * unknown fields (skipped) and empty values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { protos, toPlain } from '../../src/xds/proto.js';
import {
  decodeDeltaResponse,
  encodeDeltaResponse,
  resourceEntry,
  type DeltaResponse,
} from '../../src/xds/wire.js';
import { ResourceStore } from '../../src/controlplane/xds/store.js';

const TYPE = 'type.googleapis.com/istio.workload.Address';
const sample: DeltaResponse = {
  systemVersionInfo: 'v-7',
  typeUrl: TYPE,
  nonce: 'abc123',
  removedResources: ['ns/gone', 'Kubernetes//Pod/ns/old'],
  resources: [
    { name: 'ns/a', version: '0123456789abcdef', value: new Uint8Array([1, 2, 3, 250]) },
    { name: 'ns/empty', version: 'ffff', value: new Uint8Array() },
  ],
};

test('encodeDeltaResponse is read back field for field by protobufjs', () => {
  const T = protos().DeltaDiscoveryResponse;
  const o = toPlain(T, T.decode(encodeDeltaResponse(sample)));
  assert.equal(o.systemVersionInfo, 'v-7');
  assert.equal(o.typeUrl, TYPE);
  assert.equal(o.nonce, 'abc123');
  assert.deepEqual(o.removedResources, sample.removedResources);
  const res = o.resources as {
    name: string;
    version: string;
    resource: { type_url?: string; typeUrl?: string; value: Buffer };
  }[];
  assert.deepEqual(
    res.map((r) => [
      r.name,
      r.version,
      r.resource.type_url ?? r.resource.typeUrl,
      [...r.resource.value],
    ]),
    [
      ['ns/a', '0123456789abcdef', TYPE, [1, 2, 3, 250]],
      ['ns/empty', 'ffff', TYPE, []],
    ],
  );
});

test('decodeDeltaResponse reads what protobufjs writes, unknown fields skipped', () => {
  const T = protos().DeltaDiscoveryResponse;
  const bytes = T.encode(
    T.fromObject({
      systemVersionInfo: 'v-7',
      typeUrl: TYPE,
      nonce: 'abc123',
      removedResources: sample.removedResources,
      resources: sample.resources.map((r) => ({
        name: r.name,
        version: r.version,
        aliases: ['alias'],
        resource: { type_url: TYPE, value: r.value },
      })),
    }),
  ).finish();
  // An unknown varint field (99) and an unknown length-delimited one (98) at the end.
  const extra = Buffer.from([0x98, 0x06, 0x2a, 0x92, 0x06, 0x02, 0x68, 0x69]);
  const d = decodeDeltaResponse(Buffer.concat([Buffer.from(bytes), extra]));
  assert.deepEqual(
    { ...d, resources: d.resources.map((r) => ({ ...r, value: [...r.value] })) },
    { ...sample, resources: sample.resources.map((r) => ({ ...r, value: [...r.value] })) },
  );
});

test('a truncated response is refused, not misread', () => {
  const b = encodeDeltaResponse(sample);
  assert.throws(() => decodeDeltaResponse(b.subarray(0, b.length - 5)));
});

test("pre-encoded entries (the control plane's store keeps one per resource) give the same bytes", () => {
  const withEntries: DeltaResponse = {
    ...sample,
    resources: sample.resources.map((r) => ({ ...r, entry: resourceEntry(TYPE, r) })),
  };
  assert.deepEqual(encodeDeltaResponse(withEntries), encodeDeltaResponse(sample));
  // The store's entry is the same field, for set and update, and follows a changed value.
  const store = new ResourceStore([TYPE]);
  store.set(TYPE, new Map([['ns/a', sample.resources[0]!.value]]));
  const a = store.get(TYPE).get('ns/a')!;
  assert.deepEqual(Buffer.from(a.entry), resourceEntry(TYPE, a));
  store.update(TYPE, new Map([['ns/a', new Uint8Array([9])]]));
  const b = store.get(TYPE).get('ns/a')!;
  assert.deepEqual(Buffer.from(b.entry), resourceEntry(TYPE, { ...b, value: new Uint8Array([9]) }));
  assert.notDeepEqual(Buffer.from(b.entry), Buffer.from(a.entry));
  const d = decodeDeltaResponse(
    encodeDeltaResponse({ ...sample, resources: [{ ...b, entry: b.entry }] }),
  );
  assert.deepEqual([...d.resources[0]!.value], [9]);
  assert.equal(d.resources[0]!.version, b.version);
});
