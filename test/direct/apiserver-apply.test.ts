// Server-side apply against the lab API server: real kubectl (`apply --server-side`,
// `--force-conflicts`, `--dry-run=server`, `scale`, client-side `apply`) and the raw answers
// (managedFields per manager, the 409 Status of a conflict with its causes).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { resources } from '../../src/k8s/resources.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { skipUnlessKubectl, startKubectlHarness, type KubectlHarness } from '../helpers/kubectl.js';

interface Managed {
  manager: string;
  operation: string;
  apiVersion: string;
  subresource?: string;
  fieldsV1: Record<string, unknown>;
}
type Deploy = KubeObject<{
  replicas?: number;
  template?: { spec?: { containers?: { name: string; image?: string }[] } };
}> & { metadata: { managedFields?: Managed[] } };

const deployment = (name: string, replicas: number, labels: Record<string, string>): string =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default', labels },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'web', image: 'ambit/httpbin' }] },
      },
    },
  });

void describe('server-side apply', { skip: skipUnlessKubectl }, () => {
  let h: KubectlHarness;
  const get = (name: string): Promise<Deploy> =>
    h.client.get<Deploy>(resources.deployments, name, 'default');
  const managers = (d: Deploy): string[] =>
    (d.metadata.managedFields ?? []).map((m) => `${m.manager}/${m.operation}`).sort();
  const owned = (d: Deploy, manager: string): string =>
    JSON.stringify(d.metadata.managedFields?.find((m) => m.manager === manager)?.fieldsV1 ?? {});
  /** The raw answer of an apply PATCH. */
  const applyRaw = async (
    name: string,
    body: string,
    query: string,
  ): Promise<{ code: number; body: Record<string, unknown> }> => {
    const r = await fetch(
      `${h.server.urls[0]!}/apis/apps/v1/namespaces/default/deployments/${name}?${query}`,
      { method: 'PATCH', headers: { 'content-type': 'application/apply-patch+yaml' }, body },
    );
    return { code: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  before(async () => {
    h = await startKubectlHarness('apply');
  });
  after(async () => {
    await h.close();
  });

  void test('apply creates, records the manager, and co-owns equal values', async () => {
    const f = h.file('a.json', deployment('web', 2, { team: 'a', tier: 'front' }));
    assert.match(
      await h.ok('apply', '--server-side', '--field-manager=alice', '-f', f),
      /deployment.apps\/web serverside-applied/,
    );
    let d = await get('web');
    assert.deepEqual(managers(d), ['alice/Apply']);
    const fields = owned(d, 'alice');
    assert.match(fields, /"f:replicas":\{\}/);
    assert.match(fields, /"k:\{\\"name\\":\\"web\\"\}":\{"\.":\{\},"f:image":\{\},"f:name":\{\}\}/);
    assert.match(fields, /"f:labels":\{"\.":\{\},"f:team":\{\},"f:tier":\{\}\}/);
    // Defaults the server filled in are no one's.
    assert.doesNotMatch(fields, /revisionHistoryLimit|imagePullPolicy/);
    // Bob applies the same replicas and one label of his own: no conflict, both own replicas.
    const g = h.file('b.json', deployment('web', 2, { team: 'a', owner: 'bob' }));
    await h.ok('apply', '--server-side', '--field-manager=bob', '-f', g);
    d = await get('web');
    assert.deepEqual(managers(d), ['alice/Apply', 'bob/Apply']);
    assert.match(owned(d, 'bob'), /"f:replicas":\{\}/);
    assert.deepEqual(d.metadata.labels, { team: 'a', tier: 'front', owner: 'bob' });
    // Re-applying unchanged configuration changes nothing, not even the resourceVersion.
    await h.ok('apply', '--server-side', '--field-manager=bob', '-f', g);
    assert.equal((await get('web')).metadata.resourceVersion, d.metadata.resourceVersion);
  });

  void test('a different value is a 409 conflict naming the field and its manager', async () => {
    const body = deployment('web', 5, { team: 'b' });
    const r = await applyRaw('web', body, 'fieldManager=carol');
    assert.equal(r.code, 409);
    assert.equal(r.body.kind, 'Status');
    assert.equal(r.body.reason, 'Conflict');
    assert.equal(r.body.code, 409);
    const causes = (r.body.details as { causes: Record<string, string>[] }).causes;
    assert.deepEqual(causes.map((c) => `${c.reason} ${c.field} ${c.message}`).sort(), [
      'FieldManagerConflict .metadata.labels.team conflict with "alice"',
      'FieldManagerConflict .metadata.labels.team conflict with "bob"',
      'FieldManagerConflict .spec.replicas conflict with "alice"',
      'FieldManagerConflict .spec.replicas conflict with "bob"',
    ]);
    assert.match(
      String(r.body.message),
      /^Apply failed with 4 conflicts: conflicts with "alice":\n- \.metadata\.labels\.team\n- \.spec\.replicas\nconflicts with "bob":/,
    );
    // Through kubectl: its error shows the manager and the field; nothing was written.
    const f = h.file('c.json', deployment('web', 5, {}));
    const k = await h.kubectl('apply', '--server-side', '--field-manager=carol', '-f', f);
    assert.notEqual(k.code, 0);
    assert.match(
      k.stderr,
      /Apply failed with 2 conflicts: conflicts with "alice":\n- \.spec\.replicas/,
    );
    assert.equal((await get('web')).spec?.replicas, 2);
  });

  void test('--force-conflicts takes the fields over; dropped fields go unless co-owned', async () => {
    const f = h.file('c.json', deployment('web', 5, {}));
    const dry = await h.ok(
      'apply',
      '--server-side',
      '--force-conflicts',
      '--dry-run=server',
      '--field-manager=carol',
      '-f',
      f,
    );
    assert.match(dry, /serverside-applied \(server dry run\)/);
    assert.equal((await get('web')).spec?.replicas, 2);
    await h.ok('apply', '--server-side', '--force-conflicts', '--field-manager=carol', '-f', f);
    let d = await get('web');
    assert.equal(d.spec?.replicas, 5);
    assert.match(owned(d, 'carol'), /"f:replicas"/);
    assert.doesNotMatch(owned(d, 'alice'), /"f:replicas"/);
    assert.doesNotMatch(owned(d, 'bob'), /"f:replicas"/);
    // Alice stops applying her labels: `tier` (hers alone) goes, `team` (bob's too) stays.
    await h.ok(
      'apply',
      '--server-side',
      '--field-manager=alice',
      '-f',
      h.file('a2.json', deployment('web', 5, {})),
    );
    d = await get('web');
    assert.deepEqual(d.metadata.labels, { team: 'a', owner: 'bob' });
  });

  void test('an update takes ownership; client-side apply keeps working beside it', async () => {
    await h.ok('scale', 'deploy/web', '--replicas=7');
    let d = await get('web');
    const scale = d.metadata.managedFields?.find((m) => m.subresource === 'scale');
    assert.equal(scale?.operation, 'Update');
    assert.equal(scale?.manager, 'kubectl');
    const f = h.file('c.json', deployment('web', 5, {}));
    const k = await h.kubectl('apply', '--server-side', '--field-manager=carol', '-f', f);
    assert.match(
      k.stderr,
      /conflict with "kubectl" with subresource "scale" using apps\/v1: \.spec\.replicas/,
    );
    // Plain kubectl apply: last-applied annotation and its own manager.
    const csa = h.file('csa.json', deployment('csa', 1, { a: 'b' }));
    assert.match(await h.ok('apply', '-f', csa), /deployment.apps\/csa created/);
    await h.ok('apply', '-f', h.file('csa.json', deployment('csa', 3, { a: 'b' })));
    d = await get('csa');
    assert.equal(d.spec?.replicas, 3);
    assert.ok(d.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']);
    assert.deepEqual(managers(d), ['kubectl-client-side-apply/Update']);
    assert.match(
      await h.ok('apply', '-f', h.file('csa.json', deployment('csa', 1, { a: 'b' }))),
      /configured/,
    );
  });

  void test('apply needs a fieldManager; a dry-run create stores nothing', async () => {
    const r = await applyRaw('nope', deployment('nope', 1, {}), '');
    assert.equal(r.code, 400);
    assert.match(String(r.body.message), /fieldManager is required/);
    const dry = await applyRaw('dry', deployment('dry', 1, {}), 'fieldManager=x&dryRun=All');
    assert.equal(dry.code, 201);
    await assert.rejects(get('dry'), /404/);
  });
});
