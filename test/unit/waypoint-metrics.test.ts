/**
 * The waypoint's request metrics (waypoint.md §5.1): `reporter="waypoint"` with the client as
 * source and the chosen endpoint as destination, Envoy's duration buckets; an ingress gateway
 * reports as Istio's gateways do, `reporter="source"` with itself as the source workload.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WorkloadFacts } from '../../src/api/waypoint-config.js';
import {
  reporterRole,
  WaypointMetrics,
  type RequestRecord,
} from '../../src/waypoint/telemetry/metrics.js';

function facts(name: string, o: Partial<WorkloadFacts> = {}): WorkloadFacts {
  return {
    uid: `Kubernetes//Pod/default/${name}-1`,
    name: `${name}-1`,
    namespace: 'default',
    identity: `spiffe://cluster.local/ns/default/sa/${name}`,
    serviceAccount: name,
    node: 'worker',
    workloadName: name,
    canonicalName: name,
    canonicalRevision: 'latest',
    app: name,
    version: '',
    clusterId: 'Kubernetes',
    ...o,
  };
}

const record = (o: Partial<RequestRecord> = {}): RequestRecord => ({
  source: facts('sleep'),
  sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/sleep',
  destination: facts('httpbin', { version: 'v1' }),
  service: { hostname: 'httpbin.default.svc.cluster.local', name: 'httpbin', namespace: 'default' },
  protocol: 'http',
  status: 418,
  flags: '',
  durationMs: 7,
  requestBytes: 0,
  responseBytes: 12,
  ...o,
});

function series(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`));
}

test('waypoint: istio_requests_total and the duration histogram with Istio’s labels', () => {
  const m = new WaypointMetrics();
  m.recordRequest(record());
  m.recordRequest(record());
  const text = m.render();
  const [line, ...rest] = series(text, 'istio_requests_total');
  assert.equal(rest.length, 0);
  for (const frag of [
    'reporter="waypoint"',
    'source_workload="sleep"',
    'source_principal="spiffe://cluster.local/ns/default/sa/sleep"',
    'source_version="unknown"',
    'destination_workload="httpbin"',
    'destination_version="v1"',
    'destination_principal="spiffe://cluster.local/ns/default/sa/httpbin"',
    'destination_service="httpbin.default.svc.cluster.local"',
    'destination_service_name="httpbin"',
    'connection_security_policy="mutual_tls"',
    'request_protocol="http"',
    'response_code="418"',
    'response_flags="-"',
  ])
    assert.ok(line!.includes(frag), `${frag} in ${line}`);
  assert.ok(line!.endsWith(' 2'));
  assert.match(text, /# TYPE istio_request_duration_milliseconds histogram/);
  const buckets = series(text, 'istio_request_duration_milliseconds_bucket');
  assert.ok(buckets.some((b) => b.includes('le="5"') && b.endsWith(' 0')));
  assert.ok(buckets.some((b) => b.includes('le="10"') && b.endsWith(' 2')));
  assert.ok(buckets.some((b) => b.includes('le="+Inf"') && b.endsWith(' 2')));
  assert.ok(series(text, 'istio_request_duration_milliseconds_count')[0]!.endsWith(' 2'));
  assert.ok(series(text, 'istio_request_duration_milliseconds_sum')[0]!.endsWith(' 14'));
});

test('ingress gateway: reporter="source" with the gateway as the source workload', () => {
  const gw = facts('bookinfo-gateway-istio');
  const m = new WaypointMetrics({
    kind: 'gateway',
    self: gw,
    principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-gateway-istio',
  });
  m.recordRequest(record({ source: undefined, sourcePrincipal: '' }));
  const [line] = series(m.render(), 'istio_requests_total');
  assert.ok(line!.includes('reporter="source"'), line);
  assert.ok(line!.includes('source_workload="bookinfo-gateway-istio"'), line);
  assert.ok(
    line!.includes(
      'source_principal="spiffe://cluster.local/ns/default/sa/bookinfo-gateway-istio"',
    ),
  );
  assert.ok(line!.includes('destination_workload="httpbin"'), line);
  assert.ok(line!.includes('connection_security_policy="unknown"'), line);
  // The role can change when the config says so.
  m.setRole({ kind: 'waypoint' });
  m.recordRequest(record());
  assert.equal(series(m.render(), 'istio_requests_total').length, 2);
});

test('reporterRole: waypoint unless the config is an ingress; the ingress as its own source', () => {
  const id = 'spiffe://cluster.local/ns/default/sa/bookinfo-gateway-istio';
  const peers = new Map<string, WorkloadFacts>();
  const cfg = (role?: string) => ({
    source: { waypoint: { role, namespace: 'default', name: 'bookinfo-gateway' } },
    peers,
  });
  assert.deepEqual(reporterRole(cfg(), '10.0.0.1', id), { kind: 'waypoint' });
  const r = reporterRole(cfg('ingress'), '10.0.0.1', id);
  assert.equal(r.kind, 'gateway');
  assert.equal(r.kind === 'gateway' && r.self?.workloadName, 'bookinfo-gateway-istio');
  assert.equal(r.kind === 'gateway' && r.self?.namespace, 'default');
  peers.set('10.0.0.1', facts('gw-from-peers'));
  const p = reporterRole(cfg('ingress'), '10.0.0.1', id);
  assert.equal(p.kind === 'gateway' && p.self?.workloadName, 'gw-from-peers');
});

test('the per-request series cache: one series per label set, every label input counts', () => {
  const m = new WaypointMetrics();
  const count = (text: string) =>
    series(text, 'istio_requests_total').map((l) => l.slice(l.lastIndexOf(' ') + 1));
  // The same label values from fresh objects (a new config) land in the same series.
  m.recordRequest(record());
  m.recordRequest(
    record({ source: facts('sleep'), destination: facts('httpbin', { version: 'v1' }) }),
  );
  assert.deepEqual(count(m.render()), ['2']);
  // Each input that makes a label makes another series.
  m.recordRequest(record({ sourcePrincipal: 'spiffe://cluster.local/ns/other/sa/x' }));
  m.recordRequest(record({ destination: facts('httpbin', { version: 'v2' }) }));
  m.recordRequest(record({ service: undefined }));
  m.recordRequest(record({ status: 200 }));
  m.recordRequest(record({ flags: 'UF' }));
  m.recordRequest(record({ protocol: 'grpc', grpcStatus: '14' }));
  m.recordRequest(record({ protocol: 'grpc', grpcStatus: '0' }));
  assert.deepEqual(count(m.render()), ['2', '1', '1', '1', '1', '1', '1', '1']);
  // An empty flag and '-' are the same label value: same series.
  m.recordRequest(record({ flags: '-' }));
  assert.deepEqual(count(m.render()), ['3', '1', '1', '1', '1', '1', '1', '1']);
  // A role change relabels the following requests.
  m.setRole({
    kind: 'gateway',
    self: facts('gw'),
    principal: 'spiffe://cluster.local/ns/default/sa/gw',
  });
  m.recordRequest(record());
  const gw = series(m.render(), 'istio_requests_total').filter((l) =>
    l.includes('reporter="source"'),
  );
  assert.equal(gw.length, 1);
  assert.match(gw[0]!, /source_workload="gw"/);
});

test('histogram buckets are cumulative; a NaN observation counts in no bucket', () => {
  const m = new WaypointMetrics();
  m.recordRequest(record({ durationMs: 5 }));
  m.recordRequest(record({ durationMs: 5.5 }));
  m.recordRequest(record({ durationMs: Number.NaN }));
  const b = series(m.render(), 'istio_request_duration_milliseconds_bucket');
  const at = (le: string) => b.find((l) => l.includes(`le="${le}"`))!.split(' ')[1];
  assert.equal(at('1'), '0');
  assert.equal(at('5'), '1');
  assert.equal(at('10'), '2');
  assert.equal(at('3600000'), '2');
  assert.equal(at('+Inf'), '3');
});
