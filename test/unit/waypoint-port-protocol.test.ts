import assert from 'node:assert/strict';
import { test } from 'node:test';
import { portProtocol } from '../../src/api/port-protocol.js';

const cases: [string | undefined, string | undefined, string][] = [
  ['http', undefined, 'HTTP'],
  ['http-web', undefined, 'HTTP'],
  ['HTTP2-x', undefined, 'HTTP2'],
  ['grpc', undefined, 'GRPC'],
  ['grpc-web', undefined, 'HTTP2'],
  ['grpc-echo', undefined, 'GRPC'],
  ['tcp', undefined, 'TCP'],
  ['https', undefined, 'TLS'],
  ['mongo-db', undefined, 'TCP'],
  ['web', undefined, 'UNKNOWN'],
  ['', undefined, 'UNKNOWN'],
  [undefined, undefined, 'UNKNOWN'],
  ['tcp', 'http', 'HTTP'],
  ['http', 'kubernetes.io/h2c', 'HTTP2'],
  ['grpc', 'grpc', 'GRPC'],
  ['web', 'unknown-thing', 'UNKNOWN'],
  ['http', 'unknown-thing', 'HTTP'],
];

for (const [name, app, want] of cases) {
  void test(`port ${String(name)} appProtocol ${String(app)} → ${want}`, () => {
    assert.equal(portProtocol(name, app), want);
  });
}
