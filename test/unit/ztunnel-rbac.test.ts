import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Authorization } from '../../src/api/workload.js';
import { assertRbac, cidrContains, matches } from '../../src/ztunnel/rbac.js';
import type { RbacConnection } from '../../src/ztunnel/rbac.js';
import { ZtunnelState } from '../../src/state/store.js';
import { policy, rule, workload } from '../../src/ztunnel/testing.js';

const sleep = 'spiffe://cluster.local/ns/default/sa/sleep';
const other = 'spiffe://cluster.local/ns/other/sa/curl';
const conn = (o: Partial<RbacConnection> = {}): RbacConnection => ({
  srcIp: '10.244.2.8',
  dstIp: '10.244.1.7',
  dstPort: 80,
  srcIdentity: sleep,
  ...o,
});

function stateWith(policies: Authorization[], selector: string[] = []) {
  const s = new ZtunnelState();
  const dst = workload('httpbin', '10.244.1.7', 'worker', { authorizationPolicies: selector });
  s.applyDelta({
    typeUrl: 't',
    version: '1',
    addresses: { added: [{ workload: dst }], removed: [] },
    authorizations: { added: policies, removed: [] },
  });
  return { s, dst };
}

void describe('matches', () => {
  const table: [string, Authorization, RbacConnection, boolean][] = [
    ['no rules never matches', policy('p', 'ALLOW', []), conn(), false],
    ['rule without clauses matches everything', policy('p', 'ALLOW', [rule()]), conn(), true],
    [
      'principal without spiffe:// prefix',
      policy('p', 'ALLOW', [
        rule([{ principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }] }]),
      ]),
      conn(),
      true,
    ],
    [
      'principal mismatch',
      policy('p', 'ALLOW', [rule([{ principals: [{ exact: 'cluster.local/ns/default/sa/x' }] }])]),
      conn(),
      false,
    ],
    [
      'principal suffix (*/sa/sleep)',
      policy('p', 'ALLOW', [rule([{ principals: [{ suffix: '/sa/sleep' }] }])]),
      conn(),
      true,
    ],
    [
      'principal prefix (cluster.local/ns/default/*)',
      policy('p', 'ALLOW', [rule([{ principals: [{ prefix: 'cluster.local/ns/default/' }] }])]),
      conn({ srcIdentity: other }),
      false,
    ],
    [
      'namespace from the peer identity',
      policy('p', 'DENY', [rule([{ namespaces: [{ exact: 'other' }] }])]),
      conn({ srcIdentity: other }),
      true,
    ],
    [
      'namespace needs an identity',
      policy('p', 'DENY', [rule([{ namespaces: [{ exact: 'other' }] }])]),
      conn({ srcIdentity: undefined }),
      false,
    ],
    [
      'notPrincipals presence matches plaintext (STRICT mTLS)',
      policy('p', 'DENY', [rule([{ notPrincipals: [{ presence: true }] }])]),
      conn({ srcIdentity: undefined }),
      true,
    ],
    [
      'notPrincipals presence does not match mTLS',
      policy('p', 'DENY', [rule([{ notPrincipals: [{ presence: true }] }])]),
      conn(),
      false,
    ],
    [
      'source CIDR',
      policy('p', 'ALLOW', [rule([{ sourceIps: [{ address: '10.244.2.0', length: 24 }] }])]),
      conn(),
      true,
    ],
    [
      'not source CIDR',
      policy('p', 'ALLOW', [rule([{ notSourceIps: [{ address: '10.244.2.0', length: 24 }] }])]),
      conn(),
      false,
    ],
    [
      'destination port',
      policy('p', 'ALLOW', [rule([{ destinationPorts: [8080] }])]),
      conn(),
      false,
    ],
    [
      'not destination port',
      policy('p', 'ALLOW', [rule([{ notDestinationPorts: [8080] }])]),
      conn(),
      true,
    ],
    [
      'fields of one match are AND-ed',
      policy('p', 'ALLOW', [
        rule([{ namespaces: [{ exact: 'default' }], destinationPorts: [81] }]),
      ]),
      conn(),
      false,
    ],
    [
      'matches of one clause are OR-ed',
      policy('p', 'ALLOW', [rule([{ destinationPorts: [81] }, { destinationPorts: [80] }])]),
      conn(),
      true,
    ],
    [
      'clauses of one rule are AND-ed',
      policy('p', 'ALLOW', [
        rule([{ destinationPorts: [80] }], [{ namespaces: [{ exact: 'x' }] }]),
      ]),
      conn(),
      false,
    ],
    [
      'rules are OR-ed',
      policy('p', 'ALLOW', [
        rule([{ destinationPorts: [81] }]),
        rule([{ destinationPorts: [80] }]),
      ]),
      conn(),
      true,
    ],
    // istiod turns an HTTP-only `to:` block into an empty Match; ztunnel skips it, so the clause
    // is false and such a DENY never fires (docs/istio/ztunnel.md §5.1, §8).
    ['HTTP-only converted DENY never matches', policy('p', 'DENY', [rule([{}])]), conn(), false],
    [
      'HTTP-only part dropped, L4 part kept',
      policy('p', 'DENY', [rule([{ principals: [{ suffix: '/sa/sleep' }] }], [{}])]),
      conn(),
      false,
    ],
    [
      'empty match skipped beside a real one',
      policy('p', 'DENY', [rule([{}, { destinationPorts: [80] }])]),
      conn(),
      true,
    ],
  ];
  for (const [name, p, c, want] of table) {
    void test(name, () => assert.equal(matches(p, c), want));
  }
});

void describe('assertRbac', () => {
  void test('no policies: allowed', () => {
    const { s, dst } = stateWith([]);
    assert.deepEqual(assertRbac(s, dst, conn()), { allowed: true });
  });

  void test('ALLOW only sleep: sleep allowed, other NotAllowed', () => {
    const { s, dst } = stateWith([
      policy('allow-sleep', 'ALLOW', [
        rule([{ principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }] }]),
      ]),
    ]);
    assert.deepEqual(assertRbac(s, dst, conn()), { allowed: true });
    assert.deepEqual(assertRbac(s, dst, conn({ srcIdentity: other })), {
      allowed: false,
      reason: 'NotAllowed',
    });
  });

  void test('DENY wins over ALLOW', () => {
    const { s, dst } = stateWith([
      policy('allow-all', 'ALLOW', [rule()]),
      policy('deny-ns', 'DENY', [rule([{ namespaces: [{ exact: 'default' }] }])]),
    ]);
    assert.deepEqual(assertRbac(s, dst, conn()), {
      allowed: false,
      reason: 'ExplicitlyDenied',
      policy: 'default/deny-ns',
    });
  });

  void test('ALLOW without rules allows nothing', () => {
    const { s, dst } = stateWith([policy('nothing', 'ALLOW', [])]);
    assert.equal(assertRbac(s, dst, conn()).allowed, false);
  });

  void test('dry-run policies only log', () => {
    const lines: string[] = [];
    const log = {
      info: (m: string) => lines.push(m),
      debug: () => undefined,
      warn: () => undefined,
      error: () => undefined,
      child: () => log,
    };
    const { s, dst } = stateWith([
      policy('deny-all', 'DENY', [rule()], { dryRun: true }),
      policy('allow-none', 'ALLOW', [], { dryRun: true }),
    ]);
    assert.deepEqual(assertRbac(s, dst, conn(), log), { allowed: true });
    assert.ok(lines.includes('dry-run policy would deny'));
  });

  void test('scope: other namespace ignored, GLOBAL and selector applied', () => {
    const denyAll = (name: string, o: Partial<Authorization>) => policy(name, 'DENY', [rule()], o);
    assert.equal(
      assertRbac(stateWith([denyAll('x', { namespace: 'other' })]).s, stateWith([]).dst, conn())
        .allowed,
      true,
    );
    const g = stateWith([denyAll('g', { namespace: 'istio-system', scope: 'GLOBAL' })]);
    assert.equal(assertRbac(g.s, g.dst, conn()).allowed, false);
    const unselected = stateWith([denyAll('sel', { scope: 'WORKLOAD_SELECTOR' })]);
    assert.equal(assertRbac(unselected.s, unselected.dst, conn()).allowed, true);
    const selected = stateWith([denyAll('sel', { scope: 'WORKLOAD_SELECTOR' })], ['default/sel']);
    assert.equal(assertRbac(selected.s, selected.dst, conn()).allowed, false);
  });
});

void test('cidrContains', () => {
  assert.ok(cidrContains({ address: '10.0.0.0', length: 8 }, '10.255.1.2'));
  assert.ok(!cidrContains({ address: '10.0.0.0', length: 8 }, '11.0.0.1'));
  assert.ok(cidrContains({ address: '10.244.2.8', length: 32 }, '10.244.2.8'));
  assert.ok(!cidrContains({ address: '10.244.2.8', length: 32 }, '10.244.2.9'));
  assert.ok(cidrContains({ address: '0.0.0.0', length: 0 }, '1.2.3.4'));
  assert.ok(!cidrContains({ address: '10.0.0.0', length: 8 }, 'junk'));
});
