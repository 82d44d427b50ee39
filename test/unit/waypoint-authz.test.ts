/**
 * The L7 policy matrix: each case is one request (or TCP connection) against a set of
 * policies, with the expected verdict. Table style: name, policies, request, allowed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { L7AuthorizationPolicy, PolicyRule } from '../../src/api/waypoint-config.js';
import type { AuthzAttributes } from '../../src/waypoint/authz/attributes.js';
import { compilePolicy } from '../../src/waypoint/authz/compile.js';
import { authorize } from '../../src/waypoint/authz/evaluate.js';
import { pathMatcher } from '../../src/waypoint/authz/path-template.js';

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const CURL = 'spiffe://cluster.local/ns/other/sa/curl';
const HTTPBIN = 'default/httpbin.default.svc.cluster.local';

const req = (o: Partial<AuthzAttributes> = {}): AuthzAttributes => ({
  protocol: 'http',
  sourcePrincipal: SLEEP,
  sourceIp: '10.244.1.5',
  remoteIp: '10.244.1.5',
  destinationIp: '10.96.0.20',
  destinationPort: 8000,
  service: HTTPBIN,
  host: 'httpbin:8000',
  method: 'GET',
  path: '/get',
  headers: { 'user-agent': 'curl/8', 'x-token': 'abc' },
  sni: '',
  ...o,
});
const tcp = (o: Partial<AuthzAttributes> = {}): AuthzAttributes => ({
  protocol: 'tcp',
  sourcePrincipal: SLEEP,
  sourceIp: '10.244.1.5',
  remoteIp: '10.244.1.5',
  destinationIp: '10.96.0.20',
  destinationPort: 9000,
  service: HTTPBIN,
  ...o,
});

let n = 0;
function pol(
  action: L7AuthorizationPolicy['action'],
  rules: PolicyRule[],
  extra: Partial<L7AuthorizationPolicy> = {},
): L7AuthorizationPolicy {
  return {
    name: `p${++n}`,
    namespace: 'default',
    action,
    target: { kind: 'Gateway' },
    rules,
    ...extra,
  };
}
const allow = (rules: PolicyRule[], extra?: Partial<L7AuthorizationPolicy>) =>
  pol('ALLOW', rules, extra);
const deny = (rules: PolicyRule[], extra?: Partial<L7AuthorizationPolicy>) =>
  pol('DENY', rules, extra);

type Case = [
  name: string,
  policies: L7AuthorizationPolicy[],
  request: AuthzAttributes,
  allowed: boolean,
];

const groups: Record<string, Case[]> = {
  'evaluation order': [
    ['no policies allows', [], req(), true],
    ['ALLOW with rules: [] allows nothing', [allow([])], req(), false],
    ['DENY with rules: [] denies nothing', [deny([])], req(), true],
    ['ALLOW with one empty rule allows all', [allow([{}])], req(), true],
    ['DENY with one empty rule denies all', [deny([{}])], req(), false],
    [
      'a DENY that does not match lets the ALLOW through',
      [allow([{}]), deny([{ to: [{ methods: ['POST'] }] }])],
      req(),
      true,
    ],
    [
      'DENY over ALLOW on the same request',
      [allow([{}]), deny([{ to: [{ methods: ['GET'] }] }])],
      req(),
      false,
    ],
    [
      'an ALLOW that does not match denies',
      [allow([{ to: [{ methods: ['POST'] }] }])],
      req(),
      false,
    ],
    [
      'any of two ALLOWs matching allows',
      [allow([{ to: [{ methods: ['POST'] }] }]), allow([{ to: [{ paths: ['/get'] }] }])],
      req(),
      true,
    ],
    ['AUDIT alone neither allows nor denies', [pol('AUDIT', [{}])], req(), true],
    ['dry-run DENY is not enforced', [deny([{}], { dryRun: true })], req(), true],
    ['dry-run ALLOW does not make others default-deny', [allow([], { dryRun: true })], req(), true],
  ],
  'methods and paths': [
    [
      'method exact',
      [allow([{ to: [{ methods: ['GET', 'HEAD'] }] }])],
      req({ method: 'HEAD' }),
      true,
    ],
    ['method is case-sensitive', [allow([{ to: [{ methods: ['get'] }] }])], req(), false],
    ['notMethods excludes', [allow([{ to: [{ notMethods: ['GET'] }] }])], req(), false],
    [
      'notMethods lets others through',
      [allow([{ to: [{ notMethods: ['DELETE'] }] }])],
      req(),
      true,
    ],
    ['path exact', [allow([{ to: [{ paths: ['/get'] }] }])], req(), true],
    [
      'path exact does not match a longer path',
      [allow([{ to: [{ paths: ['/get'] }] }])],
      req({ path: '/get/x' }),
      false,
    ],
    [
      'path prefix',
      [allow([{ to: [{ paths: ['/status/*'] }] }])],
      req({ path: '/status/418' }),
      true,
    ],
    ['path suffix', [allow([{ to: [{ paths: ['*.json'] }] }])], req({ path: '/a/b.json' }), true],
    ['path presence', [allow([{ to: [{ paths: ['*'] }] }])], req(), true],
    [
      'notPaths with prefix',
      [deny([{ to: [{ notPaths: ['/public/*'] }] }])],
      req({ path: '/public/x' }),
      true,
    ],
    [
      'notPaths denies the rest',
      [deny([{ to: [{ notPaths: ['/public/*'] }] }])],
      req({ path: '/private' }),
      false,
    ],
    [
      'template {*} one segment',
      [allow([{ to: [{ paths: ['/users/{*}/orders'] }] }])],
      req({ path: '/users/7/orders' }),
      true,
    ],
    [
      'template {*} not two segments',
      [allow([{ to: [{ paths: ['/users/{*}/orders'] }] }])],
      req({ path: '/users/7/8/orders' }),
      false,
    ],
    [
      'template {*} not empty',
      [allow([{ to: [{ paths: ['/users/{*}'] }] }])],
      req({ path: '/users/' }),
      false,
    ],
    [
      'template {**} many segments',
      [allow([{ to: [{ paths: ['/files/{**}'] }] }])],
      req({ path: '/files/a/b/c' }),
      true,
    ],
    [
      'template {**} needs one segment',
      [allow([{ to: [{ paths: ['/files/{**}'] }] }])],
      req({ path: '/files' }),
      false,
    ],
    [
      'bad template in ALLOW drops the rule',
      [allow([{ to: [{ paths: ['/a/{**}/b'] }] }])],
      req({ path: '/a/x/b' }),
      false,
    ],
    [
      'bad template in DENY is ignored (wider)',
      [deny([{ to: [{ paths: ['/a/{**}/b'] }] }])],
      req(),
      false,
    ],
    [
      'method AND path within one operation',
      [allow([{ to: [{ methods: ['POST'], paths: ['/get'] }] }])],
      req(),
      false,
    ],
    [
      'operations are OR-ed',
      [allow([{ to: [{ methods: ['POST'] }, { paths: ['/get'] }] }])],
      req(),
      true,
    ],
  ],
  'hosts and ports': [
    ['host matches without the port', [allow([{ to: [{ hosts: ['httpbin'] }] }])], req(), true],
    ['host is case-insensitive', [allow([{ to: [{ hosts: ['HTTPBIN:8000'] }] }])], req(), true],
    [
      'host suffix',
      [allow([{ to: [{ hosts: ['*.svc.cluster.local'] }] }])],
      req({ host: 'httpbin.default.svc.cluster.local' }),
      true,
    ],
    ['notHosts', [deny([{ to: [{ notHosts: ['httpbin'] }] }])], req({ host: 'evil' }), false],
    ['port', [allow([{ to: [{ ports: ['8000'] }] }])], req(), true],
    ['notPorts', [allow([{ to: [{ notPorts: ['8000'] }] }])], req(), false],
    ['bad port in ALLOW never matches', [allow([{ to: [{ ports: ['http'] }] }])], req(), false],
  ],
  sources: [
    [
      'principal exact without spiffe://',
      [allow([{ from: [{ principals: ['cluster.local/ns/default/sa/sleep'] }] }])],
      req(),
      true,
    ],
    [
      'principal with spiffe:// does not match',
      [allow([{ from: [{ principals: [SLEEP] }] }])],
      req(),
      false,
    ],
    [
      'principal prefix',
      [allow([{ from: [{ principals: ['cluster.local/ns/default/*'] }] }])],
      req(),
      true,
    ],
    [
      'principal presence rejects an unauthenticated peer',
      [allow([{ from: [{ principals: ['*'] }] }])],
      req({ sourcePrincipal: '' }),
      false,
    ],
    [
      'notPrincipals',
      [deny([{ from: [{ notPrincipals: ['cluster.local/ns/default/sa/sleep'] }] }])],
      req({ sourcePrincipal: CURL }),
      false,
    ],
    ['namespace', [allow([{ from: [{ namespaces: ['default'] }] }])], req(), true],
    [
      'namespace of another client',
      [allow([{ from: [{ namespaces: ['default'] }] }])],
      req({ sourcePrincipal: CURL }),
      false,
    ],
    ['notNamespaces', [deny([{ from: [{ notNamespaces: ['default'] }] }])], req(), true],
    [
      'serviceAccounts ns/sa',
      [allow([{ from: [{ serviceAccounts: ['other/curl'] }] }])],
      req({ sourcePrincipal: CURL }),
      true,
    ],
    ['trustDomains', [allow([{ from: [{ trustDomains: ['other.example'] }] }])], req(), false],
    ['ipBlocks CIDR', [allow([{ from: [{ ipBlocks: ['10.244.1.0/24'] }] }])], req(), true],
    ['ipBlocks single IP', [allow([{ from: [{ ipBlocks: ['10.244.2.9'] }] }])], req(), false],
    [
      'notIpBlocks',
      [deny([{ from: [{ notIpBlocks: ['10.244.0.0/16'] }] }])],
      req({ sourceIp: '192.0.2.1' }),
      false,
    ],
    [
      'bad CIDR in ALLOW never matches',
      [allow([{ from: [{ ipBlocks: ['10.0.0.0/33'] }] }])],
      req(),
      false,
    ],
    [
      'remoteIpBlocks use the XFF address',
      [allow([{ from: [{ remoteIpBlocks: ['203.0.113.0/24'] }] }])],
      req({ remoteIp: '203.0.113.9' }),
      true,
    ],
    [
      'requestPrincipals never match without JWT',
      [allow([{ from: [{ requestPrincipals: ['*'] }] }])],
      req(),
      false,
    ],
    [
      'notRequestPrincipals * denies requests without JWT',
      [deny([{ from: [{ notRequestPrincipals: ['*'] }] }])],
      req(),
      false,
    ],
    [
      'sources are OR-ed',
      [
        allow([
          { from: [{ namespaces: ['x'] }, { principals: ['cluster.local/ns/default/sa/sleep'] }] },
        ]),
      ],
      req(),
      true,
    ],
    [
      'fields in a source are AND-ed',
      [allow([{ from: [{ namespaces: ['default'], ipBlocks: ['192.0.2.0/24'] }] }])],
      req(),
      false,
    ],
    [
      'from AND to',
      [allow([{ from: [{ namespaces: ['default'] }], to: [{ methods: ['POST'] }] }])],
      req(),
      false,
    ],
  ],
  'when conditions': [
    [
      'request.headers value',
      [allow([{ when: [{ key: 'request.headers[X-Token]', values: ['abc'] }] }])],
      req(),
      true,
    ],
    [
      'request.headers prefix',
      [allow([{ when: [{ key: 'request.headers[user-agent]', values: ['curl/*'] }] }])],
      req(),
      true,
    ],
    [
      'request.headers absent header',
      [allow([{ when: [{ key: 'request.headers[x-missing]', values: ['*'] }] }])],
      req(),
      false,
    ],
    [
      'request.headers notValues',
      [deny([{ when: [{ key: 'request.headers[x-token]', notValues: ['abc'] }] }])],
      req(),
      true,
    ],
    ['source.ip', [allow([{ when: [{ key: 'source.ip', values: ['10.244.1.5'] }] }])], req(), true],
    [
      'source.namespace',
      [allow([{ when: [{ key: 'source.namespace', values: ['other'] }] }])],
      req(),
      false,
    ],
    [
      'source.principal',
      [
        allow([
          { when: [{ key: 'source.principal', values: ['cluster.local/ns/default/sa/sleep'] }] },
        ]),
      ],
      req(),
      true,
    ],
    [
      'destination.port',
      [allow([{ when: [{ key: 'destination.port', values: ['8000'] }] }])],
      req(),
      true,
    ],
    [
      'destination.ip',
      [allow([{ when: [{ key: 'destination.ip', values: ['10.96.0.0/16'] }] }])],
      req(),
      true,
    ],
    [
      'connection.sni absent',
      [allow([{ when: [{ key: 'connection.sni', values: ['*'] }] }])],
      req(),
      false,
    ],
    [
      'request.auth.claims never present',
      [allow([{ when: [{ key: 'request.auth.claims[iss]', values: ['x'] }] }])],
      req(),
      false,
    ],
    [
      'unknown keys are ignored',
      [allow([{ when: [{ key: 'experimental.envoy.filters.x', values: ['y'] }] }])],
      req(),
      true,
    ],
    [
      'all conditions must hold',
      [
        allow([
          {
            when: [
              { key: 'source.namespace', values: ['default'] },
              { key: 'destination.port', values: ['1'] },
            ],
          },
        ]),
      ],
      req(),
      false,
    ],
  ],
  targets: [
    [
      'Service-targeted applies to its service',
      [deny([{}], { target: { kind: 'Service', service: HTTPBIN } })],
      req(),
      false,
    ],
    [
      'Service-targeted skips another service',
      [
        deny([{}], {
          target: { kind: 'Service', service: 'default/other.default.svc.cluster.local' },
        }),
      ],
      req(),
      true,
    ],
    [
      'Service-targeted ALLOW does not default-deny other services',
      [
        allow([], {
          target: { kind: 'Service', service: 'default/other.default.svc.cluster.local' },
        }),
      ],
      req(),
      true,
    ],
    [
      'Service-targeted skips workload addressing',
      [deny([{}], { target: { kind: 'Service', service: HTTPBIN } })],
      req({ service: undefined }),
      true,
    ],
    [
      'GatewayClass-targeted applies to all',
      [deny([{}], { target: { kind: 'GatewayClass' } })],
      req({ service: undefined }),
      false,
    ],
  ],
  'TCP traffic through the waypoint': [
    [
      'ALLOW with methods never matches TCP',
      [allow([{ to: [{ methods: ['GET'] }] }])],
      tcp(),
      false,
    ],
    ['ALLOW with paths never matches TCP', [allow([{ to: [{ paths: ['*'] }] }])], tcp(), false],
    ['ALLOW with ports only matches TCP', [allow([{ to: [{ ports: ['9000'] }] }])], tcp(), true],
    [
      'ALLOW with principals matches TCP',
      [allow([{ from: [{ principals: ['cluster.local/ns/default/sa/sleep'] }] }])],
      tcp(),
      true,
    ],
    [
      'ALLOW mixing an HTTP-only source alternative drops the rule',
      [allow([{ from: [{ requestPrincipals: ['*'] }, { namespaces: ['default'] }] }])],
      tcp(),
      false,
    ],
    [
      'DENY with methods widens to all TCP',
      [deny([{ to: [{ methods: ['DELETE'] }] }])],
      tcp(),
      false,
    ],
    [
      'DENY with a header condition widens',
      [deny([{ when: [{ key: 'request.headers[x]', values: ['y'] }] }])],
      tcp(),
      false,
    ],
    [
      'DENY with methods and a non-matching port still needs the port',
      [deny([{ to: [{ methods: ['DELETE'], ports: ['1'] }] }])],
      tcp(),
      true,
    ],
    [
      'the same DENY on HTTP only denies DELETE',
      [deny([{ to: [{ methods: ['DELETE'] }] }])],
      req(),
      true,
    ],
    ['DENY notPaths widens on TCP', [deny([{ to: [{ notPaths: ['/public/*'] }] }])], tcp(), false],
  ],
};

let total = 0;
for (const [group, cases] of Object.entries(groups)) {
  void describe(group, () => {
    for (const [name, policies, request, allowed] of cases) {
      total++;
      test(name, () => {
        const d = authorize(policies.map(compilePolicy), request);
        assert.equal(d.allowed, allowed, `${name}: ${JSON.stringify(d)}`);
      });
    }
  });
}

void test('the matrix has at least 40 cases', () => {
  assert.ok(total >= 40, `only ${total} cases`);
});

void describe('decision details', () => {
  void test('names the denying policy', () => {
    const p = deny([{}]);
    const d = authorize([compilePolicy(p)], req());
    assert.equal(d.policy, `default/${p.name}`);
    assert.equal(d.reason, 'denied');
  });
  void test('dry-run results are reported', () => {
    const d = authorize([compilePolicy(deny([{}], { dryRun: true }))], req());
    assert.equal(d.dryRun.length, 1);
    assert.equal(d.dryRun[0]?.matched, true);
  });
  void test('warnings say what was dropped or ignored', () => {
    const c = compilePolicy(allow([{ to: [{ methods: ['GET'] }] }]));
    assert.ok(
      c.warnings.some((w) => w.startsWith('tcp: methods') && w.includes('dropped')),
      c.warnings.join(),
    );
  });
  void test('path templates compile and reject misuse', () => {
    assert.equal(pathMatcher('/a/{*}/c')('/a/b/c'), true);
    assert.throws(() => pathMatcher('/a/{**}/c'), { code: 'WAYPOINT_POLICY_PATH' });
    assert.throws(() => pathMatcher('/a/x{*}'), { code: 'WAYPOINT_POLICY_PATH' });
  });
});
