/**
 * A waypoint in-process between real curl / HTTP/2 / gRPC clients and real echo servers, with
 * real HBONE mutual TLS on both legs (test/helpers/waypoint-harness.ts): routing, filters,
 * per-request load balancing, timeouts, retries, mirrors, TCP passthrough, refusals.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { decodeMessage, ECHO_SERVICE, encodeMessage } from '../../src/lab/apps/echo.js';
import { HboneError } from '../../src/hbone/types.js';
import { httpRoute, grpcRoute, svcKey, tcpRoute, to } from '../helpers/waypoint-fixtures.js';
import { startHarness, VIP, WAYPOINT_ID, type Harness } from '../helpers/waypoint-harness.js';

const exec = promisify(execFile);

interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function curl(port: number, path: string, ...args: string[]): Promise<CurlResult> {
  const { stdout } = await exec(
    'curl',
    ['-sS', '-i', '--max-time', '20', ...args, `http://127.0.0.1:${port}${path}`],
    {
      maxBuffer: 1 << 24,
    },
  );
  const [head = '', ...rest] = stdout.split('\r\n\r\n');
  const lines = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(lines[0]?.split(' ')[1]), headers, body: rest.join('\r\n\r\n') };
}

/** `Key=Value` lines of the echo body. */
function echoFields(body: string): {
  get(k: string): string | undefined;
  all(k: string): string[];
} {
  const lines = body.split('\n');
  return {
    get: (k) => lines.find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1),
    all: (k) => lines.filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1)),
  };
}

const backendOf = (body: string) =>
  (echoFields(body).get('Hostname') ?? '').split('-').slice(0, 2).join('-');

void describe('waypoint HTTP data path', () => {
  let h: Harness;
  let echo80 = 0;
  before(async () => {
    h = await startHarness();
    echo80 = await h.tunnel(`${VIP.echo}:80`);
  });
  after(async () => {
    await h?.close();
  });

  test('no route: the service routes to itself, through HBONE with the waypoint identity', async () => {
    h.apply();
    const r = await curl(echo80, '/hello?x=1');
    assert.equal(r.status, 200);
    const f = echoFields(r.body);
    assert.match(f.get('Hostname') ?? '', /^echo-v[12]-/);
    assert.equal(f.get('URL'), '/hello?x=1');
    assert.equal(f.get('Host'), '127.0.0.1:' + echo80);
    const last = h.seenByZtunnelB.at(-1)!;
    assert.equal(last.peerIdentity, WAYPOINT_ID);
    assert.match(last.authority, /^127\.0\.0\.1[12]:\d+$/);
  });

  test('per-request load balancing on one keep-alive connection (weighted 70/30)', async () => {
    h.apply({
      httpRoutes: [
        httpRoute('split', [{ backends: [to('echo-v1', 8080, 70), to('echo-v2', 8080, 30)] }]),
      ],
    });
    const urls = Array.from({ length: 200 }, () => `http://127.0.0.1:${echo80}/`);
    // One curl process reuses one connection for all URLs.
    const { stdout } = await exec('curl', ['-sS', '--max-time', '60', ...urls], {
      maxBuffer: 1 << 24,
    });
    const hosts = stdout.split('\n').filter((l) => l.startsWith('Hostname='));
    assert.equal(hosts.length, 200);
    const v1 = hosts.filter((l) => l.includes('echo-v1')).length;
    // 70 % of 200 = 140; ±40 is > 6 standard deviations.
    assert.ok(v1 > 100 && v1 < 180, `echo-v1 got ${v1} of 200`);
  });

  test('path, header and method matches; unmatched requests get 404', async () => {
    h.apply({
      httpRoutes: [
        httpRoute('m', [
          { matches: [{ path: { type: 'PathPrefix', value: '/v2' } }], backends: [to('echo-v2')] },
          {
            matches: [{ headers: [{ type: 'Exact', name: 'version', value: 'one' }] }],
            backends: [to('echo-v1')],
          },
          { matches: [{ method: 'DELETE' }], backends: [to('echo-v2')] },
        ]),
      ],
    });
    assert.equal(backendOf((await curl(echo80, '/v2/x')).body), 'echo-v2');
    assert.equal(backendOf((await curl(echo80, '/', '-H', 'Version: one')).body), 'echo-v1');
    assert.equal(backendOf((await curl(echo80, '/', '-X', 'DELETE')).body), 'echo-v2');
    assert.equal((await curl(echo80, '/v2example')).status, 404);
  });

  test('request header modifier at rule and backend level, response header modifier', async () => {
    h.apply({
      httpRoutes: [
        httpRoute('hdr', [
          {
            filters: [
              {
                type: 'RequestHeaderModifier',
                requestHeaderModifier: {
                  set: [{ name: 'X-Header-Set', value: 'set-overwrites-values' }],
                  add: [{ name: 'X-Header-Add', value: 'add-appends-values' }],
                  remove: ['X-Header-Remove'],
                },
              },
              {
                type: 'ResponseHeaderModifier',
                responseHeaderModifier: { set: [{ name: 'X-Resp', value: 'from-route' }] },
              },
            ],
            backends: [
              to('echo-v1', 8080, 1, {
                filters: [
                  {
                    type: 'RequestHeaderModifier',
                    requestHeaderModifier: { add: [{ name: 'X-Backend', value: 'v1' }] },
                  },
                ],
              } as never),
            ],
          },
        ]),
      ],
    });
    const r = await curl(
      echo80,
      '/',
      '-H',
      'X-Header-Set: old',
      '-H',
      'X-Header-Add: some-other-value',
      '-H',
      'X-Header-Remove: x',
    );
    const f = echoFields(r.body);
    const hdr = f.all('RequestHeader');
    assert.ok(hdr.includes('X-Header-Set:set-overwrites-values'), hdr.join('|'));
    assert.deepEqual(
      hdr.filter((l) => l.startsWith('X-Header-Add:')),
      ['X-Header-Add:some-other-value', 'X-Header-Add:add-appends-values'],
    );
    assert.ok(!hdr.some((l) => l.startsWith('X-Header-Remove')));
    assert.ok(hdr.includes('X-Backend:v1'));
    assert.equal(r.headers['x-resp'], 'from-route');
  });

  test('redirects: status and Location', async () => {
    h.apply({
      httpRoutes: [
        httpRoute('r', [
          {
            matches: [{ path: { type: 'PathPrefix', value: '/port' } }],
            filters: [{ type: 'RequestRedirect', requestRedirect: { port: 8083 } }],
          },
          {
            matches: [{ path: { type: 'PathPrefix', value: '/scheme' } }],
            filters: [
              {
                type: 'RequestRedirect',
                requestRedirect: { scheme: 'https', hostname: 'example.org', statusCode: 301 },
              },
            ],
          },
          {
            matches: [{ path: { type: 'PathPrefix', value: '/see' } }],
            filters: [
              {
                type: 'RequestRedirect',
                requestRedirect: {
                  statusCode: 303,
                  path: { type: 'ReplacePrefixMatch', value: '/other' },
                },
              },
            ],
          },
        ]),
      ],
    });
    const a = await curl(echo80, '/port', '-H', 'Host: echo');
    assert.equal(a.status, 302);
    assert.equal(a.headers.location, 'http://echo:8083/port');
    const b = await curl(echo80, '/scheme?q=1', '-H', 'Host: echo');
    assert.equal(b.status, 301);
    assert.equal(b.headers.location, 'https://example.org/scheme?q=1');
    const c = await curl(echo80, '/see/x', '-H', 'Host: echo');
    assert.equal(c.status, 303);
    assert.equal(c.headers.location, 'http://echo/other/x');
  });

  test('URL rewrite: prefix and full path, hostname', async () => {
    h.apply({
      httpRoutes: [
        httpRoute('rw', [
          {
            matches: [{ path: { type: 'PathPrefix', value: '/prefix/one' } }],
            filters: [
              {
                type: 'URLRewrite',
                urlRewrite: { path: { type: 'ReplacePrefixMatch', value: '/one' } },
              },
            ],
            backends: [to('echo-v1', 80)],
          },
          {
            matches: [{ path: { type: 'PathPrefix', value: '/full' } }],
            filters: [
              {
                type: 'URLRewrite',
                urlRewrite: {
                  hostname: 'rewritten.example',
                  path: { type: 'ReplaceFullPath', value: '/one' },
                },
              },
            ],
            backends: [to('echo-v1', 80)],
          },
        ]),
      ],
    });
    const a = echoFields((await curl(echo80, '/prefix/one/two?k=v')).body);
    assert.equal(a.get('URL'), '/one/two?k=v');
    const b = echoFields((await curl(echo80, '/full/x/y')).body);
    assert.equal(b.get('URL'), '/one');
    assert.equal(b.get('Host'), 'rewritten.example');
  });

  test('timeouts: request (504) and backendRequest (504)', async () => {
    h.apply({
      httpRoutes: [
        httpRoute('t', [
          {
            matches: [{ path: { type: 'PathPrefix', value: '/slow' } }],
            backends: [to('echo-v1')],
            timeouts: { requestMs: 300 },
          },
          {
            matches: [{ path: { type: 'PathPrefix', value: '/backend' } }],
            backends: [to('echo-v1')],
            timeouts: { backendRequestMs: 300 },
            retry: { codes: [], attempts: 0 },
          },
          { backends: [to('echo-v1')], timeouts: { requestMs: 5000 } },
        ]),
      ],
    });
    const a = await curl(echo80, '/slow?delay=3s');
    assert.equal(a.status, 504);
    assert.match(a.body, /upstream request timeout/);
    assert.equal((await curl(echo80, '/backend?delay=3s')).status, 504);
    assert.equal((await curl(echo80, '/fast?delay=10ms')).status, 200);
  });

  test('retries: a pod whose node refuses the CONNECT is retried on another', async () => {
    const flaky = await h.tunnel(`${VIP.flaky}:80`);
    h.apply();
    for (let i = 0; i < 10; i++) {
      const r = await curl(flaky, '/');
      assert.equal(r.status, 200);
      assert.equal(backendOf(r.body), 'echo-v1');
    }
    assert.ok(
      h.seenByZtunnelB.some((s) => s.authority.startsWith('127.0.0.13:')),
      'the dead pod was tried',
    );
  });

  test('retries on the policy status codes, then give up with the last status', async () => {
    h.apply({
      httpRoutes: [
        httpRoute('rt', [{ backends: [to('echo-v1')], retry: { codes: [500], attempts: 2 } }]),
      ],
    });
    const before = h.seenByZtunnelB.length;
    const r = await curl(echo80, '/?codes=500');
    assert.equal(r.status, 500);
    // A 500 is retried twice; the keep-alive pool may reuse one CONNECT for all three.
    assert.ok(h.seenByZtunnelB.length - before <= 3);
    assert.ok(h.accessLog.at(-1)?.includes(' 500 URX via_upstream'), h.accessLog.at(-1));
  });

  test('request mirror sends a copy to the mirror service', async () => {
    h.apply({
      httpRoutes: [
        httpRoute('mirror', [
          {
            filters: [
              {
                type: 'RequestMirror',
                requestMirror: { backend: { service: svcKey('mirror'), port: 80 } },
              },
            ],
            backends: [to('echo-v1')],
          },
        ]),
      ],
    });
    const before = h.mirrorHits.length;
    assert.equal((await curl(echo80, '/mirrored')).status, 200);
    for (let i = 0; i < 50 && h.mirrorHits.length === before; i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(h.mirrorHits.at(-1), 'GET /mirrored HTTP/1.1');
  });

  test('h2c to an HTTP port (prior knowledge); sniffing h1, h2c and TCP on ports of unknown protocol', async () => {
    h.apply();
    const r = await curl(echo80, '/h2', '--http2-prior-knowledge');
    assert.equal(r.status, 200);
    assert.equal(echoFields(r.body).get('Proto'), 'HTTP/1.1', 'an http port is HTTP/1.1 upstream');
    // Unknown protocol: sniffed, and the upstream speaks what the client spoke.
    const h2 = await curl(
      await h.tunnel(`${VIP.echo}:8081`),
      '/sniffed-h2',
      '--http2-prior-knowledge',
    );
    assert.equal(echoFields(h2.body).get('Proto'), 'HTTP/2.0');
    assert.equal(echoFields(h2.body).get('URL'), '/sniffed-h2');
    const h1 = await curl(await h.tunnel(`${VIP.echo}:8082`), '/sniffed-h1');
    assert.equal(echoFields(h1.body).get('Proto'), 'HTTP/1.1');
    const raw = await h.tunnel(`${VIP.echo}:8083`);
    const got = await new Promise<string>((resolve, reject) => {
      const s = net.connect(raw, '127.0.0.1', () => s.end('\x16\x03\x01 not http\n'));
      let b = '';
      s.setEncoding('latin1');
      s.on('data', (d: string) => (b += d));
      s.on('end', () => resolve(b));
      s.on('error', reject);
    });
    assert.equal(got, '\x16\x03\x01 not http\n');
  });

  test('HTTP/2 client: many concurrent streams on one connection spread over both pods', async () => {
    h.apply();
    const session = http2.connect(`http://127.0.0.1:${echo80}`);
    try {
      const bodies = await Promise.all(
        Array.from(
          { length: 40 },
          (_, i) =>
            new Promise<string>((resolve, reject) => {
              const s = session.request({ ':path': `/s${i}` });
              let b = '';
              s.setEncoding('utf8');
              s.on('data', (d: string) => (b += d));
              s.on('end', () => resolve(b));
              s.on('error', reject);
              s.end();
            }),
        ),
      );
      const backends = new Set(bodies.map(backendOf));
      assert.deepEqual([...backends].sort(), ['echo-v1', 'echo-v2']);
    } finally {
      session.close();
    }
  });

  test('gRPC unary per-request split on one connection, and bidirectional streaming', async () => {
    h.apply({
      grpcRoutes: [
        grpcRoute('g', [{ backends: [to('echo-v1', 7070, 50), to('echo-v2', 7070, 50)] }]),
      ],
    });
    const port = await h.tunnel(`${VIP.echo}:7070`);
    const Client = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'EchoTestService');
    const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as grpc.Client &
      Record<string, (...a: unknown[]) => unknown>;
    try {
      const call = (i: number) =>
        new Promise<string>((resolve, reject) =>
          (c.Echo as (r: Buffer, cb: (e: Error | null, b?: Buffer) => void) => void)(
            encodeMessage(`m${i}`),
            (err, b) => (err ? reject(err) : resolve(decodeMessage(b!))),
          ),
        );
      const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => call(i)));
      assert.ok(replies.every((r) => r.includes('Proto=GRPC')));
      const hosts = new Set(replies.map((r) => /Hostname=(echo-v\d)/.exec(r)?.[1]));
      assert.deepEqual([...hosts].sort(), ['echo-v1', 'echo-v2']);
      const stream = (c.EchoStream as () => grpc.ClientDuplexStream<Buffer, Buffer>)();
      const got: string[] = [];
      stream.on('data', (b: Buffer) => got.push(decodeMessage(b)));
      const ended = new Promise<void>((r, j) => (stream.on('end', r), stream.on('error', j)));
      for (const w of ['a', 'b', 'c']) stream.write(encodeMessage(w));
      stream.end();
      await ended;
      assert.equal(got.length, 3);
      assert.match(got[0]!, /^echo-v[12]-\S+ a$/);
    } finally {
      c.close();
    }
  });

  test('TCP port: bytes pass through both ways', async () => {
    h.apply();
    const port = await h.tunnel(`${VIP.echo}:9090`);
    const got = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.end('ping over tcp'));
      let b = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (b += d));
      s.on('end', () => resolve(b));
      s.on('error', reject);
    });
    assert.equal(got, 'ping over tcp');
  });

  /** One TCP connection through the waypoint to echo:9090: what came back before the close. */
  const tcpEcho = async (port: number, line: string) =>
    new Promise<string>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.end(line));
      let b = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (b += d));
      s.on('close', () => resolve(b));
      s.on('error', (e: NodeJS.ErrnoException) =>
        e.code === 'ECONNRESET' ? resolve(b) : reject(e),
      );
    });

  test('TCPRoute: every connection goes to the backend it picks by weight', async () => {
    h.apply({ tcpRoutes: [tcpRoute('to-v2', [to('echo-v1', 9090, 0), to('echo-v2', 9090, 1)])] });
    const port = await h.tunnel(`${VIP.echo}:9090`);
    const from = h.accessLog.length;
    for (let i = 0; i < 6; i++) assert.equal(await tcpEcho(port, `tcp ${i}`), `tcp ${i}`);
    const lines = h.accessLog.slice(from).filter((l) => l.includes('"- - TCP"'));
    assert.equal(lines.length, 6, lines.join('\n'));
    const v2 = `127.0.0.12:${h.echoPorts.v2.tcp}`;
    for (const l of lines) {
      assert.ok(l.includes(v2), `not to echo-v2 (${v2}): ${l}`);
      assert.ok(l.includes('inbound-vip|9090|tcp|echo-v2.'), l);
    }
  });

  test('TCPRoute: no backend with weight, or an invalid one, refuses the connection', async () => {
    const port = await h.tunnel(`${VIP.echo}:9090`);
    for (const backends of [
      [to('echo-v1', 9090, 0)],
      [{ kind: 'invalid' as const, weight: 1, reason: 'service mesh/nope not found' }],
    ]) {
      h.apply({ tcpRoutes: [tcpRoute('refuse', backends)] });
      const from = h.accessLog.length;
      assert.equal(await tcpEcho(port, 'not echoed'), '');
      const line = h.accessLog.slice(from).find((l) => l.includes('"- - TCP"')) ?? '';
      assert.ok(line.includes(' NR route_not_found{'), line);
    }
  });

  test('targets it does not serve are refused with 400', async () => {
    await assert.rejects(
      h.connect('10.1.2.3:80'),
      (e: unknown) => e instanceof HboneError && e.status === 400,
    );
    await assert.rejects(
      h.connect(`${VIP.echo}:81`),
      (e: unknown) => e instanceof HboneError && e.status === 400,
    );
  });

  test('a bad config is rejected and the last good one keeps serving', async () => {
    h.apply();
    const before = h.waypoint.store.get()?.source.version;
    assert.throws(() => h.waypoint.store.apply({ version: 'bad', services: 'nope' }), {
      code: 'WAYPOINT_CONFIG_INVALID',
    });
    assert.equal(h.waypoint.store.get()?.source.version, before);
    assert.equal((await curl(echo80, '/')).status, 200);
  });
});
