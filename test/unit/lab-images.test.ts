import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { canonicalHeader } from '../../src/lab/apps/go-httpbin.js';
import { helloworldServer } from '../../src/lab/apps/helloworld.js';
import { startHttpbin } from '../../src/lab/apps/httpbin.js';
import { tcpEchoServers } from '../../src/lab/apps/tcp-echo.js';
import { imageName } from '../../src/lab/kubelet/images.js';
import { containerArgv } from '../../src/lab/kubelet/runner.js';
import { freePort } from '../helpers/net.js';

test('image names drop registry docker.io, library/, tag and digest', () => {
  assert.equal(imageName('docker.io/mccutchen/go-httpbin:v2.15.0'), 'mccutchen/go-httpbin');
  assert.equal(imageName('docker.io/library/nginx:1.25@sha256:abcd'), 'nginx');
  assert.equal(imageName('curlimages/curl'), 'curlimages/curl');
  assert.equal(imageName('localhost:5000/x/y:1'), 'localhost:5000/x/y');
});

test("the samples' images run a built-in app or their entrypoint", () => {
  const go = containerArgv({ name: 'h', image: 'docker.io/mccutchen/go-httpbin:v2.15.0' });
  assert.deepEqual(go.slice(-7), ['lab', 'app', 'httpbin', '--flavor', 'go', '--port', '8080']);
  assert.deepEqual(
    containerArgv({ name: 'c', image: 'docker.io/curlimages/curl:8.16.0', args: ['-s', 'x'] }),
    ['curl', '-s', 'x'],
  );
  assert.deepEqual(
    containerArgv({
      name: 'c',
      image: 'docker.io/curlimages/curl:8.16.0',
      command: ['/bin/sleep', 'infinity'],
    }),
    ['/bin/sleep', 'infinity'],
  );
  assert.deepEqual(
    containerArgv({
      name: 't',
      image: 'docker.io/istio/tcp-echo-server:1.3',
      args: ['9000', 'hello'],
    }).slice(-4),
    ['app', 'tcp-echo', '9000', 'hello'],
  );
  assert.throws(
    () => containerArgv({ name: 'x', image: 'example.com/none:1' }),
    (e: Error) =>
      /Failed to pull image "example.com\/none:1".*known images: .*mccutchen\/go-httpbin/.test(
        e.message,
      ),
  );
});

function get(port: number, path: string): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { 'X-B3-TraceId': ['a', 'b'] } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

test('go-httpbin shapes: lists, canonical names, method, origin; python routes otherwise', async () => {
  assert.equal(canonicalHeader('x-b3-TRACEID'), 'X-B3-Traceid');
  const srv = await startHttpbin({ host: '127.0.0.1', port: 0, flavor: 'go' });
  try {
    const r = await get(srv.port, '/get?a=1&a=2');
    const j = JSON.parse(r.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(j), ['args', 'headers', 'method', 'origin', 'url']);
    assert.deepEqual(j.args, { a: ['1', '2'] });
    assert.deepEqual((j.headers as Record<string, string[]>)['X-B3-Traceid'], ['a', 'b']);
    assert.equal(j.origin, '127.0.0.1');
    assert.equal(JSON.parse((await get(srv.port, '/hostname')).body).hostname, 'go-httpbin');
    assert.equal((await get(srv.port, '/status/418')).code, 418);
  } finally {
    await srv.close();
  }
});

test('helloworld and tcp-echo answer like the samples', async () => {
  const hw = helloworldServer('v2');
  await new Promise<void>((r) => hw.listen(0, '127.0.0.1', () => r()));
  // tcp-echo takes its ports as the sample's flag does (no 0): a free one, and a clash fails
  // at once instead of leaving the test waiting for 'listening'.
  const echoPort = await freePort('0.0.0.0');
  const [echo] = tcpEchoServers(String(echoPort), 'hello');
  try {
    const port = (hw.address() as net.AddressInfo).port;
    assert.match((await get(port, '/hello')).body, /^Hello version: v2, instance: .+\n$/);
    if (!echo!.listening)
      await new Promise<void>((resolve, reject) => {
        echo!.once('listening', () => resolve()).once('error', reject);
      });
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(echoPort, '127.0.0.1', () => s.end('one\ntwo\n'));
      let out = '';
      s.setEncoding('utf8').on('data', (d: string) => (out += d));
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });
    assert.equal(reply, 'hello one\nhello two\n');
    assert.throws(() => tcpEchoServers('x', 'p'), /tcp-echo ports must be 1-65535/);
  } finally {
    hw.close();
    echo?.close();
  }
});
