import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { kinds } from '../../src/lab/apiserver/catalog.js';
import { Persistence } from '../../src/lab/apiserver/persist.js';
import { Registry } from '../../src/lab/apiserver/registry.js';
import { Store } from '../../src/lab/apiserver/store.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), 'ambit-apiserver-store-'));
  dirs.push(d);
  return d;
};
const cmKind = kinds.find((k) => k.kind === 'ConfigMap')!;
const evKind = kinds.find((k) => k.kind === 'Event')!;
const open = (dir: string, compactEvery = 1000) => {
  const store = new Store(new Persistence(dir), { compactEvery, historyLimit: 50 });
  return { store, reg: new Registry(store) };
};

void test('the log replays after a crash, ignoring a torn last line', () => {
  const dir = tmp();
  const a = open(dir);
  a.reg.bootstrap();
  a.reg.create(cmKind, 'default', { metadata: { name: 'one' }, data: { k: 'v' } });
  const rv = a.store.resourceVersion;
  // No close(): as if the process died. Then a half-written line at the end.
  appendFileSync(path.join(dir, 'events.jsonl'), '{"rv":999,"type":"ADD');
  const b = open(dir);
  assert.equal(b.store.resourceVersion, rv);
  assert.deepEqual(b.reg.get(cmKind, 'default', 'one').data, { k: 'v' });
  assert.equal(b.store.eventsSince(rv - 1)?.length, 1);
  b.store.close();
});

void test('compaction folds the log into the snapshot and keeps the history window', () => {
  const dir = tmp();
  const a = open(dir, 5);
  a.reg.bootstrap();
  for (let i = 0; i < 60; i++) a.reg.create(cmKind, 'default', { metadata: { name: `c${i}` } });
  assert.ok(readFileSync(path.join(dir, 'events.jsonl'), 'utf8').split('\n').length <= 6);
  const rv = a.store.resourceVersion;
  assert.equal(a.store.eventsSince(rv - 50)?.length, 50);
  assert.equal(a.store.eventsSince(rv - 51), undefined, 'older than the window');
  a.store.close();
  const b = open(dir, 5);
  assert.equal(b.store.resourceVersion, rv);
  assert.equal(b.reg.list(cmKind, 'default', () => true).length, 60);
  assert.equal(b.store.eventsSince(rv - 50)?.length, 50);
  b.store.close();
});

void test('old events expire', () => {
  const { store, reg } = open(tmp());
  reg.bootstrap();
  const old = new Date(Date.now() - 2 * 3600_000).toISOString();
  // involvedObject is required: built-in kinds are validated against their schema.
  const involvedObject = { kind: 'Pod', namespace: 'default', name: 'p' };
  reg.create(evKind, 'default', {
    metadata: { name: 'p.old' },
    involvedObject,
    lastTimestamp: old,
  });
  reg.create(evKind, 'default', {
    metadata: { name: 'p.new' },
    involvedObject,
    lastTimestamp: new Date().toISOString(),
  });
  assert.equal(reg.expireEvents(3600_000), 1);
  assert.deepEqual(
    reg.list(evKind, 'default', () => true).map((e) => e.metadata.name),
    ['p.new'],
  );
  store.close();
});

void test('standard namespaces only at first start; default ServiceAccounts at every start', () => {
  const dir = tmp();
  const nsKind = kinds.find((k) => k.kind === 'Namespace')!;
  const saKind = kinds.find((k) => k.kind === 'ServiceAccount')!;
  const a = open(dir);
  a.reg.bootstrap();
  assert.equal(a.reg.get(saKind, 'istio-system', 'default').metadata.name, 'default');
  a.reg.delete(nsKind, undefined, 'kube-public');
  a.reg.delete(saKind, 'istio-system', 'default');
  a.store.close();
  const b = open(dir);
  b.reg.bootstrap();
  assert.deepEqual(
    b.reg.list(nsKind, undefined, () => true).map((n) => n.metadata.name),
    ['default', 'istio-system', 'kube-system'],
  );
  assert.ok(b.reg.get(saKind, 'istio-system', 'default').metadata.uid);
  b.store.close();
});
