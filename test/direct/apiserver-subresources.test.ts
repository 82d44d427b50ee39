// The pod streaming subresources reach the handler filled into subresources.ts, for plain
// requests (kubectl logs) and for upgrades (kubectl exec), and answer 404 while none is there.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { resources } from '../../src/k8s/resources.js';
import { podStreamHandlers } from '../../src/lab/apiserver/subresources.js';
import { skipUnlessKubectl, startKubectlHarness, type KubectlHarness } from '../helpers/kubectl.js';

void describe('pod streaming subresources hook', { skip: skipUnlessKubectl }, () => {
  let h: KubectlHarness;
  // A started API server routes pod streams to its lab's kubelets (node-proxy.ts); this suite
  // tests the hook itself, so it takes those handlers out and puts them back afterwards.
  let saved: typeof podStreamHandlers = {};
  before(async () => {
    h = await startKubectlHarness('subresources');
    saved = { ...podStreamHandlers };
    for (const k of Object.keys(podStreamHandlers) as (keyof typeof podStreamHandlers)[])
      delete podStreamHandlers[k];
    await h.client.create(resources.pods, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default' },
      spec: { containers: [{ name: 'c', image: 'ambit/sleep' }] },
    });
  });
  after(async () => {
    delete podStreamHandlers.log;
    delete podStreamHandlers.exec;
    Object.assign(podStreamHandlers, saved);
    await h.close();
  });

  void test('without a handler, kubectl logs and exec get NotFound', async () => {
    const r = await h.kubectl('logs', 'p');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /the server could not find the requested resource/);
    const e = await h.kubectl('exec', 'p', '--', 'true');
    assert.notEqual(e.code, 0);
  });

  void test('a handler gets the pod and the query and answers kubectl logs', async () => {
    podStreamHandlers.log = {
      request: (_req, res, ctx) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`pod ${ctx.pod.metadata.name} container ${ctx.query.get('container')}\n`);
        return Promise.resolve();
      },
    };
    assert.equal(await h.ok('logs', 'p', '-c', 'c'), 'pod p container c\n');
    const r = await h.kubectl('logs', 'nope');
    assert.match(r.stderr, /pods "nope" not found/);
  });

  void test('an upgrade (kubectl exec over WebSocket) reaches the upgrade handler', async () => {
    let seen: { path?: string; upgrade?: string; protocols?: string } = {};
    podStreamHandlers.exec = {
      upgrade: (req, socket) => {
        seen = {
          path: req.url,
          upgrade: req.headers.upgrade,
          protocols: req.headers['sec-websocket-protocol'],
        };
        socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        return Promise.resolve();
      },
    };
    const r = await h.kubectl('exec', 'p', '--', 'echo', 'hi');
    assert.notEqual(r.code, 0);
    assert.match(seen.path ?? '', /^\/api\/v1\/namespaces\/default\/pods\/p\/exec\?/);
    assert.match(seen.path ?? '', /command=echo&command=hi/);
    assert.match(`${seen.upgrade}`, /websocket|SPDY/i);
    assert.ok(seen.protocols === undefined || /channel\.k8s\.io/.test(seen.protocols));
  });
});
