// The lab API server's list and watch, seen by @kubernetes/client-node, by the repo's own
// KubeClient/Informer, and across a restart on the same state directory.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node';
import { KubeApiError, KubeClient } from '../../src/k8s/client.js';
import { Informer } from '../../src/k8s/informer.js';
import { resources } from '../../src/k8s/resources.js';
import type { KubeObject, WatchEvent } from '../../src/k8s/types.js';
import { startApiServer, type ApiServer } from '../../src/lab/apiserver/server.js';
import { createLogger } from '../../src/log.js';

const quiet = createLogger('apiserver', () => undefined);

function cm(name: string, data: Record<string, string> = {}): KubeObject & { data: object } {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data };
}

/** Resolves with the first `n` events of a watch, then stops it. */
function collect(
  client: KubeClient,
  opts: { resourceVersion?: string; timeoutSeconds?: number },
  n: number,
  pred: (ev: WatchEvent<KubeObject>) => boolean = () => true,
): Promise<WatchEvent<KubeObject>[]> {
  const ac = new AbortController();
  const got: WatchEvent<KubeObject>[] = [];
  const timer = setTimeout(() => ac.abort(), 10_000);
  return new Promise((resolve, reject) => {
    client
      .watch(
        resources.configmaps,
        { namespace: 'default', ...opts },
        (ev) => {
          if (!pred(ev)) return;
          got.push(ev);
          if (got.length === n) ac.abort();
        },
        ac.signal,
      )
      .then(
        () => {
          clearTimeout(timer);
          resolve(got);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err as Error);
        },
      );
  });
}

void describe('apiserver watch', () => {
  let dir: string;
  let server: ApiServer;
  let client: KubeClient;

  const start = async (extra: { historyLimit?: number } = {}): Promise<void> => {
    server = await startApiServer({
      stateDir: dir,
      listen: [{ host: '127.0.0.1', port: 0 }],
      log: quiet,
      bookmarkIntervalMs: 200,
      ...extra,
    });
    client = new KubeClient({ server: server.urls[0]! });
  };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ambit-apiserver-watch-'));
    await start();
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  void test('@kubernetes/client-node lists and watches', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'lab', server: server.urls[0]!, skipTLSVerify: true }],
      users: [{ name: 'lab' }],
      contexts: [{ name: 'lab', cluster: 'lab', user: 'lab' }],
      currentContext: 'lab',
    });
    const api = kc.makeApiClient(CoreV1Api);
    const list = await api.listNamespacedConfigMap({ namespace: 'default' });
    const rv = list.metadata?.resourceVersion;
    assert.ok(rv && /^\d+$/.test(rv), `list resourceVersion ${String(rv)}`);
    const names = (await api.listNamespace()).items.map((n) => n.metadata?.name);
    assert.deepEqual(names, ['default', 'istio-system', 'kube-public', 'kube-system']);

    const events: [string, string][] = [];
    let abort: AbortController | undefined;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no watch event in 10 s')), 10_000);
      void new Watch(kc)
        .watch(
          '/api/v1/namespaces/default/configmaps',
          { resourceVersion: rv },
          (type: string, obj: { metadata?: { name?: string } }) => {
            events.push([type, obj.metadata?.name ?? '']);
            if (type === 'DELETED') {
              clearTimeout(timer);
              resolve();
            }
          },
          () => undefined,
        )
        .then((a) => {
          abort = a;
          return client.create(resources.configmaps, cm('from-client-node', { a: '1' }));
        })
        .then(() =>
          client.patch(
            resources.configmaps,
            'from-client-node',
            { data: { a: '2' } },
            {
              namespace: 'default',
            },
          ),
        )
        .then(() => client.delete(resources.configmaps, 'from-client-node', 'default'))
        .catch(reject);
    });
    await done;
    abort?.abort();
    assert.deepEqual(events, [
      ['ADDED', 'from-client-node'],
      ['MODIFIED', 'from-client-node'],
      ['DELETED', 'from-client-node'],
    ]);
    const created = await api.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'typed' }, data: { k: 'v' } },
    });
    assert.equal(created.data?.k, 'v');
    assert.ok(created.metadata?.uid);
    await api.deleteNamespacedConfigMap({ name: 'typed', namespace: 'default' });
  });

  void test("the repo's Informer follows adds, updates and deletes", async () => {
    const inf = new Informer<KubeObject & { data?: Record<string, string> }>(
      client,
      resources.configmaps,
      { namespace: 'default', labelSelector: 'app=inf' },
    );
    const seen: string[] = [];
    inf.on('add', (o) => seen.push(`add ${o.metadata.name}`));
    inf.on('update', (o) => seen.push(`update ${o.metadata.name} ${o.data?.k ?? ''}`));
    inf.on('delete', (o) => seen.push(`delete ${o.metadata.name}`));
    await client.create(resources.configmaps, {
      ...cm('before'),
      metadata: { name: 'before', namespace: 'default', labels: { app: 'inf' } },
    });
    await inf.start();
    try {
      assert.deepEqual(seen, ['add before']);
      await client.create(resources.configmaps, { ...cm('other') });
      await client.create(resources.configmaps, {
        ...cm('inf-1', { k: '1' }),
        metadata: { name: 'inf-1', namespace: 'default', labels: { app: 'inf' } },
      });
      await client.patch(
        resources.configmaps,
        'inf-1',
        { data: { k: '2' } },
        { namespace: 'default' },
      );
      // Relabelling out of the selector is a delete for this watcher.
      await client.patch(
        resources.configmaps,
        'before',
        { metadata: { labels: { app: 'gone' } } },
        { namespace: 'default', type: 'strategic' },
      );
      await client.delete(resources.configmaps, 'inf-1', 'default');
      for (let i = 0; i < 100 && seen.length < 5; i++) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(seen, [
        'add before',
        'add inf-1',
        'update inf-1 2',
        'delete before',
        'delete inf-1',
      ]);
      assert.deepEqual(
        inf.list().map((o) => o.metadata.name),
        [],
      );
    } finally {
      await inf.stop();
    }
  });

  void test('bookmarks arrive and timeoutSeconds ends the stream', async () => {
    const evs = await collect(client, { timeoutSeconds: 2 }, 2, (e) => e.type === 'BOOKMARK');
    assert.equal(evs.length, 2);
    assert.match(evs[0]!.object.metadata.resourceVersion ?? '', /^\d+$/);
    const t0 = Date.now();
    const all = await collect(client, { timeoutSeconds: 1 }, 1000);
    assert.ok(Date.now() - t0 < 9000, 'the server ended the watch itself');
    assert.ok(
      all.some((e) => e.type === 'ADDED'),
      'an rv-less watch starts with the current state',
    );
  });

  void test('a restart keeps every object and watches resume from their resourceVersion', async () => {
    await client.create(resources.configmaps, cm('keep-1', { x: '1' }));
    const mid = await client.create(resources.configmaps, cm('keep-2'));
    const rv = mid.metadata.resourceVersion!;
    await client.create(resources.configmaps, cm('after-rv', { y: '1' }));
    await client.patch(
      resources.configmaps,
      'keep-1',
      { data: { x: '2' } },
      { namespace: 'default' },
    );
    const before = await client.list(resources.configmaps, { namespace: 'default' });
    await server.close();
    await start();
    const afterList = await client.list(resources.configmaps, { namespace: 'default' });
    assert.deepEqual(
      afterList.items.map((o) => [o.metadata.name, o.metadata.uid, o.metadata.resourceVersion]),
      before.items.map((o) => [o.metadata.name, o.metadata.uid, o.metadata.resourceVersion]),
    );
    assert.equal(afterList.metadata.resourceVersion, before.metadata.resourceVersion);
    const watching = collect(client, { resourceVersion: rv }, 3, (e) => e.type !== 'BOOKMARK');
    await new Promise((r) => setTimeout(r, 100));
    const fresh = await client.create(resources.configmaps, cm('after-restart'));
    assert.ok(Number(fresh.metadata.resourceVersion) > Number(before.metadata.resourceVersion));
    const evs = await watching;
    assert.deepEqual(
      evs.map((e) => [e.type, e.object.metadata.name]),
      [
        ['ADDED', 'after-rv'],
        ['MODIFIED', 'keep-1'],
        ['ADDED', 'after-restart'],
      ],
    );
  });

  void test('a watch from a compacted resourceVersion gets 410 Gone', async () => {
    await server.close();
    await start({ historyLimit: 3 });
    const first = await client.create(resources.configmaps, cm('old-1'));
    for (let i = 0; i < 5; i++) await client.create(resources.configmaps, cm(`churn-${i}`));
    await assert.rejects(
      collect(client, { resourceVersion: first.metadata.resourceVersion }, 1),
      (err: unknown) =>
        err instanceof KubeApiError && err.status === 410 && err.reason === 'Expired',
    );
    const cur = await client.list(resources.configmaps, { namespace: 'default' });
    const watching = collect(
      client,
      { resourceVersion: cur.metadata.resourceVersion },
      1,
      (e) => e.type !== 'BOOKMARK',
    );
    await new Promise((r) => setTimeout(r, 100));
    await client.delete(resources.configmaps, 'old-1', 'default');
    assert.deepEqual(
      (await watching).map((e) => [e.type, e.object.metadata.name]),
      [['DELETED', 'old-1']],
    );
  });
});
