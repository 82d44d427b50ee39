import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AmbitError } from '../../src/errors.js';
import { proxyRuntimeEnv } from '../../src/runtime/env.js';
import {
  DEFAULT_TRIM_INTERVAL_MS,
  MemoryTrimmer,
  MIN_GROWTH_BYTES,
  memoryMetricLines,
  trimIntervalFromEnv,
} from '../../src/runtime/memory.js';
import { glibcVersion, mallocTrim, mallocTrimSupported } from '../../src/sys/malloc.js';
import { Metrics } from '../../src/ztunnel/metrics.js';
import { WaypointMetrics } from '../../src/waypoint/telemetry/metrics.js';

const MB = 1024 * 1024;

/** A trimmer over a fake process: `rss` is what the test sets, a trim takes `gives` off it. */
function fake(o: { busy?: number; gives?: number; supported?: boolean; throws?: boolean } = {}) {
  const proc = { rss: 100 * MB, busy: o.busy ?? 0, calls: 0 };
  const t = new MemoryTrimmer({
    intervalMs: 1000,
    rss: () => proc.rss,
    busy: () => proc.busy,
    trim: () => {
      proc.calls++;
      if (o.throws) throw new AmbitError('SYS_MALLOC_TRIM_UNAVAILABLE', 'no symbol');
      proc.rss -= o.gives ?? 0;
      return { supported: o.supported ?? true, released: (o.gives ?? 0) > 0 };
    },
  });
  return { proc, t };
}

void test('trimmer: trims only after RSS grew by 4 MiB since the last trim', () => {
  const { proc, t } = fake({ gives: 30 * MB });
  assert.equal(t.tick(), 'small', 'no growth since start');
  proc.rss += MIN_GROWTH_BYTES - 1;
  assert.equal(t.tick(), 'small');
  proc.rss += 50 * MB;
  assert.equal(t.tick(), 'trimmed');
  assert.equal(proc.calls, 1);
  assert.equal(t.stats.trims, 1);
  assert.equal(t.stats.returnedBytes, 30 * MB);
  assert.equal(t.stats.baselineRss, proc.rss, 'growth is measured from after the trim');
  assert.equal(t.tick(), 'small');
});

void test('trimmer: RSS that fell on its own lowers the baseline', () => {
  const { proc, t } = fake({ gives: MB });
  proc.rss -= 20 * MB;
  assert.equal(t.tick(), 'small');
  proc.rss += 5 * MB; // 5 MiB above the new low, 15 below the start
  assert.equal(t.tick(), 'trimmed');
});

void test('trimmer: a busy loop (> 80 %) defers the trim and counts it', () => {
  const { proc, t } = fake({ busy: 0.95, gives: 10 * MB });
  proc.rss += 40 * MB;
  assert.equal(t.tick(), 'busy');
  assert.equal(t.stats.skippedBusy, 1);
  assert.equal(proc.calls, 0);
  proc.busy = 0.5;
  assert.equal(t.tick(), 'trimmed');
  assert.equal(proc.calls, 1);
});

void test('trimmer: returned bytes never go negative (RSS rose during the trim)', () => {
  const { proc, t } = fake({ gives: -2 * MB });
  proc.rss += 10 * MB;
  assert.equal(t.tick(), 'trimmed');
  assert.equal(t.stats.returnedBytes, 0);
});

void test('trimmer: off glibc, or with the symbol missing, it stops and says so', () => {
  const off = fake({ supported: false });
  off.proc.rss += 10 * MB;
  assert.equal(off.t.tick(), 'unsupported');
  assert.equal(off.t.stats.supported, false);
  off.proc.rss += 10 * MB;
  assert.equal(off.t.tick(), 'unsupported');
  assert.equal(off.proc.calls, 1, 'no second call');
  const missing = fake({ throws: true });
  missing.proc.rss += 10 * MB;
  assert.equal(missing.t.tick(), 'unsupported');
  assert.equal(missing.t.stats.trims, 0);
});

void test('AMBIT_MALLOC_TRIM_MS: default, 0 = off, junk is an AmbitError', () => {
  assert.equal(trimIntervalFromEnv({}), DEFAULT_TRIM_INTERVAL_MS);
  assert.equal(trimIntervalFromEnv({ AMBIT_MALLOC_TRIM_MS: '0' }), 0);
  assert.equal(trimIntervalFromEnv({ AMBIT_MALLOC_TRIM_MS: '5000' }), 5000);
  for (const v of ['30s', '-1', '1.5'])
    assert.throws(
      () => trimIntervalFromEnv({ AMBIT_MALLOC_TRIM_MS: v }),
      (e: unknown) => e instanceof AmbitError && e.code === 'RUNTIME_BAD_TRIM_INTERVAL',
    );
  const t = new MemoryTrimmer({ intervalMs: 0 });
  t.start(); // interval 0: no timer, nothing to stop
  t.stop();
});

void test('malloc_trim: real on glibc (this machine), a no-op elsewhere', () => {
  const r = mallocTrim();
  assert.equal(r.supported, glibcVersion() !== undefined);
  assert.equal(mallocTrimSupported(), r.supported);
});

void test('/metrics of ztunnel and waypoint carry the memory gauges and trim counters', () => {
  const t = new MemoryTrimmer({ intervalMs: 0 });
  const lines = memoryMetricLines(t);
  for (const name of [
    'process_resident_memory_bytes',
    'process_open_fds',
    'nodejs_heap_size_used_bytes',
    'nodejs_heap_size_total_bytes',
    'nodejs_external_memory_bytes',
    'nodejs_array_buffers_bytes',
    'ambit_malloc_trims_total',
    'ambit_malloc_trim_returned_bytes_total',
  ]) {
    assert.ok(lines.includes(`# TYPE ${name} ${name.endsWith('_total') ? 'counter' : 'gauge'}`));
    const v = lines.find((l) => l.startsWith(`${name} `));
    assert.ok(v && Number.isFinite(Number(v.split(' ')[1])), name);
  }
  const rss = Number(
    lines.find((l) => l.startsWith('process_resident_memory_bytes '))!.split(' ')[1],
  );
  assert.ok(rss > 10 * MB, 'a Node process has more than 10 MB resident');
  for (const text of [new Metrics().render(), new WaypointMetrics().render()]) {
    assert.match(text, /^process_resident_memory_bytes \d+$/m);
    assert.match(text, /^ambit_malloc_trims_total \d+$/m);
  }
});

void test('proxyRuntimeEnv: the V8 and glibc settings every proxy starts with', () => {
  assert.deepEqual(proxyRuntimeEnv(), [
    { name: 'NODE_OPTIONS', value: '--max-semi-space-size=2' },
    { name: 'MALLOC_ARENA_MAX', value: '2' },
  ]);
});
