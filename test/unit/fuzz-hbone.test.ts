/**
 * Fuzzing the HBONE request parsers (issue #10): `:authority` (the HBONE server's and
 * ztunnel inbound's), `forwarded`, `baggage` and SPIFFE ids from peer certificates. Besides
 * "never an uncatalogued throw", the authority parsers must agree with their own output: what
 * they accept round-trips and names a real IP or DNS name and a port in 1..65535.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseAuthority as hboneAuthority } from '../../src/hbone/authority.js';
import { tryParseSpiffe, uriSans } from '../../src/identity/spiffe.js';
import {
  forwardedFor,
  parseAuthority as inboundAuthority,
  parseBaggage,
} from '../../src/ztunnel/headers.js';
import { cleanOrCatalogued, fuzzParams } from '../helpers/fuzz.js';

/** Strings shaped like authorities (more hits than uniform strings), and arbitrary ones. */
const authority = fc.oneof(
  fc.string({ maxLength: 400 }),
  fc
    .tuple(
      fc.oneof(
        fc.ipV4(),
        fc.ipV4Extended(),
        fc.ipV6().map((ip) => `[${ip}]`),
        fc.domain(),
        fc.constantFrom('[fe80::1%eth0]', '010.000.001.002', '0x0a.0.1.2', '167837954', '10.258'),
        fc.string({ maxLength: 20 }),
      ),
      fc.oneof(fc.integer({ min: -1, max: 70000 }).map(String), fc.string({ maxLength: 6 })),
    )
    .map(([h, p]) => `${h}:${p}`),
);

void test(
  'fuzz: HBONE :authority parsers accept only ip:port / [v6]:port / name:port',
  { timeout: 60_000 },
  () => {
    fc.assert(
      fc.property(authority, (a) => {
        const h = cleanOrCatalogued(() => hboneAuthority(a), a);
        if (h) {
          assert.ok(h.port >= 1 && h.port <= 65535, a);
          // A zone id (Envoy CVE-2026-26310) or an inet_aton form (0x0a.0.1.2, which getaddrinfo
          // would turn into 10.0.1.2) is never accepted (issue #10).
          assert.ok(!h.host.includes('%'), a);
          if (h.isIp) assert.ok(net.isIP(h.host) !== 0, a);
          else {
            assert.ok(!/^[\d.]+$/.test(h.host) && !h.host.includes(':'), a);
            assert.ok(!h.host.split('.').every((l) => /^(0x[0-9a-f]*|\d+)$/i.test(l)), a);
          }
          const back = net.isIPv6(h.host) ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`;
          assert.equal(back, a.replace(/:0*(\d+)$/, ':$1'));
        }
        const i = cleanOrCatalogued(() => inboundAuthority(a), a);
        if (i) {
          assert.ok(net.isIPv4(i.ip), a);
          assert.equal(`${i.ip}:${i.port}`, a.replace(/:0*(\d+)$/, ':$1'));
          // Never wider than the HBONE server's check, which runs first.
          assert.ok(h?.isIp, a);
        }
      }),
      fuzzParams(),
    );
  },
);

void test('authority: a zone id and inet_aton forms are refused (issue #10)', () => {
  for (const a of ['[fe80::1%eth0]:80', '[fe80::1%25eth0]:80', '0x0a.0.1.2:80', '0xa.0x1:80']) {
    assert.equal(hboneAuthority(a), undefined, a);
    assert.equal(inboundAuthority(a), undefined, a);
  }
  assert.deepEqual(hboneAuthority('[::ffff:10.0.1.2]:80'), {
    host: '::ffff:10.0.1.2',
    port: 80,
    isIp: true,
  });
  assert.equal(hboneAuthority('httpbin.default.svc.cluster.local:8000')?.isIp, false);
});

void test(
  'fuzz: forwarded, baggage and SPIFFE ids never throw; forwarded yields only IPv4',
  { timeout: 60_000 },
  () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.ipV4().map((ip) => `for="${ip}:1234"`),
          fc
            .tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }))
            .map(([k, v]) => `${k}=${v};for=${v}, for=${k}`),
        ),
        (h) => {
          const ip = cleanOrCatalogued(() => forwardedFor(h), h);
          if (ip !== undefined) assert.ok(net.isIPv4(ip), h);
          const b = cleanOrCatalogued(() => parseBaggage(h), h);
          assert.ok(b !== undefined && typeof b === 'object');
          const id = cleanOrCatalogued(() => tryParseSpiffe(h), h);
          if (id) assert.ok(!/[\0-\x1f/]/.test(id.namespace + id.serviceAccount), h);
          cleanOrCatalogued(() => uriSans(h), h);
        },
      ),
      fuzzParams(),
    );
  },
);
