// kubectl auth can-i against the lab API server: SelfSubjectAccessReview / SelfSubjectRulesReview
// (sent as protobuf by kubectl). The server authorizes every request, and says so.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { skipUnlessKubectl, startKubectlHarness, type KubectlHarness } from '../helpers/kubectl.js';

void describe('kubectl auth can-i', { skip: skipUnlessKubectl }, () => {
  let h: KubectlHarness;
  before(async () => {
    h = await startKubectlHarness('kubectl-auth');
  });
  after(() => h.close());

  void test('can-i answers yes for resources, subresources and non-resource URLs', async () => {
    assert.equal(
      (await h.ok('auth', 'can-i', 'create', 'deployments', '-n', 'default')).trim(),
      'yes',
    );
    assert.equal(
      (await h.ok('auth', 'can-i', 'get', 'pods/log', '-n', 'kube-system')).trim(),
      'yes',
    );
    assert.equal((await h.ok('auth', 'can-i', 'get', '/healthz')).trim(), 'yes');
    const r = await h.client.request<{ status: { allowed: boolean; reason: string } }>(
      'POST',
      '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { verb: 'delete', resource: 'nodes' } },
      },
    );
    assert.equal(r.status.allowed, true);
    assert.match(r.status.reason, /no RBAC/);
  });

  void test('can-i --list shows the rules', async () => {
    const out = await h.ok('auth', 'can-i', '--list');
    assert.match(out, /^Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs$/m);
    assert.match(out, /^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$/m);
  });

  void test('a review with neither attribute set is refused', async () => {
    await assert.rejects(
      h.client.request('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: {},
      }),
      /exactly one of spec\.resourceAttributes and spec\.nonResourceAttributes/,
    );
  });
});
