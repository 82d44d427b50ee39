import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addedLatency,
  aggregate,
  latencySvg,
  markdown,
  runsSection,
  stat,
  targets,
  type Mode,
  type Sample,
} from '../../bench/report.js';

function sample(round: number, mode: Mode, workload: string, metrics: Record<string, number>) {
  return { round, mode, workload, metrics } satisfies Sample;
}

/** Three rounds of every workload with round-dependent figures. */
function fixture(): Sample[] {
  const s: Sample[] = [];
  for (const round of [1, 2, 3]) {
    s.push(sample(round, 'direct', 'iperf-1', { gbps: 10 + round }));
    s.push(sample(round, 'mesh', 'iperf-1', { gbps: 1 + round / 10, peakRssMb: 90 }));
    s.push(sample(round, 'stunnel', 'iperf-1', { gbps: 2 }));
    s.push(sample(round, 'direct', 'latency-4', { p50Ms: 0.1, p90Ms: 0.2, p99Ms: 1 }));
    s.push(
      sample(round, 'mesh', 'latency-4', {
        p50Ms: 0.4,
        p90Ms: 0.8,
        p99Ms: 3,
        peakRssMb: 60 + round,
      }),
    );
    s.push(sample(round, 'stunnel', 'latency-4', { p50Ms: 0.3, p90Ms: 0.5, p99Ms: 2 }));
    s.push(sample(round, 'mesh', 'latency-16', { p50Ms: 0.5, peakRssMb: 70 }));
    s.push(sample(round, 'mesh', 'connrate', { perSecond: 700 }));
    s.push(sample(round, 'stunnel', 'connrate', { perSecond: 1000 }));
  }
  return s;
}

describe('bench report', () => {
  it('stat: median of odd and even counts, min, max; non-finite values dropped', () => {
    assert.deepEqual(stat([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
    assert.deepEqual(stat([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4, n: 4 });
    assert.deepEqual(stat([NaN, 5, Infinity]), { median: 5, min: 5, max: 5, n: 1 });
    assert.equal(stat([]).n, 0);
    assert.ok(Number.isNaN(stat([]).median));
  });

  it('aggregate groups by workload, metric and mode, skipping non-numbers', () => {
    const s = aggregate([
      ...fixture(),
      { round: 1, mode: 'mesh', workload: 'x', metrics: { label: 'text' as unknown as number } },
    ]);
    assert.equal(s['iperf-1']?.gbps?.direct?.median, 12);
    assert.equal(s['iperf-1']?.gbps?.mesh?.min, 1.1);
    assert.equal(s['iperf-1']?.gbps?.mesh?.max, 1.3);
    assert.equal(s['latency-4']?.peakRssMb?.mesh?.median, 62);
    assert.equal(s['latency-4']?.p50Ms?.direct?.n, 3);
    assert.equal(s.x, undefined);
  });

  it('targets compute the ratios of the issue and judge them', () => {
    const t = targets(aggregate(fixture()));
    const by = Object.fromEntries(t.map((x) => [x.name.split(',')[0], x]));
    // 1.2 / 2
    assert.equal(by['single-stream throughput']?.measured, 0.6);
    assert.equal(by['single-stream throughput']?.met, false);
    // (0.4 - 0.1) / (0.3 - 0.1) = 1.5: over issue 15's 1.2
    assert.equal(by['p50 added over direct at 1000 req/s (4 conns)']?.measured, 1.5);
    assert.equal(by['p50 added over direct at 1000 req/s (4 conns)']?.met, false);
    assert.equal(by['new connections per second']?.measured, 0.7);
    assert.equal(by['new connections per second']?.met, true);
    // the larger of latency-4 (62) and latency-16 (70), over 64
    assert.equal(by['ztunnel peak RSS under the latency runs (MB)']?.measured, 70);
    assert.equal(by['ztunnel peak RSS under the latency runs (MB)']?.met, false);
  });

  it('a target whose inputs were not measured is NaN and not met', () => {
    const t = targets(aggregate(fixture().filter((x) => x.workload !== 'connrate')));
    const conn = t.find((x) => x.name.startsWith('new connections'));
    assert.ok(Number.isNaN(conn?.measured));
    assert.equal(conn?.met, false);
    // without latency-16 the RSS target still uses latency-4
    const rss = targets(aggregate(fixture().filter((x) => x.workload !== 'latency-16'))).find((x) =>
      x.name.includes('RSS'),
    );
    assert.equal(rss?.measured, 62);
  });

  it('addedLatency subtracts direct from mesh and stunnel per percentile', () => {
    const rows = addedLatency(aggregate(fixture())).filter((r) => r.workload === 'latency-4');
    assert.deepEqual(
      rows.map((r) => [r.pct, +r.mesh.toFixed(3), +r.stunnel.toFixed(3), +r.ratio.toFixed(3)]),
      [
        ['p50', 0.3, 0.2, 1.5],
        ['p90', 0.6, 0.3, 2],
        ['p99', 2, 1, 2],
      ],
    );
  });

  it('markdown carries meta, targets, added latency and the figures with ratios', () => {
    const md = markdown(aggregate(fixture()), { commit: 'abc1234', command: 'npm run bench' });
    assert.match(md, /^# ambit benchmark/);
    assert.match(md, /- commit: abc1234/);
    assert.match(
      md,
      /\| single-stream throughput, mesh\/stunnel \| 0\.60 \| ≥ 1\.0 \| \*\*no\*\* \|/,
    );
    assert.match(md, /\| new connections per second, mesh\/stunnel \| 0\.70 \| ≥ 0\.7 \| yes \|/);
    assert.match(md, /\| latency-4 \| p50 \| 0\.300 \| 0\.200 \| 1\.50 \|/);
    // median (min–max), then mesh/direct 1.2/12 and mesh/stunnel 1.2/2
    assert.match(
      md,
      /\| iperf-1 \| gbps \| 12\.00 \(11\.00–13\.00\) \| 1\.20 \(1\.10–1\.30\) \| 2\.00 \(2\.00–2\.00\) \| 0\.10 \| 0\.60 \|/,
    );
    // a mode without the metric shows a dash
    assert.match(md, /\| connrate \| perSecond \| – \| 700\.00/);
  });

  it('markdown shows one round without a range and says when a target was not measured', () => {
    const one = fixture().filter((x) => x.round === 1 && x.workload !== 'connrate');
    const md = markdown(aggregate(one), {});
    assert.match(md, /\| iperf-1 \| gbps \| 11\.00 \| 1\.10 \| 2\.00 \|/);
    assert.match(md, /new connections per second, mesh\/stunnel \| – \| ≥ 0\.7 \| not measured \|/);
  });

  it('mesh-ebpf: its own table against mesh, a fourth bar; absent without it', () => {
    const withEbpf = [
      ...fixture(),
      ...[1, 2, 3].flatMap((round) => [
        sample(round, 'mesh-ebpf', 'iperf-1', { gbps: 1.8 }),
        sample(round, 'mesh-ebpf', 'latency-4', { p50Ms: 0.3, p90Ms: 0.6, p99Ms: 2 }),
      ]),
    ];
    const md = markdown(aggregate(withEbpf), {});
    assert.match(md, /## eBPF redirection against iptables \(mesh-ebpf vs mesh\)/);
    // mesh 1.2 median, mesh-ebpf 1.8: ratio 1.50
    assert.match(
      md,
      /\| iperf-1 \| gbps \| 1\.20 \(1\.10–1\.30\) \| 1\.80 \(1\.80–1\.80\) \| 1\.50 \|/,
    );
    assert.match(
      md,
      /\| latency-4 \| p50Ms \| 0\.40 \(0\.40–0\.40\) \| 0\.30 \(0\.30–0\.30\) \| 0\.75 \|/,
    );
    assert.doesNotMatch(markdown(aggregate(fixture()), {}), /mesh-ebpf/);
    const svg = latencySvg(aggregate(withEbpf));
    assert.equal((svg.match(/<rect /g) ?? []).length, 2 * 3 * 4 + 4 + 1);
    assert.match(svg, />mesh-ebpf</);
  });

  it('mesh-baseline: a "this commit vs baseline" table, mesh/mesh-baseline; absent without it', () => {
    const withBaseline = [
      ...fixture(),
      ...[1, 2, 3].flatMap((round) => [
        sample(round, 'mesh-baseline', 'iperf-1', { gbps: 0.6 }),
        sample(round, 'mesh-baseline', 'latency-4', { p50Ms: 0.5, p90Ms: 1, p99Ms: 4 }),
      ]),
    ];
    const md = markdown(aggregate(withBaseline), { baseline: 'HEAD~2 = abc1234' });
    assert.match(md, /## This commit vs baseline \(mesh vs mesh-baseline\)/);
    assert.match(md, /baseline's build \(HEAD~2 = abc1234\)/);
    // mesh 1.2 against the baseline's 0.6: 2.00 (this commit moves twice as much)
    assert.match(
      md,
      /\| iperf-1 \| gbps \| 0\.60 \(0\.60–0\.60\) \| 1\.20 \(1\.10–1\.30\) \| 2\.00 \|/,
    );
    assert.match(
      md,
      /\| latency-4 \| p50Ms \| 0\.50 \(0\.50–0\.50\) \| 0\.40 \(0\.40–0\.40\) \| 0\.80 \|/,
    );
    // Only workloads the baseline ran: connrate has no mesh-baseline row.
    const table = md.slice(md.indexOf('## This commit vs baseline'));
    assert.doesNotMatch(table, /connrate/);
    assert.doesNotMatch(markdown(aggregate(fixture()), {}), /mesh-baseline/);
    assert.match(latencySvg(aggregate(withBaseline)), />mesh-baseline</);
  });

  it('runsSection: the capture deltas per mode and workload, then every failed run', () => {
    const runs = [1, 2, 3].map((round) => ({
      ...sample(round, 'mesh', 'iperf-1', { gbps: 1 }),
      capture: {
        'worker2 iptables TPROXY :15001': 100 * round,
        'worker iptables TPROXY :15008': 7,
      },
    }));
    const md = runsSection(
      [...runs, sample(1, 'stunnel', 'iperf-1', { gbps: 2 })],
      [{ round: 2, mode: 'mesh-ebpf', workload: 'iperf-1', error: 'counters did not move: a | b' }],
    ).join('\n');
    assert.match(md, /## Capture evidence/);
    assert.match(md, /3 runs passed the check, 0 failed it/);
    assert.match(
      md,
      /\| mesh \| iperf-1 \| worker iptables TPROXY :15008 7; worker2 iptables TPROXY :15001 200 \|/,
    );
    assert.doesNotMatch(md, /\| stunnel \|/);
    assert.match(md, /## Failed runs/);
    assert.match(md, /\| 2 \| iperf-1 \| mesh-ebpf \| counters did not move: a \\\| b \|/);
    assert.deepEqual(runsSection([sample(1, 'direct', 'iperf-1', { gbps: 1 })], []), []);
  });

  it('latencySvg draws one bar per mode and percentile of each latency workload', () => {
    const svg = latencySvg(aggregate(fixture()));
    assert.match(svg, /^<svg /);
    assert.match(svg, /<\/svg>$/);
    // 2 latency workloads × 3 percentiles × 3 modes bars + 3 legend swatches + background
    assert.equal((svg.match(/<rect /g) ?? []).length, 2 * 3 * 3 + 3 + 1);
    assert.match(svg, /16 connections/);
  });
});
