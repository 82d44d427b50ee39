import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyPatch,
  jsonPatch,
  mergePatch,
  patchKindOf,
  strategicMergePatch,
} from '../../src/lab/apiserver/patch.js';
import { ApiError } from '../../src/lab/apiserver/status.js';

const pod = {
  metadata: { name: 'p', labels: { app: 'a', tier: 'web' }, annotations: { x: '1' } },
  spec: {
    containers: [
      { name: 'app', image: 'img:1', ports: [{ containerPort: 80 }, { containerPort: 81 }] },
      { name: 'side', image: 'side:1', env: [{ name: 'A', value: '1' }] },
    ],
  },
};

void test('merge patch: maps merge, null deletes, lists replace', () => {
  const out = mergePatch(pod, {
    metadata: { labels: { tier: null, new: 'yes' } },
    spec: { containers: [{ name: 'only' }] },
  }) as unknown as typeof pod;
  assert.deepEqual(out.metadata.labels, { app: 'a', new: 'yes' });
  assert.deepEqual(out.metadata.annotations, { x: '1' });
  assert.deepEqual(out.spec.containers, [{ name: 'only' }]);
  assert.equal(pod.metadata.labels.tier, 'web', 'the input is not modified');
});

void test('strategic merge: containers by name, container ports by containerPort', () => {
  const out = strategicMergePatch(pod, {
    metadata: { labels: { tier: null } },
    spec: {
      containers: [
        { name: 'side', image: 'side:2' },
        { name: 'app', ports: [{ containerPort: 82 }] },
        { name: 'extra', image: 'e' },
      ],
    },
  }) as unknown as typeof pod;
  assert.deepEqual(out.metadata.labels, { app: 'a' });
  assert.deepEqual(
    out.spec.containers.map((c) => [c.name, c.image]),
    [
      ['app', 'img:1'],
      ['side', 'side:2'],
      ['extra', 'e'],
    ],
  );
  assert.deepEqual(
    out.spec.containers[0]!.ports!.map((p) => p.containerPort),
    [80, 81, 82],
  );
  assert.deepEqual(out.spec.containers[1]!.env, [{ name: 'A', value: '1' }]);
});

void test('strategic merge directives kubectl sends', () => {
  const svc = {
    spec: {
      ports: [
        { name: 'http', port: 8000, targetPort: 80 },
        { name: 'grpc', port: 9000 },
      ],
      selector: { app: 'a', old: 'x' },
    },
  };
  // What kubectl apply computes when port 8000 becomes 8001 and grpc stays.
  const out = strategicMergePatch(svc, {
    spec: {
      '$setElementOrder/ports': [{ port: 9000 }, { port: 8001 }],
      ports: [
        { name: 'http', port: 8001, targetPort: 80 },
        { port: 8000, $patch: 'delete' },
      ],
      selector: { $patch: 'replace', app: 'b' },
    },
  } as unknown as Record<string, unknown>) as { spec: typeof svc.spec };
  assert.deepEqual(
    out.spec.ports.map((p) => p.port),
    [9000, 8001],
  );
  assert.deepEqual(out.spec.selector, { app: 'b' });
  const fin = strategicMergePatch(
    { metadata: { finalizers: ['a', 'b'] } },
    { metadata: { finalizers: ['c'], '$deleteFromPrimitiveList/finalizers': ['a'] } },
  );
  assert.deepEqual(fin, { metadata: { finalizers: ['b', 'c'] } });
  const replaced = strategicMergePatch(pod, {
    spec: { containers: [{ $patch: 'replace' }, { name: 'n' }] },
  }) as unknown as typeof pod;
  assert.deepEqual(replaced.spec.containers, [{ name: 'n' }]);
  const retained = strategicMergePatch(
    { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } },
    { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } },
  );
  assert.deepEqual(retained, { spec: { strategy: { type: 'Recreate' } } });
});

void test('JSON patch operations', () => {
  const out = jsonPatch(pod, [
    { op: 'add', path: '/metadata/labels/new', value: 'v' },
    { op: 'remove', path: '/metadata/labels/tier' },
    { op: 'replace', path: '/spec/containers/0/image', value: 'img:2' },
    { op: 'add', path: '/spec/containers/-', value: { name: 'third' } },
    { op: 'copy', from: '/metadata/labels/app', path: '/metadata/annotations/copied' },
    { op: 'move', from: '/metadata/annotations/x', path: '/metadata/annotations/y' },
    { op: 'test', path: '/metadata/name', value: 'p' },
    { op: 'add', path: '/metadata/annotations/a~1b', value: 'slash' },
  ]) as unknown as typeof pod & { metadata: { annotations: Record<string, string> } };
  assert.deepEqual(out.metadata.labels, { app: 'a', new: 'v' });
  assert.deepEqual(out.metadata.annotations, { copied: 'a', y: '1', 'a/b': 'slash' });
  assert.equal(out.spec.containers[0]!.image, 'img:2');
  assert.equal(out.spec.containers[2]!.name, 'third');
  assert.throws(
    () => jsonPatch(pod, [{ op: 'test', path: '/metadata/name', value: 'q' }]),
    ApiError,
  );
  assert.throws(() => jsonPatch(pod, [{ op: 'remove', path: '/nope/x' }]), ApiError);
  assert.throws(() => jsonPatch(pod, { op: 'add' }), ApiError);
});

void test('content types select the patch kind', () => {
  assert.equal(patchKindOf('application/merge-patch+json'), 'merge');
  assert.equal(patchKindOf('application/strategic-merge-patch+json; charset=utf-8'), 'strategic');
  assert.equal(patchKindOf('application/json-patch+json'), 'json');
  assert.equal(patchKindOf('application/apply-patch+yaml'), undefined);
  assert.throws(() => applyPatch('merge', pod, [1]), ApiError);
});
