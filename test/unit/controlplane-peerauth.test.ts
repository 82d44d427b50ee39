/**
 * PeerAuthentication → Authorization (istiod's ambient translation, docs/istio/ztunnel.md §5.1), judged by
 * ztunnel's own RBAC: plaintext (no identity) and mTLS connections to each port, for mesh-wide,
 * namespace and workload policies, port-level exceptions, UNSET inheritance and DISABLE.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Workload } from '../../src/api/workload.js';
import { buildModel, type Model } from '../../src/controlplane/model/index.js';
import { STATIC_STRICT } from '../../src/controlplane/model/peer-authentication.js';
import { assertRbac } from '../../src/ztunnel/rbac.js';
import { clusterYaml, snapshotOf } from '../helpers/xds-manifests.js';

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';

function pa(ns: string, name: string, spec: string, created = '2026-01-01T00:00:00Z'): string {
  return `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "${created}"}
spec: ${spec}
`;
}

function httpbin(m: Model): Workload {
  const w = m.workloads.find((x) => x.name.startsWith('httpbin-'));
  assert.ok(w);
  return w;
}

/** Allowed? for plaintext and for mTLS, on a port. */
function verdicts(m: Model, port: number): { plaintext: boolean; mtls: boolean } {
  const store = {
    allPolicies: () => m.authorizations,
    policy: (n: string) => m.authorizations.find((a) => `${a.namespace}/${a.name}` === n),
  };
  const w = httpbin(m);
  const conn = { srcIp: '10.244.9.9', dstIp: '10.244.1.7', dstPort: port };
  return {
    plaintext: assertRbac(store, w, conn).allowed,
    mtls: assertRbac(store, w, { ...conn, srcIdentity: SLEEP }).allowed,
  };
}

const model = (...pas: string[]) => buildModel(snapshotOf(clusterYaml, ...pas));

void test('no PeerAuthentication: PERMISSIVE, nothing pushed', () => {
  const m = model();
  assert.deepEqual(verdicts(m, 80), { plaintext: true, mtls: true });
  assert.ok(!m.authorizations.some((a) => a.name === STATIC_STRICT));
});

void test('mesh-wide STRICT (root namespace): plaintext denied everywhere, mTLS admitted', () => {
  const m = model(pa('istio-system', 'default', '{mtls: {mode: STRICT}}'));
  assert.deepEqual(verdicts(m, 80), { plaintext: false, mtls: true });
  assert.deepEqual(verdicts(m, 9090), { plaintext: false, mtls: true });
  const s = m.authorizations.find((a) => a.name === STATIC_STRICT);
  assert.equal(s?.namespace, 'istio-system');
  assert.equal(s?.action, 'DENY');
  assert.deepEqual(s?.rules[0]?.clauses[0]?.matches[0]?.notPrincipals, [{ presence: true }]);
  assert.ok(httpbin(m).authorizationPolicies.includes(`istio-system/${STATIC_STRICT}`));
});

void test('namespace PERMISSIVE overrides a mesh-wide STRICT', () => {
  const m = model(
    pa('istio-system', 'default', '{mtls: {mode: STRICT}}'),
    pa('default', 'open', '{mtls: {mode: PERMISSIVE}}'),
  );
  assert.deepEqual(verdicts(m, 80), { plaintext: true, mtls: true });
});

void test('a workload policy beats its namespace; UNSET inherits the namespace mode', () => {
  const strictNs = pa('default', 'ns', '{mtls: {mode: STRICT}}');
  const open = pa(
    'default',
    'w',
    '{selector: {matchLabels: {app: httpbin}}, mtls: {mode: DISABLE}}',
  );
  assert.deepEqual(verdicts(model(strictNs, open), 80), { plaintext: true, mtls: true });
  const unset = pa('default', 'w', '{selector: {matchLabels: {app: httpbin}}}');
  assert.deepEqual(verdicts(model(strictNs, unset), 80), { plaintext: false, mtls: true });
  const other = pa('default', 'w', '{selector: {matchLabels: {app: nope}}, mtls: {mode: DISABLE}}');
  assert.deepEqual(verdicts(model(strictNs, other), 80), { plaintext: false, mtls: true });
});

void test('STRICT with two PERMISSIVE ports: only those ports take plaintext (istio #54146)', () => {
  const m = model(
    pa(
      'default',
      'w',
      `{selector: {matchLabels: {app: httpbin}}, mtls: {mode: STRICT},
        portLevelMtls: {"8080": {mode: PERMISSIVE}, "9090": {mode: DISABLE}}}`,
    ),
  );
  assert.deepEqual(verdicts(m, 80), { plaintext: false, mtls: true });
  assert.deepEqual(verdicts(m, 8080), { plaintext: true, mtls: true });
  assert.deepEqual(verdicts(m, 9090), { plaintext: true, mtls: true });
  assert.deepEqual(httpbin(m).authorizationPolicies, ['default/converted_peer_authentication_w']);
});

void test('PERMISSIVE with a STRICT port: only that port refuses plaintext', () => {
  const m = model(
    pa(
      'default',
      'w',
      `{selector: {matchLabels: {app: httpbin}}, mtls: {mode: PERMISSIVE},
        portLevelMtls: {"80": {mode: STRICT}, "8080": {mode: STRICT}, "bad": {mode: STRICT}}}`,
    ),
  );
  assert.deepEqual(verdicts(m, 80), { plaintext: false, mtls: true });
  assert.deepEqual(verdicts(m, 8080), { plaintext: false, mtls: true });
  assert.deepEqual(verdicts(m, 9090), { plaintext: true, mtls: true });
});

void test('the oldest of two matching workload policies wins; unknown modes are UNSET', () => {
  const older = pa(
    'default',
    'b-old',
    '{selector: {matchLabels: {app: httpbin}}, mtls: {mode: STRICT}}',
    '2025-01-01T00:00:00Z',
  );
  const newer = pa(
    'default',
    'a-new',
    '{selector: {matchLabels: {app: httpbin}}, mtls: {mode: PERMISSIVE}}',
  );
  assert.deepEqual(verdicts(model(newer, older), 80), { plaintext: false, mtls: true });
  const weird = pa('istio-system', 'default', '{mtls: {mode: "strict-ish"}}');
  assert.deepEqual(verdicts(model(weird), 80), { plaintext: true, mtls: true });
});
