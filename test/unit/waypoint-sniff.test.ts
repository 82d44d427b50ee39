import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sniff } from '../../src/waypoint/sniff.js';

const cases: [string, string | Buffer, string][] = [
  ['empty', '', 'more'],
  ['h2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'h2c'],
  [
    'h2 preface and a frame',
    Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4])]),
    'h2c',
  ],
  ['partial h2 preface', 'PRI * HTT', 'more'],
  ['GET request line', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'http1'],
  ['POST with path and query', 'POST /a/b?c=d HTTP/1.1\r\n', 'http1'],
  ['HTTP/1.0', 'GET / HTTP/1.0\r\n', 'http1'],
  ['bare LF line end', 'GET / HTTP/1.1\n', 'http1'],
  ['partial method', 'GE', 'more'],
  ['partial request line', 'GET /index.ht', 'more'],
  ['lower-case method', 'get / HTTP/1.1\r\n', 'tcp'],
  ['TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), 'tcp'],
  ['SSH banner', 'SSH-2.0-OpenSSH_9.6\r\n', 'tcp'],
  ['redis inline command', 'PING\r\n', 'tcp'],
  ['HTTP/2 over the request line', 'GET / HTTP/2.0\r\n', 'tcp'],
  ['binary after method', Buffer.from('GET \x00\x01'), 'tcp'],
  ['request line too long', 'GET /' + 'a'.repeat(9000), 'tcp'],
];

for (const [name, input, want] of cases) {
  void test(`sniff: ${name} → ${want}`, () => {
    assert.equal(sniff(typeof input === 'string' ? Buffer.from(input, 'latin1') : input), want);
  });
}
