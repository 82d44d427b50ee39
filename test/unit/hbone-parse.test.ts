import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAuthority } from '../../src/hbone/authority.js';
import { poolKey } from '../../src/hbone/client.js';
import { formatSpiffe, parseSpiffe, tryParseSpiffe, uriSans } from '../../src/identity/spiffe.js';
import { isCode } from '../../src/errors.js';

void test('SPIFFE identities parse only in the five-segment form', () => {
  const id = parseSpiffe('spiffe://cluster.local/ns/default/sa/sleep');
  assert.deepEqual(id, {
    trustDomain: 'cluster.local',
    namespace: 'default',
    serviceAccount: 'sleep',
  });
  assert.equal(formatSpiffe(id), 'spiffe://cluster.local/ns/default/sa/sleep');
  for (const bad of [
    'spiffe://cluster.local/ns/default',
    'spiffe://cluster.local/ns/default/sa/sleep/extra',
    'https://cluster.local/ns/default/sa/sleep',
    'spiffe:///ns/a/sa/b',
  ]) {
    assert.equal(tryParseSpiffe(bad), undefined, bad);
    assert.throws(
      () => parseSpiffe(bad),
      (e: unknown) => isCode(e, 'SPIFFE_INVALID'),
    );
  }
});

void test('URI SANs are read from Node subjectAltName strings, quoted or not', () => {
  assert.deepEqual(uriSans('URI:spiffe://td/ns/a/sa/b'), ['spiffe://td/ns/a/sa/b']);
  assert.deepEqual(uriSans('DNS:x.example, URI:spiffe://td/ns/a/sa/b, IP Address:10.0.0.1'), [
    'spiffe://td/ns/a/sa/b',
  ]);
  assert.deepEqual(uriSans('URI:"spiffe://td/ns/a, b/sa/c", URI:spiffe://td/ns/x/sa/y'), [
    'spiffe://td/ns/a, b/sa/c',
    'spiffe://td/ns/x/sa/y',
  ]);
  assert.deepEqual(uriSans(undefined), []);
  assert.deepEqual(uriSans('DNS:URI:spiffe://td/ns/a/sa/b'), []);
});

void test(':authority accepts ip:port, [ipv6]:port and host:port only', () => {
  assert.deepEqual(parseAuthority('10.244.1.7:80'), { host: '10.244.1.7', port: 80, isIp: true });
  assert.deepEqual(parseAuthority('[fd00::7]:8080'), { host: 'fd00::7', port: 8080, isIp: true });
  assert.deepEqual(parseAuthority('httpbin.default.svc.cluster.local:8000'), {
    host: 'httpbin.default.svc.cluster.local',
    port: 8000,
    isIp: false,
  });
  for (const bad of [
    '',
    '10.0.0.1',
    '10.0.0.1:0',
    '10.0.0.1:65536',
    '10.0.0.300:80',
    'fd00::7:80',
    '[fd00::7:80',
    '[nothex]:80',
    'a b:80',
    ':80',
    'host:-1',
    'host:8o',
    `${'a'.repeat(300)}:1`,
  ])
    assert.equal(parseAuthority(bad), undefined, bad);
});

void test('pool keys separate source identity, destination identities, source IP and destination', () => {
  const base = {
    srcIdentity: 'spiffe://td/ns/a/sa/a',
    dstIdentities: ['spiffe://td/ns/b/sa/b', 'spiffe://td/ns/b/sa/c'],
    srcIp: '10.0.0.1',
    dstIp: '10.0.0.2',
    dstPort: 15008,
    authority: '10.0.0.2:80',
    headers: {},
  };
  const k = poolKey(base);
  assert.equal(poolKey({ ...base, authority: '10.0.0.2:81' }), k, 'authority is per stream');
  assert.equal(poolKey({ ...base, dstIdentities: [...base.dstIdentities].reverse() }), k);
  for (const over of [
    { srcIdentity: 'spiffe://td/ns/a/sa/z' },
    { dstIdentities: ['spiffe://td/ns/b/sa/b'] },
    { srcIp: '10.0.0.9' },
    { dstIp: '10.0.0.3' },
    { dstPort: 15009 },
  ])
    assert.notEqual(poolKey({ ...base, ...over }), k, JSON.stringify(over));
});
