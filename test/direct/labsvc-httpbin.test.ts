import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startHttpbin, titleCase } from '../../src/lab/apps/httpbin.js';
import { parseStatusCodes, weightedChoice } from '../../src/lab/apps/httpbin-status.js';

const exec = promisify(execFile);
let srv: Awaited<ReturnType<typeof startHttpbin>>;
let base: string;

before(async () => {
  srv = await startHttpbin({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${srv.port}`;
});
after(() => srv.close());

async function curl(...args: string[]): Promise<{ status: number; headers: string; body: Buffer }> {
  const { stdout } = await exec('curl', ['-sS', '-i', '--max-time', '20', ...args], {
    encoding: 'buffer',
    maxBuffer: 64 * 1024 * 1024,
  });
  const split = stdout.indexOf('\r\n\r\n');
  const headers = stdout.subarray(0, split).toString('latin1');
  return { status: Number(headers.split(' ')[1]), headers, body: stdout.subarray(split + 4) };
}

const json = (b: Buffer) => JSON.parse(b.toString('utf8')) as Record<string, unknown>;

void test('/get: args, Title-Case headers, origin, url, sorted keys', async () => {
  const r = await curl('-H', 'x-b3-traceid: abc', '-A', 'curl/test', `${base}/get?a=1&a=2&b=x`);
  assert.equal(r.status, 200);
  assert.match(r.headers, /content-type: application\/json/i);
  const body = json(r.body);
  assert.deepEqual(Object.keys(body), ['args', 'headers', 'origin', 'url']);
  assert.deepEqual(body.args, { a: ['1', '2'], b: 'x' });
  assert.deepEqual(body.headers, {
    Accept: '*/*',
    Host: `127.0.0.1:${srv.port}`,
    'User-Agent': 'curl/test',
    'X-B3-Traceid': 'abc',
  });
  assert.equal(body.origin, '127.0.0.1');
  assert.equal(body.url, `${base}/get?a=1&a=2&b=x`);
  assert.ok(r.body.toString().startsWith('{\n  "args"'), 'pretty-printed like httpbin');
});

void test('/headers, /ip, X-Forwarded-For as origin and hidden by default', async () => {
  const h = json((await curl('-H', 'X-Forwarded-For: 10.244.2.8', `${base}/headers`)).body);
  assert.equal((h.headers as Record<string, string>)['X-Forwarded-For'], undefined);
  const shown = json(
    (await curl('-H', 'X-Forwarded-For: 10.244.2.8', `${base}/headers?show_env=1`)).body,
  );
  assert.equal((shown.headers as Record<string, string>)['X-Forwarded-For'], '10.244.2.8');
  assert.deepEqual(json((await curl(`${base}/ip`)).body), { origin: '127.0.0.1' });
  assert.deepEqual(json((await curl('-H', 'X-Forwarded-For: 10.244.2.8', `${base}/ip`)).body), {
    origin: '10.244.2.8',
  });
});

void test('/status/{code} and weighted choices', async () => {
  assert.equal((await curl(`${base}/status/503`)).status, 503);
  const teapot = await curl(`${base}/status/418`);
  assert.equal(teapot.status, 418);
  assert.match(teapot.body.toString(), /teapot/);
  const redirect = await curl(`${base}/status/302`);
  assert.match(redirect.headers, /location: \/redirect\/1/i);
  assert.equal((await curl(`${base}/status/abc`)).status, 400);
  const seen = new Set<number>();
  for (let i = 0; i < 40 && seen.size < 2; i++)
    seen.add((await curl(`${base}/status/200,404`)).status);
  assert.deepEqual([...seen].sort(), [200, 404]);
  assert.deepEqual(parseStatusCodes('200:0.9,503:0.1'), [
    { code: 200, weight: 0.9 },
    { code: 503, weight: 0.1 },
  ]);
  assert.equal(
    weightedChoice(parseStatusCodes('200:1,503:3')!, () => 0.5),
    503,
  );
  assert.equal(parseStatusCodes('99'), undefined);
});

void test('/bytes/{n}: exact length, reproducible with seed, capped', async () => {
  const a = await curl(`${base}/bytes/100000?seed=7`);
  const b = await curl(`${base}/bytes/100000?seed=7`);
  const c = await curl(`${base}/bytes/100000`);
  assert.equal(a.body.length, 100000);
  assert.match(a.headers, /content-type: application\/octet-stream/i);
  const sha = (x: Buffer) => createHash('sha256').update(x).digest('hex');
  assert.equal(sha(a.body), sha(b.body));
  assert.notEqual(sha(a.body), sha(c.body));
  assert.equal((await curl(`${base}/bytes/${100 * 1024 * 1024 + 1}`)).status, 400);
  const big = await curl(`${base}/bytes/${5 * 1024 * 1024}`);
  assert.equal(big.body.length, 5 * 1024 * 1024);
});

void test('/delay/{s}, /anything, /post, 404 and 405', async () => {
  const d = await curl(`${base}/delay/0.2?x=1`);
  assert.equal(d.status, 200);
  assert.deepEqual(json(d.body).args, { x: '1' });
  const any = json(
    (
      await curl(
        '-X',
        'PUT',
        '-H',
        'Content-Type: application/json',
        '-d',
        '{"k":[1,2]}',
        `${base}/anything/x?q=1`,
      )
    ).body,
  );
  assert.equal(any.method, 'PUT');
  assert.deepEqual(any.json, { k: [1, 2] });
  assert.equal(any.data, '{"k":[1,2]}');
  assert.equal(any.url, `${base}/anything/x?q=1`);
  const post = json((await curl('-d', 'a=1&b=2', `${base}/post`)).body);
  assert.deepEqual(post.form, { a: '1', b: '2' });
  assert.equal((await curl(`${base}/nope`)).status, 404);
  assert.equal((await curl('-X', 'POST', `${base}/get`)).status, 405);
  const root = await curl(`${base}/`);
  assert.match(root.body.toString(), /<h1>httpbin/);
});

void test('titleCase is Python str.title()', () => {
  assert.equal(titleCase('x-b3-traceid'), 'X-B3-Traceid');
  assert.equal(titleCase('user-agent'), 'User-Agent');
  assert.equal(titleCase('X-REQUEST-ID'), 'X-Request-Id');
});
