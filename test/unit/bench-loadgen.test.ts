import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { extname } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseCli, percentile, UsageError } from '../../bench/tools/loadgen.js';

// The sibling build of this test: bench/tools/loadgen.ts under tsx, dist/bench/tools/loadgen.js
// when compiled.
const ext = extname(fileURLToPath(import.meta.url));
const loadgen = fileURLToPath(new URL(`../../bench/tools/loadgen${ext}`, import.meta.url));

function cli(args: string[]) {
  const pre = ext === '.ts' ? ['--import', 'tsx'] : [];
  return spawnSync(process.execPath, [...pre, loadgen, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('bench loadgen', () => {
  it('percentile is nearest-rank on a sorted array', () => {
    const v = Float64Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    assert.equal(percentile(v, 50), 50);
    assert.equal(percentile(v, 90), 90);
    assert.equal(percentile(v, 99), 99);
    assert.equal(percentile(v, 100), 100);
    assert.equal(percentile(v, 0), 1);
    const three = Float64Array.from([10, 20, 30]);
    assert.equal(percentile(three, 50), 20);
    assert.equal(percentile(three, 99), 30);
    assert.equal(percentile(Float64Array.from([7]), 90), 7);
    assert.ok(Number.isNaN(percentile(new Float64Array(0), 50)));
  });

  it('parseCli fills defaults and reads every option', () => {
    assert.deepEqual(parseCli(['latency', '--host', '10.0.0.1']), {
      mode: 'latency',
      opts: {
        host: '10.0.0.1',
        port: 9000,
        rate: 1000,
        connections: 4,
        size: 1024,
        seconds: 20,
        warmup: 3,
      },
    });
    const c = parseCli(['connrate', '--port', '81', '--concurrency', '2', '--seconds', '0.5']);
    assert.deepEqual(c, {
      mode: 'connrate',
      opts: { host: '127.0.0.1', port: 81, concurrency: 2, seconds: 0.5 },
    });
  });

  it('parseCli rejects bad input with the offending option', () => {
    const bad: [string[], RegExp][] = [
      [[], /unknown mode ""/],
      [['flood'], /unknown mode "flood"/],
      [['latency', '--connections', '0'], /--connections must be an integer ≥ 1, got "0"/],
      [['latency', '--connections', '2.5'], /--connections must be an integer/],
      [['latency', '--rate', 'fast'], /--rate must be a number ≥ 1, got "fast"/],
      [['latency', '--rate', ''], /--rate must be a number/],
      [['latency', '--port', '70000'], /--port must be ≤ 65535/],
      [['latency', '--warmup', '-1'], /--warmup must be a number ≥ 0/],
      [['latency', '--concurrency', '3'], /unknown option "--concurrency" for latency/],
      [['connrate', '--rate', '3'], /unknown option "--rate" for connrate/],
      [['connrate', 'host'], /unknown option "host"/],
      [['connrate', '--host'], /--host needs a value/],
    ];
    for (const [args, re] of bad) {
      assert.throws(
        () => parseCli(args),
        (e: unknown) => e instanceof UsageError && re.test(e.message),
        args.join(' '),
      );
    }
  });

  it('the CLI exits 2 with the message on bad arguments, and 1 when it cannot connect', () => {
    const r = cli(['latency', '--connections', 'x']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^loadgen: --connections must be an integer ≥ 1, got "x"/);
    assert.equal(r.stdout, '');
    const u = cli(['nope']);
    assert.equal(u.status, 2);
    assert.match(u.stderr, /usage: loadgen latency/);
    // Port 1 on loopback: nothing listens there, the connect is refused at once.
    const c = cli(['latency', '--host', '127.0.0.1', '--port', '1', '--seconds', '1']);
    assert.equal(c.status, 1, c.stderr);
    assert.match(c.stderr, /loadgen: latency to 127\.0\.0\.1:1: .*ECONNREFUSED/);
  });
});
