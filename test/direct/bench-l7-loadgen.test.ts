/**
 * The L7 bench's load generator and server on loopback: HTTP/1.1, HTTP/2 and gRPC unary
 * requests are answered and counted (open loop at a fixed rate, and closed loop), a failing
 * answer is an error not a sample, and bad options name themselves.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { L7UsageError, latency, max, parseL7Cli } from '../../bench/l7-loadgen.js';
import { startL7Servers, type L7Servers } from '../../bench/l7-server.js';

let servers: L7Servers;
before(async () => {
  servers = await startL7Servers('127.0.0.1', 0);
});
after(() => servers.close());

const opts = (proto: string, port: number, mode = 'latency') =>
  parseL7Cli([
    mode,
    '--url',
    `http://127.0.0.1:${port}/`,
    '--proto',
    proto,
    '--rate',
    '200',
    '--connections',
    '2',
    '--seconds',
    '0.5',
    '--warmup',
    '0.1',
  ]);

for (const proto of ['h1', 'h2', 'grpc'] as const) {
  void test(`${proto}: open loop at a fixed rate, every request answered`, async () => {
    const port = proto === 'h1' ? servers.h1Port : servers.h2Port;
    const r = await latency(opts(proto, port));
    assert.equal(r.errors, 0);
    assert.ok((r.requests as number) >= 50, `requests ${String(r.requests)}`);
    assert.ok(Number.isFinite(r.p99Ms) && (r.p99Ms as number) >= (r.p50Ms as number));
  });
}

void test('closed loop reports a rate', async () => {
  const r = await max(opts('h2', servers.h2Port, 'max'));
  assert.equal(r.errors, 0);
  assert.ok((r.perSecond as number) > 0);
});

void test('a server answering non-200 fails the run before the clock starts', async () => {
  const bad = http.createServer((_q, s) => {
    s.writeHead(503);
    s.end();
  });
  await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
  const port = (bad.address() as { port: number }).port;
  try {
    await assert.rejects(latency(opts('h1', port)), /status/);
  } finally {
    bad.closeAllConnections();
    await new Promise((r) => bad.close(r));
  }
});

void test('bad options are refused with their name', () => {
  assert.throws(() => parseL7Cli(['latency', '--url', 'ftp://x/']), L7UsageError);
  assert.throws(() => parseL7Cli(['latency', '--url', 'http://x/', '--proto', 'h3']), /--proto/);
  assert.throws(() => parseL7Cli(['latency', '--url', 'http://x/', '--rate', '0']), /--rate/);
  assert.throws(() => parseL7Cli(['burst']), /unknown mode/);
});
