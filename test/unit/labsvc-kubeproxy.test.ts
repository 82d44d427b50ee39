import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Endpoints, Service } from '../../src/k8s/types.js';
import {
  base32,
  endpointChain,
  parseSave,
  planRestore,
  probability,
  renderProxyRules,
  serviceChain,
} from '../../src/lab/kubeproxy/render.js';

function svc(ns: string, name: string, ip: string, ports: Service['spec']): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { clusterIP: ip, ...ports },
  };
}

function eps(
  ns: string,
  name: string,
  ips: string[],
  ports: { name?: string; port: number; protocol?: string }[],
): Endpoints {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, namespace: ns },
    subsets: [{ addresses: ips.map((ip) => ({ ip })), ports }],
  };
}

void test('chain names are kube-proxy hashes (values seen on kind clusters)', () => {
  assert.equal(serviceChain('kube-system/kube-dns:dns', 'UDP'), 'KUBE-SVC-TCOU7JCQXEZGVUNU');
  assert.equal(serviceChain('kube-system/kube-dns:dns-tcp', 'TCP'), 'KUBE-SVC-ERIFXISQEP7F7OF4');
  assert.equal(serviceChain('kube-system/kube-dns:metrics', 'TCP'), 'KUBE-SVC-JD5MR3NA4I4DYORP');
  assert.equal(serviceChain('default/kubernetes:https', 'TCP'), 'KUBE-SVC-NPX46M4PTMTKRN6Y');
  const sep = endpointChain('default/httpbin:http', 'TCP', '10.244.1.7:80');
  assert.match(sep, /^KUBE-SEP-[A-Z2-7]{16}$/);
  assert.notEqual(sep, endpointChain('default/httpbin:http', 'TCP', '10.244.1.8:80'));
});

void test('base32 matches RFC 4648 test vectors', () => {
  assert.equal(base32(Buffer.from('')), '');
  assert.equal(base32(Buffer.from('f')), 'MY======');
  assert.equal(base32(Buffer.from('foob')), 'MZXW6YQ=');
  assert.equal(base32(Buffer.from('foobar')), 'MZXW6YTBOI======');
});

void test('probabilities: 1/(n-i), last endpoint unconditional', () => {
  assert.equal(probability(0, 2), '0.5000000000');
  assert.equal(probability(0, 3), '0.3333333333');
  assert.equal(probability(1, 3), '0.5000000000');
  const r = renderProxyRules(
    [
      svc('default', 'web', '10.96.0.50', {
        ports: [{ name: 'http', port: 80, targetPort: 8080 }],
      }),
    ],
    [
      eps(
        'default',
        'web',
        ['10.244.1.9', '10.244.1.10', '10.244.2.3'],
        [{ name: 'http', port: 8080 }],
      ),
    ],
  );
  const chain = serviceChain('default/web:http', 'TCP');
  const jumps = r.nat.rules.filter((l) => l.startsWith(`-A ${chain} -m comment`));
  assert.equal(jumps.length, 3);
  // sorted numerically by address, not as strings
  assert.match(
    jumps[0]!,
    /-> 10\.244\.1\.9:8080" -m statistic --mode random --probability 0\.3333333333 -j KUBE-SEP-/,
  );
  assert.match(
    jumps[1]!,
    /-> 10\.244\.1\.10:8080" -m statistic --mode random --probability 0\.5000000000 -j KUBE-SEP-/,
  );
  assert.doesNotMatch(jumps[2]!, /statistic/);
  assert.match(jumps[2]!, /-> 10\.244\.2\.3:8080" -j KUBE-SEP-/);
});

void test('renders the seeds cluster: httpbin TCP and kube-dns UDP+TCP, DNAT per endpoint', () => {
  const r = renderProxyRules(
    [
      svc('default', 'httpbin', '10.96.0.105', {
        ports: [{ name: 'http', port: 8000, targetPort: 80 }],
      }),
      svc('kube-system', 'kube-dns', '10.96.0.10', {
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ],
      }),
      svc('default', 'headless', 'None', { ports: [{ port: 80 }] }),
    ],
    [
      eps('default', 'httpbin', ['10.244.1.7'], [{ name: 'http', port: 80, protocol: 'TCP' }]),
      eps(
        'kube-system',
        'kube-dns',
        ['10.244.0.2'],
        [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ],
      ),
    ],
  );
  const httpbin = serviceChain('default/httpbin:http', 'TCP');
  const sep = endpointChain('default/httpbin:http', 'TCP', '10.244.1.7:80');
  assert.ok(
    r.nat.rules.includes(
      `-A KUBE-SERVICES -d 10.96.0.105/32 -p tcp -m comment --comment "default/httpbin:http cluster IP" -m tcp --dport 8000 -j ${httpbin}`,
    ),
  );
  assert.ok(
    r.nat.rules.includes(
      `-A ${httpbin} -m comment --comment "default/httpbin:http -> 10.244.1.7:80" -j ${sep}`,
    ),
  );
  assert.ok(
    r.nat.rules.includes(
      `-A ${sep} -p tcp -m comment --comment "default/httpbin:http" -m tcp -j DNAT --to-destination 10.244.1.7:80`,
    ),
  );
  assert.ok(
    r.nat.rules.includes(
      '-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU',
    ),
  );
  assert.ok(r.nat.chains.includes('KUBE-SVC-ERIFXISQEP7F7OF4'));
  assert.ok(!r.nat.rules.some((l) => l.includes('headless')), 'headless services get no rules');
  assert.equal(r.ports.length, 3);
  assert.deepEqual(r.filter.rules, []);
});

void test('a service without ready endpoints is rejected in filter, not DNATed', () => {
  const r = renderProxyRules(
    [svc('default', 'web', '10.96.0.50', { ports: [{ port: 80 }] })],
    [
      {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: 'web', namespace: 'default' },
        subsets: [{ notReadyAddresses: [{ ip: '10.244.1.9' }], ports: [{ port: 80 }] }],
      },
    ],
  );
  assert.deepEqual(r.filter.rules, [
    '-A KUBE-SERVICES -d 10.96.0.50/32 -p tcp -m comment --comment "default/web has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable',
  ]);
  assert.ok(!r.nat.rules.some((l) => l.includes('10.96.0.50')));
});

void test('restore plan: jumps appended only when missing, stale chains flushed and deleted', () => {
  const r = renderProxyRules(
    [svc('default', 'web', '10.96.0.50', { ports: [{ port: 80 }] })],
    [eps('default', 'web', ['10.244.1.9'], [{ port: 80 }])],
  );
  const fresh = planRestore(r, new Map());
  assert.equal(fresh.jumpsAdded.length, 5);
  assert.match(
    fresh.text,
    /^\*filter\n:KUBE-SERVICES - \[0:0\]\n-A FORWARD -m conntrack --ctstate NEW/,
  );
  assert.ok(
    fresh.text.includes(
      '\n-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n',
    ),
  );
  assert.ok(!/-I /.test(fresh.text), 'never inserts');

  const saved = parseSave(`*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-OLDOLDOLDOLDOLDO - [0:0]
:ztunnel-PREROUTING - [0:0]
-A PREROUTING -j ztunnel-PREROUTING
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
*filter
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
COMMIT
`);
  const plan = planRestore(r, saved);
  assert.deepEqual(plan.jumpsAdded, []);
  assert.deepEqual(plan.stale, ['nat/KUBE-SVC-OLDOLDOLDOLDOLDO']);
  assert.ok(
    plan.missing.includes('nat/KUBE-MARK-MASQ'),
    'chains absent from the kernel are reported',
  );
  assert.ok(!plan.missing.includes('nat/KUBE-SERVICES'));
  assert.ok(plan.text.includes(':KUBE-SVC-OLDOLDOLDOLDOLDO - [0:0]\n'));
  assert.ok(plan.text.includes('\n-X KUBE-SVC-OLDOLDOLDOLDOLDO\nCOMMIT'));
  assert.ok(!plan.text.includes('ztunnel'), 'other chains are left alone');
});
