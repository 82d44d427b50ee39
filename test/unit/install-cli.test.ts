/**
 * `ambit install` / `uninstall` as istioctl: its flags (-y, --skip-confirmation, -s, -c,
 * --readiness-timeout), refusals that name the flag or value (unknown flags, istioctl flags
 * ambit lacks, profiles other than ambient), and the components in istioctl's order.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { durationMs, options } from '../../src/cli/install.js';
import { checkFlags, kubeClientFor, normalizeArgs } from '../../src/cli/waypoint.js';
import { parseFlags } from '../../src/flags.js';
import { AmbitError } from '../../src/errors.js';
import { components, resourceName } from '../../src/install/components.js';
import { generateManifests } from '../../src/install/manifests.js';
import { applySets, defaultValues } from '../../src/install/values.js';

const refused = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof AmbitError && re.test(e.message));

void describe('ambit install flags', () => {
  void test("the guide's command and its short forms", () => {
    const o = options(['--set', 'profile=ambient', '--skip-confirmation']);
    assert.deepEqual(o.set, ['profile=ambient']);
    assert.equal(o['skip-confirmation'], true);
    const s = options(['-s', 'profile=ambient', '-y', '-c', '/k', '--context', 'x']);
    assert.equal(s['skip-confirmation'], true);
    assert.equal(s.kubeconfig, '/k');
    assert.equal(s.context, 'x');
    assert.equal(options(['-y', '--purge']).purge, true);
  });

  void test('unknown and unsupported flags are refused by name', () => {
    refused(() => options(['--sett', 'profile=ambient']), /--sett/);
    refused(() => options(['-f', 'op.yaml']), /flag -f is not supported/);
    refused(() => options(['--revision=canary']), /flag --revision is not supported/);
    refused(() => options(['extra']), /extra/);
  });

  void test('profiles other than ambient are refused, naming the profile', () => {
    refused(() => applySets(defaultValues(), ['profile=demo']), /profile=demo/);
    refused(() => applySets(defaultValues(), ['profil=ambient']), /profil=ambient/);
  });

  void test('readiness timeouts in istioctl spelling', () => {
    assert.equal(durationMs(undefined, 7), 7);
    assert.equal(durationMs('5m0s', 0), 300_000);
    assert.equal(durationMs('90s', 0), 90_000);
    assert.equal(durationMs('2m', 0), 120_000);
    refused(() => durationMs('soon', 0), /"soon"/);
  });
});

void describe('install components', () => {
  void test("istioctl's order, each object in exactly one", () => {
    const objs = generateManifests(defaultValues());
    const cs = components(objs);
    assert.deepEqual(
      cs.map((c) => c.done),
      [
        '✔ Istio core installed ⛵️',
        '✔ Istiod installed 🧠',
        '✔ CNI installed 🪢',
        '✔ Ztunnel installed 🔒️',
      ],
    );
    assert.equal(cs.flatMap((c) => c.objects).length, objs.length);
    const kinds = (n: string) => cs.find((c) => c.name === n)!.objects.map((o) => o.kind);
    assert.deepEqual(kinds('core'), ['Namespace', 'CustomResourceDefinition']);
    assert.ok(kinds('istiod').includes('Deployment'));
    assert.ok(kinds('cni').includes('DaemonSet'));
    assert.deepEqual(kinds('ztunnel'), ['ServiceAccount', 'DaemonSet']);
  });

  void test('resource names as kubectl api-resources lists them', () => {
    assert.equal(resourceName({ apiVersion: 'v1', kind: 'ServiceAccount' }), 'serviceaccounts');
    assert.equal(resourceName({ apiVersion: 'apps/v1', kind: 'DaemonSet' }), 'daemonsets.apps');
    assert.equal(
      resourceName({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding' }),
      'clusterrolebindings.rbac.authorization.k8s.io',
    );
  });
});

void describe('ambit waypoint: istioctl flags and cluster', () => {
  const flags = (...a: string[]) =>
    parseFlags(normalizeArgs(a), [
      'enroll-namespace',
      'overwrite',
      'wait',
      'all',
      'all-namespaces',
    ]);

  void test("the guide's flags pass, others are refused by name", () => {
    checkFlags(flags('--enroll-namespace', '--wait', '-n', 'default'));
    checkFlags(flags('--all', '-c', '/k', '--context', 'x', '-i', 'istio-system'));
    refused(() => checkFlags(flags('--enrol-namespace')), /--enrol-namespace/);
    refused(() => checkFlags(flags('-x')), /unknown flag -x/);
  });

  void test('--kubeconfig, else $KUBECONFIG, decides the cluster', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gd-kc-'));
    try {
      const kc = (server: string) =>
        `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${server}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`;
      writeFileSync(join(dir, 'a'), kc('https://10.0.0.1:6443'));
      writeFileSync(join(dir, 'b'), kc('https://10.0.0.2:6443'));
      const env = { KUBECONFIG: `${join(dir, 'missing')}:${join(dir, 'b')}` };
      assert.equal(kubeClientFor(flags(), env).server.host, '10.0.0.2:6443');
      assert.equal(kubeClientFor(flags('-c', join(dir, 'a')), env).server.host, '10.0.0.1:6443');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
