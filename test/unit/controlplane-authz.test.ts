/**
 * AuthorizationPolicy → Authorization, against docs/istio/ztunnel.md §5.1: scopes, every supported L4 field,
 * wildcards, HTTP-only rules in ALLOW (omitted) and DENY (kept without HTTP; an HTTP-only entry
 * leaves an empty match that never fires), CUSTOM/AUDIT, targetRef, invalid values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Match } from '../../src/api/workload.js';
import { emptyMatch } from '../../src/controlplane/model/authorization.js';
import { buildModel, type Model } from '../../src/controlplane/model/index.js';
import { decodeAuthorization, encodeAuthorization } from '../../src/xds/codec.js';
import { clusterYaml, snapshotOf } from '../helpers/xds-manifests.js';

function model(policyYaml: string): Model {
  return buildModel(snapshotOf(clusterYaml, policyYaml));
}

const m = (over: Partial<Match>): Match => ({ ...emptyMatch(), ...over });

function policy(name: string, ns: string, spec: string): string {
  return `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${ns}, uid: uid-${name}, generation: 1}
spec: ${spec}
`;
}

void test('scope: selector, namespace, root-namespace GLOBAL; selector attaches to workloads', () => {
  const out = model(
    policy(
      'sel',
      'default',
      '{selector: {matchLabels: {app: httpbin}}, action: ALLOW, rules: [{}]}',
    ) +
      policy('ns', 'default', '{action: DENY, rules: [{from: [{source: {namespaces: [foo]}}]}]}') +
      policy('root', 'istio-system', '{rules: [{from: [{source: {principals: ["*"]}}]}]}') +
      policy('root-sel', 'istio-system', '{selector: {matchLabels: {app: sleep}}, rules: [{}]}'),
  );
  const by = Object.fromEntries(out.authorizations.map((a) => [a.name, a]));
  assert.equal(by.sel?.scope, 'WORKLOAD_SELECTOR');
  assert.equal(by.ns?.scope, 'NAMESPACE');
  assert.equal(by.root?.scope, 'GLOBAL');
  assert.equal(by.root?.namespace, 'istio-system');
  assert.equal(by.root?.action, 'ALLOW', 'action defaults to ALLOW');
  // rules: [{}] is a rule with no clauses: it matches everything.
  assert.deepEqual(by.sel?.rules, [{ clauses: [] }]);
  const h = out.workloads.find((w) => w.name.startsWith('httpbin'))!;
  const s = out.workloads.find((w) => w.name.startsWith('sleep'))!;
  assert.deepEqual(h.authorizationPolicies, ['default/sel']);
  assert.deepEqual(
    s.authorizationPolicies,
    ['istio-system/root-sel'],
    'root-namespace selector applies mesh-wide',
  );
  assert.ok(out.reports.every((r) => r.accepted && r.reason === 'Accepted'));
});

void test('from.source, to.operation and when on L4 keys', () => {
  const out = model(
    policy(
      'full',
      'default',
      `
  action: ALLOW
  rules:
  - from:
    - source:
        principals: [cluster.local/ns/default/sa/sleep, "spiffe://cluster.local/ns/x/*"]
        notPrincipals: ["*/sa/evil"]
        namespaces: [default, "team-*"]
        notNamespaces: [kube-system]
        ipBlocks: [10.244.0.0/16, 10.1.2.3]
        notIpBlocks: [10.244.9.0/24]
    - source:
        serviceAccounts: [sleep, other/robot]
        notServiceAccounts: [default/bad]
    to:
    - operation: {ports: ["80", 8080], notPorts: ["9090"]}
    when:
    - {key: source.ip, values: [10.0.0.0/8], notValues: [10.9.9.9]}
    - {key: source.namespace, values: [default]}
    - {key: source.principal, notValues: [cluster.local/ns/default/sa/bad]}
    - {key: destination.ip, values: [10.244.1.7]}
    - {key: destination.port, values: ["80"]}
`,
    ),
  );
  const [a] = out.authorizations;
  assert.ok(a);
  assert.deepEqual(a.rules, [
    {
      clauses: [
        {
          matches: [
            m({
              principals: [
                { exact: 'cluster.local/ns/default/sa/sleep' },
                { prefix: 'cluster.local/ns/x/' },
              ],
              notPrincipals: [{ suffix: '/sa/evil' }],
              namespaces: [{ exact: 'default' }, { prefix: 'team-' }],
              notNamespaces: [{ exact: 'kube-system' }],
              sourceIps: [
                { address: '10.244.0.0', length: 16 },
                { address: '10.1.2.3', length: 32 },
              ],
              notSourceIps: [{ address: '10.244.9.0', length: 24 }],
            }),
            m({
              principals: [
                { exact: 'cluster.local/ns/default/sa/sleep' },
                { exact: 'cluster.local/ns/other/sa/robot' },
              ],
              notPrincipals: [{ exact: 'cluster.local/ns/default/sa/bad' }],
            }),
          ],
        },
        { matches: [m({ destinationPorts: [80, 8080], notDestinationPorts: [9090] })] },
        {
          matches: [
            m({
              sourceIps: [{ address: '10.0.0.0', length: 8 }],
              notSourceIps: [{ address: '10.9.9.9', length: 32 }],
            }),
          ],
        },
        { matches: [m({ namespaces: [{ exact: 'default' }] })] },
        { matches: [m({ notPrincipals: [{ exact: 'cluster.local/ns/default/sa/bad' }] })] },
        { matches: [m({ destinationIps: [{ address: '10.244.1.7', length: 32 }] })] },
        { matches: [m({ destinationPorts: [80] })] },
      ],
    },
  ]);
  assert.deepEqual(out.reports[0]?.reason, 'Accepted');
  assert.deepEqual(decodeAuthorization(encodeAuthorization(a)), a, 'codec round trip');
});

void test('HTTP-only rule in ALLOW is omitted (match-nothing) and reported', () => {
  const out = model(
    policy(
      'allow-get',
      'default',
      `
  action: ALLOW
  rules:
  - to: [{operation: {methods: [GET], ports: ["80"]}}]
  - from: [{source: {namespaces: [default]}}]
`,
    ),
  );
  const [a] = out.authorizations;
  assert.deepEqual(a?.rules, [
    { clauses: [{ matches: [m({ namespaces: [{ exact: 'default' }] })] }] },
  ]);
  const r = out.reports[0]!;
  assert.equal(r.reason, 'UnsupportedValue');
  assert.equal(r.accepted, false);
  assert.equal(r.sent, true);
  assert.match(r.message, /spec\.rules\[0\]\.to\[0\]\.operation\.methods/);
  assert.match(r.message, /more restrictive than requested/);

  // All rules HTTP-only → the ALLOW policy has no rules: it allows nothing.
  const only = model(
    policy('only-http', 'default', '{rules: [{when: [{key: "request.headers[x]", values: [a]}]}]}'),
  );
  assert.deepEqual(only.authorizations[0]?.rules, []);
  assert.match(only.reports[0]!.message, /key request\.headers\[x\]/);
});

void test('DENY keeps L4 parts; an HTTP-only entry becomes an empty match that never fires', () => {
  const mixed = model(
    policy(
      'deny-mixed',
      'default',
      '{action: DENY, rules: [{to: [{operation: {methods: [POST], ports: ["8080"]}}]}]}',
    ),
  );
  assert.deepEqual(mixed.authorizations[0]?.rules, [
    { clauses: [{ matches: [m({ destinationPorts: [8080] })] }] },
  ]);
  assert.equal(mixed.reports[0]?.reason, 'UnsupportedValue');
  assert.match(mixed.reports[0]!.message, /enforced without the HTTP attributes/);
  assert.doesNotMatch(mixed.reports[0]!.message, /never deny/);

  const httpOnly = model(
    policy(
      'deny-http',
      'default',
      '{action: DENY, rules: [{from: [{source: {namespaces: [foo]}}], to: [{operation: {paths: [/admin]}}]}]}',
    ),
  );
  const [a] = httpOnly.authorizations;
  assert.deepEqual(a?.rules, [
    {
      clauses: [{ matches: [m({ namespaces: [{ exact: 'foo' }] })] }, { matches: [emptyMatch()] }],
    },
  ]);
  assert.equal(a?.action, 'DENY');
  assert.match(httpOnly.reports[0]!.message, /rule\(s\) 0 .*empty match.*never deny at L4/);
  assert.deepEqual(
    decodeAuthorization(encodeAuthorization(a!)),
    a,
    'the empty match reaches ztunnel',
  );
});

void test('CUSTOM/AUDIT and targetRef are not sent and are reported', () => {
  const out = model(
    policy('custom', 'default', '{action: CUSTOM, provider: {name: ext}, rules: [{}]}') +
      policy('audit', 'default', '{action: AUDIT, rules: [{}]}') +
      policy(
        'wp',
        'default',
        '{targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}], rules: [{}]}',
      ),
  );
  assert.deepEqual(out.authorizations, []);
  const r = Object.fromEntries(out.reports.map((x) => [x.name, x]));
  assert.equal(r.custom?.reason, 'UnsupportedValue');
  assert.match(r.custom!.message, /does not support the CUSTOM action/);
  assert.match(r.audit!.message, /does not support the AUDIT action/);
  assert.equal(r.wp?.reason, 'NotApplicable');
});

void test('invalid policies: clear error naming the field, not sent', () => {
  const cases: [string, RegExp][] = [
    [
      '{rules: [{from: [{source: {ipBlocks: [10.0.0.0/33]}}]}]}',
      /spec\.rules\[0\]\.from\[0\]\.source\.ipBlocks\[0\]: "10\.0\.0\.0\/33" is not a valid/,
    ],
    ['{rules: [{from: [{source: {notIpBlocks: [not-an-ip]}}]}]}', /notIpBlocks\[0\]: "not-an-ip"/],
    [
      '{rules: [{to: [{operation: {ports: ["80", "http"]}}]}]}',
      /spec\.rules\[0\]\.to\[0\]\.operation\.ports\[1\]: "http" is not a port/,
    ],
    ['{rules: [{to: [{operation: {notPorts: [70000]}}]}]}', /notPorts\[0\]: 70000 is not a port/],
    [
      '{rules: [{when: [{key: destination.port, values: ["0"]}]}]}',
      /when\[0\]\.values\[0\]: "0" is not a port/,
    ],
    [
      '{rules: [{from: [{source: {principals: ["a*b*c"]}}]}]}',
      /principals\[0\]: wildcard only allowed/,
    ],
    ['{rules: [{when: [{key: source.ip}]}]}', /when source\.ip needs values or notValues/],
    ['{action: REJECT, rules: [{}]}', /spec\.action: unknown action "REJECT"/],
  ];
  for (const [spec, re] of cases) {
    const out = model(policy('bad', 'default', spec));
    assert.deepEqual(out.authorizations, [], spec);
    assert.equal(out.reports[0]?.reason, 'InvalidValue', spec);
    assert.match(out.reports[0]!.message, re);
  }
  // An invalid policy does not disturb the others.
  const mixed = model(
    policy('bad', 'default', '{rules: [{to: [{operation: {ports: [x]}}]}]}') +
      policy('good', 'default', '{action: DENY, rules: [{}]}'),
  );
  assert.deepEqual(
    mixed.authorizations.map((a) => a.name),
    ['good'],
  );
});
