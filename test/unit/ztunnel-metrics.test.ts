import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectionLabels, inboundService } from '../../src/ztunnel/context.js';
import {
  baggage,
  forwarded,
  forwardedFor,
  parseAuthority,
  parseBaggage,
  traceparent,
} from '../../src/ztunnel/headers.js';
import { Metrics } from '../../src/ztunnel/metrics.js';
import { LABELS, seriesKey, unknownLabels } from '../../src/ztunnel/metrics.js';
import { openConnection } from '../../src/ztunnel/telemetry.js';
import { service, workload } from '../../src/ztunnel/testing.js';

void test('metrics text: families, labels, counts, istio_build', () => {
  const m = new Metrics();
  const src = workload('sleep', '10.244.2.8', 'worker2');
  const dst = workload('httpbin', '10.244.1.7', 'worker');
  const l = connectionLabels('source', src, dst, {
    service: 'httpbin.default.svc.cluster.local',
    mtls: true,
  });
  m.connectionOpened(l);
  m.connectionClosed(l, 100, 2500);
  m.connectionOpened(l);
  const text = m.render();
  assert.match(text, /# TYPE istio_tcp_connections_opened_total counter/);
  const line = text.split('\n').find((x) => x.startsWith('istio_tcp_connections_opened_total{'));
  assert.ok(line);
  for (const frag of [
    'reporter="source"',
    'source_workload="sleep"',
    'source_workload_namespace="default"',
    'source_principal="spiffe://cluster.local/ns/default/sa/sleep"',
    'destination_workload="httpbin"',
    'destination_principal="spiffe://cluster.local/ns/default/sa/httpbin"',
    'destination_service="httpbin.default.svc.cluster.local"',
    'connection_security_policy="mutual_tls"',
    'response_flags="-"',
  ])
    assert.ok(line.includes(frag), `${frag} in ${line}`);
  assert.ok(line.endsWith(' 2'));
  assert.match(text, /istio_tcp_received_bytes_total\{[^}]*\} 100\n/);
  assert.match(text, /istio_tcp_sent_bytes_total\{[^}]*\} 2500\n/);
  assert.match(text, /istio_tcp_connections_closed_total\{[^}]*\} 1\n/);
  assert.match(text, /istio_build\{component="ztunnel",tag="[^"]+"\} 1/);
  assert.equal(m.value('istio_tcp_connections_opened_total', { reporter: 'source' }), 2);
  assert.equal(m.value('istio_tcp_connections_opened_total', { reporter: 'destination' }), 0);
});

void test("ztunnel's full label set: canonical service/revision as app/version, the service's name", () => {
  const src = workload('sleep-abc', '10.244.2.8', 'worker2', { workloadName: 'sleep' });
  const dst = workload('httpbin-xyz', '10.244.1.7', 'worker', { workloadName: 'httpbin' });
  const svc = service('httpbin', '10.96.0.105', [[8000, 80]]);
  const l = connectionLabels('source', src, dst, { service: svc, mtls: true });
  assert.deepEqual(Object.keys(l), [...LABELS]);
  assert.equal(l.source_workload, 'sleep');
  assert.equal(l.source_canonical_service, 'sleep-abc');
  assert.equal(l.source_app, 'sleep-abc');
  assert.equal(l.source_canonical_revision, 'v1');
  assert.equal(l.source_version, 'v1');
  assert.equal(l.source_cluster, 'Kubernetes');
  assert.equal(l.destination_service, 'httpbin.default.svc.cluster.local');
  assert.equal(l.destination_service_name, 'httpbin');
  assert.equal(l.destination_service_namespace, 'default');
  assert.equal(l.destination_workload, 'httpbin');
  assert.equal(l.request_protocol, 'tcp');
  const none = unknownLabels('destination');
  assert.equal(none.destination_service_name, 'unknown');
  assert.equal(none.response_flags, '-');
  assert.equal(none.connection_security_policy, 'none');
});

void test('inbound: the service is guessed from the workload’s services by target port', () => {
  const svc = service('httpbin', '10.96.0.105', [[8000, 80]]);
  const other = service('admin', '10.96.0.106', [[9000, 9090]]);
  const dst = workload('httpbin', '10.244.1.7', 'worker', {
    services: {
      'default/admin.default.svc.cluster.local': {
        ports: [{ servicePort: 9000, targetPort: 9090 }],
      },
      'default/httpbin.default.svc.cluster.local': {
        ports: [{ servicePort: 8000, targetPort: 80 }],
      },
    },
  });
  const byHost = (ns: string, h: string) =>
    [svc, other].find((s) => s.namespace === ns && s.hostname === h);
  assert.equal(inboundService({ serviceByHost: byHost }, dst, 80)?.name, 'httpbin');
  assert.equal(inboundService({ serviceByHost: byHost }, dst, 9090)?.name, 'admin');
  assert.equal(inboundService({ serviceByHost: byHost }, dst, 1234), undefined);
});

void test('label values are escaped', () => {
  const m = new Metrics();
  const l = connectionLabels('destination', undefined, undefined, {
    mtls: false,
    srcIdentity: 'a"b\\c',
  });
  m.connectionOpened(l);
  assert.ok(m.render().includes('source_principal="a\\"b\\\\c"'));
});

void test('a series key built once counts in the same series as its labels; newlines escaped', () => {
  const m = new Metrics();
  const l = connectionLabels('destination', undefined, undefined, {
    mtls: true,
    srcIdentity: 'spiffe://x/ns/a\nb/sa/c',
  });
  const key = seriesKey(l);
  m.connectionOpened(key);
  m.connectionOpened(l);
  m.connectionClosed(key, 3, 4);
  const opened = m
    .render()
    .split('\n')
    .filter((x) => x.startsWith('istio_tcp_connections_opened'));
  assert.equal(opened.length, 1, opened.join('\n'));
  assert.ok(opened[0]!.endsWith(' 2'));
  assert.ok(opened[0]!.includes('source_principal="spiffe://x/ns/a\\nb/sa/c"'), opened[0]);
  assert.equal(
    m.value('istio_tcp_received_bytes_total', { connection_security_policy: 'mutual_tls' }),
    3,
  );
});

void test('a connection closed with response flags counts its close in a series of its own', () => {
  const m = new Metrics();
  const lines: unknown[] = [];
  const ctx = { metrics: m, accessLog: { write: (r: unknown) => lines.push(r) } };
  const l = unknownLabels('source');
  const rec = {} as Parameters<typeof openConnection>[2];
  const ok = openConnection(ctx as never, l, rec);
  ok.close({ bytesSent: 10, bytesRecv: 20 });
  openConnection(ctx as never, l, rec).fail('UAEX', new Error('denied'));
  const v = (
    f: 'istio_tcp_connections_closed_total' | 'istio_tcp_connections_opened_total',
    flags: string,
  ) => m.value(f, { response_flags: flags });
  assert.equal(v('istio_tcp_connections_opened_total', '-'), 2);
  assert.equal(v('istio_tcp_connections_closed_total', '-'), 1);
  assert.equal(v('istio_tcp_connections_closed_total', 'UAEX'), 1);
  assert.equal(lines.length, 2);
});

void test('HBONE headers', () => {
  const w = workload('sleep', '10.244.2.8', 'worker2', {
    workloadType: 'deployment',
    canonicalRevision: 'v1',
  });
  const b = parseBaggage(baggage(w));
  assert.equal(b['k8s.namespace.name'], 'default');
  assert.equal(b['k8s.deployment.name'], 'sleep');
  assert.equal(b['service.version'], 'v1');
  assert.equal(
    forwarded('10.244.2.8', 4321, 'httpbin.default.svc.cluster.local'),
    'for="10.244.2.8:4321";host=httpbin.default.svc.cluster.local',
  );
  assert.equal(forwardedFor('for="10.244.2.8:4321";host=x'), '10.244.2.8');
  assert.equal(forwardedFor('for=10.1.2.3'), '10.1.2.3');
  assert.equal(forwardedFor('for="junk"'), undefined);
  assert.equal(forwardedFor(undefined), undefined);
  assert.match(traceparent(), /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  assert.deepEqual(parseAuthority('10.244.1.7:80'), { ip: '10.244.1.7', port: 80 });
  for (const bad of [
    '10.244.1.7',
    'httpbin:80',
    '10.244.1.7:0',
    '10.244.1.7:70000',
    '300.1.1.1:80',
    '',
  ])
    assert.equal(parseAuthority(bad), undefined, bad);
});
