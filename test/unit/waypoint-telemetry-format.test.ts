/**
 * The waypoint's per-request telemetry formatting: the access-log line (Envoy's default text
 * format plus trace and identities) byte for byte, the batched stdout sink, random trace ids.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ACCESS_LOG_FLUSH_BYTES,
  batchedLineSink,
  formatAccessLog,
} from '../../src/waypoint/telemetry/access-log.js';
import { parseTraceparent, randomHex, startSpan } from '../../src/waypoint/telemetry/trace.js';

test('formatAccessLog: every field in Envoy’s order, absent ones as - or "-"', () => {
  const full = formatAccessLog({
    start: new Date('2026-12-02T07:00:00.123Z'),
    method: 'GET',
    path: '/a?b=1',
    protocol: 'HTTP/1.1',
    status: 200,
    flags: '-',
    details: 'via_upstream',
    bytesReceived: 3,
    bytesSent: 1024,
    durationMs: 1.6,
    upstreamMs: 0.4,
    xff: '10.0.0.1',
    userAgent: 'curl/8',
    requestId: 'rid',
    authority: 'l7:8080',
    upstreamHost: '10.244.1.4:8080',
    upstreamCluster: 'inbound-vip|8080|http|l7.bench.svc.cluster.local',
    downstreamLocal: '10.96.0.50:8080',
    downstreamRemote: '10.244.2.9',
    route: 'bench/r.0',
    traceId: 't',
    spanId: 's',
    sourcePrincipal: 'spiffe://a',
    destinationPrincipal: 'spiffe://b',
  });
  assert.equal(
    full,
    '[2026-12-02T07:00:00.123Z] "GET /a?b=1 HTTP/1.1" 200 - via_upstream - "-" 3 1024 2 0 ' +
      '"10.0.0.1" "curl/8" "rid" "l7:8080" "10.244.1.4:8080" ' +
      'inbound-vip|8080|http|l7.bench.svc.cluster.local - 10.96.0.50:8080 10.244.2.9 - bench/r.0 ' +
      'trace_id=t span_id=s src.identity=spiffe://a dst.identity=spiffe://b',
  );
  const bare = formatAccessLog({
    start: new Date('2026-12-02T07:00:00.000Z'),
    method: 'POST',
    path: '/',
    protocol: 'HTTP/2',
    status: 403,
    flags: 'RBAC',
    details: '',
    bytesReceived: 0,
    bytesSent: 19,
    durationMs: 0.2,
    authority: 'x',
    downstreamLocal: '1.2.3.4:80',
    downstreamRemote: '5.6.7.8',
  });
  assert.equal(
    bare,
    '[2026-12-02T07:00:00.000Z] "POST / HTTP/2" 403 RBAC - - "-" 0 19 0 - "-" "-" "-" "x" "-" - ' +
      '- 1.2.3.4:80 5.6.7.8 - - trace_id=- span_id=- src.identity=- dst.identity=-',
  );
});

test('batchedLineSink: the lines of one flush interval in one write, in order', (t) => {
  // Mocked clock: under CI load a real 20 ms interval can pass between two turns of the loop.
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const writes: string[] = [];
  const sink = batchedLineSink((s) => writes.push(s), 20);
  sink('a');
  t.mock.timers.tick(19);
  sink('b'); // later, same interval: same write
  assert.deepEqual(writes, []);
  t.mock.timers.tick(1);
  assert.deepEqual(writes, ['a\nb\n']);
  sink('c');
  t.mock.timers.tick(20);
  assert.deepEqual(writes, ['a\nb\n', 'c\n']);
});

test('batchedLineSink: writes at once when the pending text reaches the size bound', () => {
  const writes: string[] = [];
  const sink = batchedLineSink((s) => writes.push(s), 60_000);
  const line = 'x'.repeat(1023);
  for (let i = 0; i < 64; i++) sink(line);
  assert.equal(writes.length, 1);
  assert.equal(writes[0]!.length, ACCESS_LOG_FLUSH_BYTES);
});

test('trace ids: random hex of the asked length, a new span id each time, the trace kept', () => {
  const seen = new Set<string>();
  // More than the 4 KiB pool holds: the refill path too.
  for (let i = 0; i < 600; i++) {
    const h = randomHex(8);
    assert.match(h, /^[0-9a-f]{16}$/);
    seen.add(h);
  }
  assert.equal(seen.size, 600);
  const fresh = startSpan(undefined);
  assert.match(fresh.traceId, /^[0-9a-f]{32}$/);
  assert.match(fresh.spanId, /^[0-9a-f]{16}$/);
  const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const child = startSpan(parent);
  assert.equal(child.traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(child.parentId, 'b7ad6b7169203331');
  assert.equal(child.sampled, true);
  assert.notEqual(child.spanId, parseTraceparent(parent)?.parentId);
});
