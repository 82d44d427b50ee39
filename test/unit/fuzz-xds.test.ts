/**
 * Fuzzing the xDS decoders (issue #10; ztunnel's own fuzz target decodes arbitrary bytes as
 * Workload and Authorization): istio.workload.Address, istio.security.Authorization and the
 * waypoint's config, from random bytes and from valid encodings with bytes flipped, cut or
 * appended; plus the delta-xDS and CA gRPC messages both ends deserialize. A decoder returns a
 * value or throws XDS_DECODE_FAILED / XDS_BAD_IP / WAYPOINT_CONFIG_INVALID — never anything else
 * (an uncatalogued throw would take down the stream or the process).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  decodeAddress,
  decodeAuthorization,
  encodeAddress,
  encodeAuthorization,
} from '../../src/xds/codec.js';
import { decodeWaypointConfig } from '../../src/xds/waypoint-codec.js';
import {
  decodeCertRequest,
  decodeCertResponse,
  decodeDeltaRequest,
  decodeDeltaResponse,
} from '../../src/xds/wire.js';
import { policy, rule, service, workload } from '../../src/ztunnel/testing.js';
import { cleanOrCatalogued, fuzzParams } from '../helpers/fuzz.js';

const seeds = [
  Buffer.from(encodeAddress({ workload: workload('httpbin', '10.244.1.7', 'worker') })),
  Buffer.from(encodeAddress({ service: service('httpbin', '10.96.0.105', [[8000, 80]]) })),
  Buffer.from(
    encodeAuthorization(
      policy('deny', 'DENY', [
        rule([
          {
            principals: [{ exact: 'cluster.local/ns/a/sa/b' }],
            sourceIps: [{ address: '10.0.0.0', length: 8 }],
          },
        ]),
      ]),
    ),
  ),
];

/** Valid encodings mutated: bytes overwritten, the tail cut, junk appended. */
const mutated = fc
  .tuple(
    fc.constantFrom(...seeds),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
    fc.option(fc.nat()),
    fc.uint8Array({ maxLength: 16 }),
  )
  .map(([seed, flips, cut, tail]) => {
    const b = Buffer.from(seed);
    for (const [at, v] of flips) b[at % b.length] = v;
    const body = cut === null ? b : b.subarray(0, cut % (b.length + 1));
    return new Uint8Array(Buffer.concat([body, tail]));
  });
const bytes = fc.oneof(fc.uint8Array({ maxLength: 512 }), mutated);

void test(
  'fuzz: Address and Authorization decode to a value or XDS_DECODE_FAILED/XDS_BAD_IP',
  { timeout: 120_000 },
  () => {
    fc.assert(
      fc.property(bytes, (b) => {
        const a = cleanOrCatalogued(() => decodeAddress(b, 'fuzz'), Buffer.from(b).toString('hex'));
        // What decodes re-encodes (the store keeps and re-sends it).
        if (a) assert.ok(encodeAddress(a).length >= 0);
        const p = cleanOrCatalogued(
          () => decodeAuthorization(b, 'fuzz'),
          Buffer.from(b).toString('hex'),
        );
        if (p) assert.ok(encodeAuthorization(p).length >= 0);
      }),
      fuzzParams(1000),
    );
  },
);

void test(
  'fuzz: the waypoint config decodes to a value or WAYPOINT_CONFIG_INVALID',
  { timeout: 60_000 },
  () => {
    fc.assert(
      fc.property(bytes, (b) => {
        cleanOrCatalogued(() => decodeWaypointConfig(b), Buffer.from(b).toString('hex'));
      }),
      fuzzParams(),
    );
  },
);

void test(
  'fuzz: delta xDS and CA messages deserialize to a value or a catalogued error',
  { timeout: 60_000 },
  () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (u) => {
        const b = Buffer.from(u);
        for (const decode of [
          decodeDeltaRequest,
          decodeDeltaResponse,
          decodeCertRequest,
          decodeCertResponse,
        ])
          cleanOrCatalogued(() => decode(b), b.toString('hex'));
      }),
      fuzzParams(),
    );
  },
);
