import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dnsPacket from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';
import { readQuery } from '../../src/dns/message.js';
import { answerQuery, ServiceIndex } from '../../src/lab/dns/answer.js';
import { dnsServices } from '../../src/lab/dns/main.js';

const idx = new ServiceIndex([
  {
    name: 'httpbin',
    namespace: 'default',
    clusterIP: '10.96.0.105',
    ports: [{ name: 'http', port: 8000, protocol: 'TCP' }],
  },
  {
    name: 'kube-dns',
    namespace: 'kube-system',
    clusterIP: '10.96.0.10',
    ports: [{ name: 'dns', port: 53, protocol: 'UDP' }],
  },
  {
    name: 'db',
    namespace: 'default',
    clusterIP: 'None',
    endpointIPs: ['10.244.1.20', '10.244.2.21'],
    ports: [],
  },
]);

function ask(name: string, type: 'A' | 'AAAA' | 'SRV' | 'PTR' | 'MX' = 'A', edns = false) {
  // Through the wire format, as a real client's query arrives.
  const q = readQuery(
    dnsPacket.encode({
      type: 'query',
      id: 4242,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name, type, class: 'IN' }],
      ...(edns
        ? {
            additionals: [
              {
                name: '.',
                type: 'OPT',
                udpPayloadSize: 4096,
                extendedRcode: 0,
                ednsVersion: 0,
                flags: 0,
                flag_do: false,
                options: [],
              },
            ],
          }
        : {}),
    }),
  );
  assert.ok(q.ok, 'a well-formed query');
  const resp = dnsPacket.decode(dnsPacket.encode(answerQuery(q.query, idx))) as DecodedPacket & {
    rcode: string;
  };
  return resp;
}

void test('A for <svc>.<ns>.svc.cluster.local is the ClusterIP, authoritative, id echoed', () => {
  const r = ask('httpbin.default.svc.cluster.local');
  assert.equal(r.id, 4242);
  assert.equal(r.rcode, 'NOERROR');
  assert.equal(r.flag_aa, true);
  assert.equal(r.flag_rd, true);
  assert.deepEqual(
    r.answers?.map((a) => [a.name, a.type, (a as { data: string }).data]),
    [['httpbin.default.svc.cluster.local', 'A', '10.96.0.105']],
  );
  // case-insensitive, trailing dot tolerated
  assert.equal(ask('HTTPBIN.Default.svc.cluster.local.').answers?.length, 1);
});

void test('search-path expansions: wrong-namespace tries are NXDOMAIN, the right one answers', () => {
  // from a pod in default, "httpbin" is tried as httpbin.default.svc.cluster.local first
  assert.equal(ask('httpbin.default.svc.cluster.local').rcode, 'NOERROR');
  // "httpbin.default" gets expanded to httpbin.default.default.svc.cluster.local first
  const r = ask('httpbin.default.default.svc.cluster.local');
  assert.equal(r.rcode, 'NXDOMAIN');
  assert.equal(r.authorities?.[0]?.type, 'SOA');
  assert.equal(ask('httpbin.default.svc.svc.cluster.local').rcode, 'NXDOMAIN');
  assert.equal(ask('nope.default.svc.cluster.local').rcode, 'NXDOMAIN');
  assert.equal(ask('httpbin.kube-system.svc.cluster.local').rcode, 'NXDOMAIN');
});

void test('AAAA for a known name is empty NOERROR (NODATA); for unknown NXDOMAIN', () => {
  const r = ask('httpbin.default.svc.cluster.local', 'AAAA');
  assert.equal(r.rcode, 'NOERROR');
  assert.equal(r.answers?.length, 0);
  assert.equal(r.authorities?.[0]?.type, 'SOA');
  assert.equal(ask('nope.default.svc.cluster.local', 'AAAA').rcode, 'NXDOMAIN');
});

void test('pod names, namespaces, SRV, PTR and headless services', () => {
  const p = ask('10-244-2-8.default.pod.cluster.local');
  assert.equal((p.answers?.[0] as { data: string }).data, '10.244.2.8');
  assert.equal(ask('10-244-2-999.default.pod.cluster.local').rcode, 'NXDOMAIN');
  assert.equal(ask('default.svc.cluster.local').rcode, 'NOERROR');
  assert.equal(ask('nonamespace.svc.cluster.local').rcode, 'NXDOMAIN');
  const srv = ask('_http._tcp.httpbin.default.svc.cluster.local', 'SRV');
  assert.deepEqual((srv.answers?.[0] as { data: unknown }).data, {
    priority: 0,
    weight: 100,
    port: 8000,
    target: 'httpbin.default.svc.cluster.local',
  });
  const ptr = ask('105.0.96.10.in-addr.arpa', 'PTR');
  assert.equal((ptr.answers?.[0] as { data: string }).data, 'httpbin.default.svc.cluster.local');
  const db = ask('db.default.svc.cluster.local');
  assert.deepEqual(db.answers?.map((a) => (a as { data: string }).data).sort(), [
    '10.244.1.20',
    '10.244.2.21',
  ]);
});

void test('names outside the cluster are REFUSED at once (no upstream)', () => {
  const r = ask('example.com');
  assert.equal(r.rcode, 'REFUSED');
  assert.equal(r.answers?.length, 0);
  assert.equal(ask('example.com', 'AAAA').rcode, 'REFUSED');
});

void test('EDNS queries get an OPT record back', () => {
  const r = ask('httpbin.default.svc.cluster.local', 'A', true);
  assert.equal(r.additionals?.find((a) => a.type === 'OPT')?.type, 'OPT');
});

void test('a class other than IN or ANY is REFUSED', () => {
  const q = readQuery(
    dnsPacket.encode({
      type: 'query',
      id: 1,
      questions: [{ name: 'httpbin.default.svc.cluster.local', type: 'A', class: 'CH' }],
    }),
  );
  assert.ok(q.ok);
  assert.equal((answerQuery(q.query, idx).flags ?? 0) & 0xf, 5);
});

void test('dnsServices: services with headless endpoint addresses', () => {
  const list = dnsServices(
    [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'db', namespace: 'x' },
        spec: { clusterIP: 'None', ports: [{ port: 5432 }] },
      },
    ],
    [
      {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: 'db', namespace: 'x' },
        subsets: [{ addresses: [{ ip: '10.244.1.4' }], notReadyAddresses: [{ ip: '10.244.1.5' }] }],
      },
    ],
  );
  assert.deepEqual(list[0]?.endpointIPs, ['10.244.1.4']);
});
