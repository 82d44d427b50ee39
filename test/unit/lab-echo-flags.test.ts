/** `ambit lab app echo` reads Istio echo's flags as the conformance manifests write them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseEchoFlags } from '../../src/lab/apps/echo-main.js';
import { isCode } from '../../src/errors.js';

test('the conformance args: HTTP 8080, HTTPS 8443, TCP 9090, gRPC 7070', () => {
  const f = parseEchoFlags([
    '--tcp=9090',
    '--port=8080',
    '--grpc=7070',
    '--port=8443',
    '--tls=8443',
    '--crt=/cert.crt',
    '--key=/cert.key',
  ]);
  assert.deepEqual(f.port, [8080, 8443]);
  assert.deepEqual(f.tls, [8443]);
  assert.deepEqual(f.tcp, [9090]);
  assert.deepEqual(f.grpc, [7070]);
  assert.equal(f.crt, '/cert.crt');
});

test('no args: the server defaults (HTTP 8080, gRPC 7070); space-separated values work', () => {
  assert.deepEqual(parseEchoFlags([]).port, [8080]);
  assert.deepEqual(parseEchoFlags([]).grpc, [7070]);
  assert.deepEqual(parseEchoFlags(['--port', '9000', '--version', 'v2']).port, [9000]);
});

test('bad input names the value', () => {
  assert.throws(
    () => parseEchoFlags(['--port=http']),
    (e) => isCode(e, 'CLI_BAD_VALUE') && /http/.test(String(e)),
  );
  assert.throws(
    () => parseEchoFlags(['--bogus=1']),
    (e) => isCode(e, 'CLI_BAD_VALUE') && /--bogus/.test(String(e)),
  );
  assert.throws(
    () => parseEchoFlags(['--port']),
    (e) => isCode(e, 'CLI_MISSING_VALUE'),
  );
});
