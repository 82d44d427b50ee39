/**
 * The L7 section (waypoint vs HAProxy) and the whole-report composition (L4 + L7 + scale) of
 * the bench report, on hand-made samples whose figures are known.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { l7Added, l7Markdown, l7Targets } from '../../bench/l7-report.js';
import { allTargets, reportMarkdown, scaleSection } from '../../bench/report-all.js';
import { aggregate, type Mode, type Sample } from '../../bench/report.js';

const sample = (round: number, mode: Mode, workload: string, metrics: Record<string, number>) =>
  ({ round, mode, workload, metrics }) satisfies Sample;

/**
 * Two rounds. HTTP/1.1 p50: direct 1, mesh 1.5, waypoint 2.5 (adds 1.0 over mesh), stunnel 1.2,
 * haproxy 2.0 (adds 0.8 over stunnel) → 1.25. p90: waypoint adds 1.0, haproxy 1.0 → 1.0.
 */
function fixture(): Sample[] {
  const s: Sample[] = [];
  for (const round of [1, 2]) {
    const lat = (p50: number, p90: number, extra: Record<string, number> = {}) => ({
      p50Ms: p50,
      p90Ms: p90,
      p99Ms: p90 * 2,
      errors: 0,
      ...extra,
    });
    s.push(sample(round, 'direct', 'l7-h1', lat(1, 2)));
    s.push(sample(round, 'mesh', 'l7-h1', lat(1.5, 3)));
    s.push(
      sample(
        round,
        'waypoint',
        'l7-h1',
        lat(2.5, 4, { cpuSecondsPer1000Req: 0.2 + round / 100, peakRssMb: 70 }),
      ),
    );
    s.push(sample(round, 'stunnel', 'l7-h1', lat(1.2, 2.5)));
    s.push(sample(round, 'haproxy', 'l7-h1', lat(2.0, 3.5, { cpuSecondsPer1000Req: 0.05 })));
    s.push(
      sample(round, 'waypoint', 'l7max-h1', { perSecond: 2700 + round * 200, concurrency: 32 }),
    );
    s.push(sample(round, 'haproxy', 'l7max-h1', { perSecond: 4000, concurrency: 32 }));
    s.push(sample(round, 'direct', 'iperf-1', { gbps: 10 }));
    s.push(sample(round, 'mesh', 'iperf-1', { gbps: 3 }));
    s.push(sample(round, 'stunnel', 'iperf-1', { gbps: 3 }));
  }
  return s;
}

describe('bench report: L7 (waypoint vs HAProxy)', () => {
  it('what each L7 proxy adds is measured over its own L4 path', () => {
    const rows = l7Added(aggregate(fixture()));
    const p50 = rows.find((r) => r.workload === 'l7-h1' && r.pct === 'p50')!;
    assert.equal(p50.waypoint, 1);
    assert.ok(Math.abs(p50.haproxy - 0.8) < 1e-9);
    assert.ok(Math.abs(p50.ratio - 1.25) < 1e-9);
    // Protocols that were not run have no rows.
    assert.ok(!rows.some((r) => r.workload === 'l7-grpc'));
  });

  it('targets: added-latency ratios, highest rate, vCPU and RSS per 1000 req/s', () => {
    const t = l7Targets(aggregate(fixture()));
    const by = (prefix: string) => t.find((x) => x.name.startsWith(prefix))!;
    assert.deepEqual([by('p50').measured, by('p50').met], [1.25, false]);
    assert.deepEqual([by('p90').measured, by('p90').met], [1, true]);
    const rate = by('highest sustained');
    // Medians 3000 (2900, 3100) and 4000.
    assert.deepEqual([rate.measured, rate.met], [0.75, false]);
    // Median of 0.21 and 0.22.
    assert.deepEqual([by('waypoint vCPU').measured, by('waypoint vCPU').met], [0.22, true]);
    assert.deepEqual([by('waypoint peak RSS').measured, by('waypoint peak RSS').met], [70, false]);
  });

  it('HAProxy adding nothing: the ratio is not measured, the difference is judged', () => {
    const s = fixture().map((x) =>
      x.workload === 'l7-h1' && x.mode === 'haproxy'
        ? { ...x, metrics: { ...x.metrics, p50Ms: 1.2 } }
        : x,
    );
    const p50 = l7Targets(aggregate(s)).find((x) => x.name.startsWith('p50'))!;
    assert.ok(Number.isNaN(p50.measured));
    assert.equal(p50.met, false);
  });

  it('the section has the targets, the added-latency and highest-rate tables, all figures', () => {
    const md = l7Markdown(aggregate(fixture())).join('\n');
    assert.match(md, /## L7: the waypoint against HAProxy/);
    assert.match(md, /\| p50 the L7 proxy adds .* \| 1\.25 \| ≤ 1\.2 \| \*\*no\*\* \|/);
    assert.match(md, /\| HTTP\/1\.1 \| p50 \| 1\.000 \| 0\.800 \| 1\.25 \|/);
    assert.match(md, /\| HTTP\/1\.1 \| 3000 \(2900–3100\) \| 4000 \(4000–4000\) \| 0\.75 \|/);
    assert.match(
      md,
      /\| l7-h1 \| p50Ms \| 1\.000 \(1\.000–1\.000\) \| 1\.500 \(1\.500–1\.500\) \| 2\.500 \(2\.500–2\.500\) \| 1\.200 \(1\.200–1\.200\) \| 2\.000 \(2\.000–2\.000\) \|/,
    );
  });

  it('no L7 workload: no L7 section, and the L7 targets stay out of the JSON list', () => {
    const s = aggregate(fixture().filter((x) => !x.workload.startsWith('l7')));
    assert.deepEqual(l7Markdown(s), []);
    assert.ok(!allTargets(s).some((t) => t.name.includes('waypoint')));
    assert.ok(allTargets(aggregate(fixture())).some((t) => t.name.includes('waypoint')));
  });
});

describe('bench report: the whole report', () => {
  const scale = [
    '# Control plane vs scale — 2026-12-02, Node v24.22.3',
    '',
    '| workloads | push (ms) |',
    '|---|---|',
    '| 10000 | 958 |',
    '',
  ].join('\n');

  it('embeds the scale report under its own heading without its title', () => {
    const lines = scaleSection(scale);
    assert.equal(lines[1], '## Control plane vs scale (bench/scale-controlplane.ts)');
    assert.ok(!lines.some((l) => l.startsWith('# ')));
    assert.ok(lines.includes('| 10000 | 958 |'));
  });

  it('L4, then L7, then scale; the L7 workloads stay out of the L4 tables', () => {
    const md = reportMarkdown(
      aggregate(fixture()),
      { commit: 'abc', 'lab processes, node --version': 'v24.22.3: ztunnel-worker' },
      scale,
    );
    const l4 = md.indexOf('## Targets');
    const l7 = md.indexOf('## L7: the waypoint against HAProxy');
    const sc = md.indexOf('## Control plane vs scale');
    assert.ok(l4 >= 0 && l7 > l4 && sc > l7, 'sections in order');
    assert.match(md, /- lab processes, node --version: v24\.22\.3: ztunnel-worker/);
    const l4Part = md.slice(0, l7);
    assert.ok(!/\| l7-h1 \|/.test(l4Part), 'no L7 row in the L4 tables');
    assert.match(l4Part, /\| iperf-1 \| gbps \|/);
    assert.ok(md.endsWith('| 10000 | 958 |\n'));
  });

  it('without a scale run the report ends with the L7 section', () => {
    const md = reportMarkdown(aggregate(fixture()), { commit: 'abc' });
    assert.ok(!md.includes('Control plane vs scale'));
  });
});
