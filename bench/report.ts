/** Turns the raw samples of a bench run into medians, spreads, ratios, targets, and a chart. */
import { frameStart, legend, PALETTE, yGrid, type Frame } from './plot.js';

export type Mode =
  'direct' | 'mesh' | 'stunnel' | 'mesh-ebpf' | 'mesh-baseline' | 'waypoint' | 'haproxy';
export const MODES: Mode[] = ['direct', 'mesh', 'stunnel'];
/** The mesh on nodes whose agent runs the eBPF backend (`--ebpf`, see bench/README.md). */
export const EBPF_MODE = 'mesh-ebpf' as const;
/** The mesh of this commit on nodes whose ztunnels run another commit (`--baseline <ref>`). */
export const BASELINE_MODE = 'mesh-baseline' as const;
const has = (s: Stats, mode: Mode): boolean =>
  Object.values(s).some((ms) => Object.values(ms).some((b) => b[mode]));
const hasEbpf = (s: Stats): boolean => has(s, EBPF_MODE);
const modesOf = (s: Stats): Mode[] => [
  ...MODES,
  ...(hasEbpf(s) ? [EBPF_MODE] : []),
  ...(has(s, BASELINE_MODE) ? [BASELINE_MODE] : []),
];

export interface Sample {
  round: number;
  mode: Mode;
  workload: string;
  metrics: Record<string, number>;
  /** The capture counters that moved during the run (bench/capture.ts), mesh modes only. */
  capture?: Record<string, number>;
}

/** A run that failed: its workload, or the capture check (the counters did not move). */
export interface Failure {
  round: number;
  mode: Mode;
  workload: string;
  error: string;
  /** The capture counters that did move, when the run itself completed. */
  capture?: Record<string, number>;
}

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function stat(values: number[]): Stat {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length };
}

/** stats[workload][metric][mode] */
export type Stats = Record<string, Record<string, Partial<Record<Mode, Stat>>>>;

export function aggregate(samples: Sample[]): Stats {
  const s: Stats = {};
  const groups = new Map<string, number[]>();
  for (const x of samples) {
    for (const [metric, value] of Object.entries(x.metrics)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      const k = `${x.workload}\u0000${metric}\u0000${x.mode}`;
      groups.set(k, [...(groups.get(k) ?? []), value]);
    }
  }
  for (const [k, values] of groups) {
    const [w, m, mode] = k.split('\u0000') as [string, string, Mode];
    ((s[w] ??= {})[m] ??= {})[mode] = stat(values);
  }
  return s;
}

const med = (s: Stats, w: string, m: string, mode: Mode): number =>
  s[w]?.[m]?.[mode]?.median ?? NaN;

export interface Target {
  name: string;
  measured: number;
  goal: string;
  met: boolean;
}

/** What the mesh and stunnel add over direct, per latency workload and percentile. */
export function addedLatency(
  s: Stats,
): { workload: string; pct: string; mesh: number; stunnel: number; ratio: number }[] {
  const rows = [];
  for (const w of Object.keys(s).filter((k) => k.startsWith('latency-'))) {
    for (const pct of ['p50Ms', 'p90Ms', 'p99Ms']) {
      const base = med(s, w, pct, 'direct');
      const mesh = med(s, w, pct, 'mesh') - base;
      const stunnel = med(s, w, pct, 'stunnel') - base;
      rows.push({ workload: w, pct: pct.replace('Ms', ''), mesh, stunnel, ratio: mesh / stunnel });
    }
  }
  return rows;
}

/** The goals of issue 15 (L4 at parity with C: ratios from one run, RSS in MB). */
export const GOALS = {
  throughput: 1.0,
  p50Added: 1.2,
  p90Added: 1.5,
  cpuPerGiB: 1.0,
  connRate: 0.7,
  rssMb: 64,
} as const;

export function targets(s: Stats): Target[] {
  const ratio = (w: string, m: string) => med(s, w, m, 'mesh') / med(s, w, m, 'stunnel');
  const added = (pct: string, mode: Mode) =>
    med(s, 'latency-4', pct, mode) - med(s, 'latency-4', pct, 'direct');
  // The larger of the two latency runs; a run that was not measured does not count.
  const rssRuns = ['latency-4', 'latency-16']
    .map((w) => med(s, w, 'peakRssMb', 'mesh'))
    .filter((v) => Number.isFinite(v));
  const rss = rssRuns.length ? Math.max(...rssRuns) : NaN;
  // Judged on the figure the report shows (2 decimals), so 1.5000000000000002 meets "≤ 1.5".
  const r = (v: number) => Math.round(v * 100) / 100;
  const atLeast = (name: string, v: number, goal: number): Target => ({
    name,
    measured: r(v),
    goal: `≥ ${goal.toFixed(1)}`,
    met: r(v) >= goal,
  });
  const atMost = (name: string, v: number, goal: number, digits = 1): Target => ({
    name,
    measured: r(v),
    goal: `≤ ${goal.toFixed(digits)}`,
    met: r(v) <= goal,
  });
  const addedRatio = (pct: string, goal: number): Target => {
    const mesh = added(pct, 'mesh');
    const stunnel = added(pct, 'stunnel');
    const name = `${pct.replace('Ms', '')} added over direct at 1000 req/s (4 conns), mesh/stunnel`;
    // When stunnel adds nothing measurable the ratio means nothing: judge the difference.
    if (!(stunnel > 0)) return { name, measured: NaN, goal: `≤ ${goal}`, met: mesh <= 0 };
    return atMost(name, mesh / stunnel, goal);
  };
  return [
    atLeast('single-stream throughput, mesh/stunnel', ratio('iperf-1', 'gbps'), GOALS.throughput),
    atLeast('8-stream throughput, mesh/stunnel', ratio('iperf-8', 'gbps'), GOALS.throughput),
    addedRatio('p50Ms', GOALS.p50Added),
    addedRatio('p90Ms', GOALS.p90Added),
    atMost(
      'ztunnel CPU per GiB (iperf-1), mesh/stunnel',
      ratio('iperf-1', 'cpuSecondsPerGiB'),
      GOALS.cpuPerGiB,
    ),
    atLeast(
      'new connections per second, mesh/stunnel',
      ratio('connrate', 'perSecond'),
      GOALS.connRate,
    ),
    atMost('ztunnel peak RSS under the latency runs (MB)', rss, GOALS.rssMb, 0),
  ];
}

const fmt = (st: Stat | undefined, digits = 2): string =>
  st && st.n
    ? st.n > 1
      ? `${st.median.toFixed(digits)} (${st.min.toFixed(digits)}–${st.max.toFixed(digits)})`
      : st.median.toFixed(digits)
    : '–';

const num = (v: number, digits = 2): string => (Number.isFinite(v) ? v.toFixed(digits) : '–');

/** Run parameters and raw counters that stay in the JSON but would only clutter the table. */
const HIDDEN = new Set([
  'rate',
  'connections',
  'size',
  'seconds',
  'sent',
  'concurrency',
  'requests',
  'gib',
  'achievedRate',
  'cpuSeconds',
]);

export function markdown(s: Stats, meta: Record<string, string>): string {
  const lines: string[] = ['# ambit benchmark', ''];
  for (const [k, v] of Object.entries(meta)) lines.push(`- ${k}: ${v}`);
  lines.push('', '## Targets', '', '| target | measured | goal | met |', '|---|---|---|---|');
  for (const t of targets(s)) {
    const met = Number.isFinite(t.measured) ? (t.met ? 'yes' : '**no**') : 'not measured';
    lines.push(`| ${t.name} | ${num(t.measured)} | ${t.goal} | ${met} |`);
  }
  lines.push(
    '',
    '## Latency added over direct (ms, from the medians)',
    '',
    '| workload | percentile | mesh adds | stunnel adds | mesh/stunnel |',
    '|---|---|---|---|---|',
  );
  for (const r of addedLatency(s)) {
    lines.push(
      `| ${r.workload} | ${r.pct} | ${num(r.mesh, 3)} | ${num(r.stunnel, 3)} | ${num(r.ratio)} |`,
    );
  }
  lines.push(
    '',
    '## All figures',
    '',
    'Medians over rounds, (min–max) when more than one round.',
    '',
  );
  lines.push('| workload | metric | direct | mesh | stunnel | mesh/direct | mesh/stunnel |');
  lines.push('|---|---|---|---|---|---|---|');
  // The L7 workloads (`l7…`, --l7) have their own section (l7-report.ts).
  for (const [w, metrics] of Object.entries(s).filter(([k]) => !k.startsWith('l7'))) {
    for (const [m, byMode] of Object.entries(metrics)) {
      if (HIDDEN.has(m)) continue;
      const ratio = (a?: Stat, b?: Stat) =>
        a && b && b.median ? (a.median / b.median).toFixed(2) : '–';
      lines.push(
        `| ${w} | ${m} | ${fmt(byMode.direct)} | ${fmt(byMode.mesh)} | ${fmt(byMode.stunnel)} | ${ratio(byMode.mesh, byMode.direct)} | ${ratio(byMode.mesh, byMode.stunnel)} |`,
      );
    }
  }
  if (hasEbpf(s)) {
    lines.push(
      ...pairTable(s, {
        title: 'eBPF redirection against iptables (mesh-ebpf vs mesh)',
        about:
          'The same mesh on two other nodes whose agents run `--redirect ebpf` (bench/README.md).',
        a: 'mesh',
        b: EBPF_MODE,
      }),
    );
  }
  if (has(s, BASELINE_MODE)) {
    const ref = meta.baseline ? ` (${meta.baseline})` : '';
    lines.push(
      ...pairTable(s, {
        title: 'This commit vs baseline (mesh vs mesh-baseline)',
        about:
          `\`mesh-baseline\`: the same mesh on two other nodes whose ztunnels run the baseline's build${ref},` +
          ' in the same rounds (bench/README.md). mesh/mesh-baseline > 1 is more of the metric with' +
          ' this commit: better for Gbit/s and rates, worse for latencies and CPU.',
        a: BASELINE_MODE,
        b: 'mesh',
      }),
    );
  }
  return lines.join('\n') + '\n';
}

/** Mode `b` against mode `a` of the same run, per workload and metric: medians and b/a. */
function pairTable(s: Stats, t: { title: string; about: string; a: Mode; b: Mode }): string[] {
  const lines = [
    '',
    `## ${t.title}`,
    '',
    t.about,
    '',
    `| workload | metric | ${t.a} | ${t.b} | ${t.b}/${t.a} |`,
    '|---|---|---|---|---|',
  ];
  for (const [w, metrics] of Object.entries(s)) {
    for (const [m, byMode] of Object.entries(metrics)) {
      if (HIDDEN.has(m) || !byMode[t.a] || !byMode[t.b]) continue;
      const a = byMode[t.a];
      const b = byMode[t.b];
      const ratio = a && b && a.median ? (b.median / a.median).toFixed(2) : '–';
      lines.push(`| ${w} | ${m} | ${fmt(a)} | ${fmt(b)} | ${ratio} |`);
    }
  }
  return lines;
}

/** Grouped bars of p50/p90/p99 per mode for each latency workload. */
export function latencySvg(s: Stats): string {
  const workloads = Object.keys(s).filter((w) => w.startsWith('latency-'));
  const pcts = ['p50Ms', 'p90Ms', 'p99Ms'];
  const order: Mode[] = [
    'direct',
    'mesh',
    'stunnel',
    'mesh-ebpf',
    'mesh-baseline',
    'waypoint',
    'haproxy',
  ];
  const colors = Object.fromEntries(order.map((m, i) => [m, PALETTE[i]!])) as Record<Mode, string>;
  const MODES = modesOf(s);
  const max = Math.max(
    1,
    ...workloads.flatMap((w) => pcts.flatMap((p) => MODES.map((m) => med(s, w, p, m) || 0))),
  );
  const f: Frame = { width: 760, height: 380, left: 60, right: 750, bottom: 320, top: 60 };
  const { left, bottom } = f;
  const groupW = (f.width - left - 20) / (workloads.length * pcts.length);
  const barW = groupW / (MODES.length + 1);
  const el = frameStart(
    f,
    'request/response latency at 1000 req/s, 1 KiB (ms, median of rounds)',
  ).concat(yGrid(f, max));
  let gi = 0;
  for (const w of workloads) {
    for (const p of pcts) {
      const x0 = left + gi * groupW + barW / 2;
      MODES.forEach((m, i) => {
        const v = med(s, w, p, m) || 0;
        const h = (v / max) * (bottom - f.top);
        el.push(
          `<rect x="${x0 + i * barW}" y="${bottom - h}" width="${barW - 2}" height="${h}" fill="${colors[m]}"/>`,
        );
      });
      el.push(
        `<text x="${x0 + (MODES.length * barW) / 2}" y="${bottom + 16}" text-anchor="middle">${p.replace('Ms', '')}</text>`,
      );
      gi++;
    }
    const cx = left + (gi - pcts.length / 2) * groupW;
    el.push(
      `<text x="${cx}" y="${bottom + 34}" text-anchor="middle" font-weight="bold">${w.replace('latency-', '')} connections</text>`,
    );
  }
  el.push(
    ...legend(
      MODES.map((m) => ({ name: m, color: colors[m] })),
      left,
      f.height - 22,
    ),
  );
  el.push('</svg>');
  return el.join('\n');
}

/**
 * The capture evidence (issue 12): per mesh mode and workload, the median over rounds of each
 * counter that moved; then every failed run with its error (no figure above counts it).
 */
export function runsSection(samples: Sample[], failures: Failure[]): string[] {
  const lines: string[] = [];
  const byRun = new Map<string, Map<string, number[]>>();
  const checked = samples.filter((x) => x.capture).length;
  const unproven = failures.filter((f) => f.error.startsWith('BENCH_CAPTURE_UNPROVEN')).length;
  for (const x of [...samples, ...failures]) {
    if (!x.capture) continue;
    const k = `${x.mode}\u0000${x.workload}`;
    const per = byRun.get(k) ?? new Map<string, number[]>();
    byRun.set(k, per);
    for (const [c, v] of Object.entries(x.capture)) per.set(c, [...(per.get(c) ?? []), v]);
  }
  if (byRun.size > 0) {
    lines.push(
      '',
      '## Capture evidence (kernel counters, delta over each run)',
      '',
      `Read before and after every run of a mesh mode (bench/capture.ts): iptables rule packet` +
        ` counters on \`mesh\`${samples.some((x) => x.mode === BASELINE_MODE) ? ' and `mesh-baseline`' : ''}, the eBPF` +
        ` programs' per-verdict packet counters on \`mesh-ebpf\`. A run whose expected counters did` +
        ` not move fails (below). ${checked} runs passed the check, ${unproven} failed it` +
        (unproven ? ' (their rows included).' : '.'),
      '',
      '| mode | workload | counters that moved (packets, median over rounds) |',
      '|---|---|---|',
    );
    for (const [k, per] of byRun) {
      const [mode, workload] = k.split('\u0000');
      const cells = [...per]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([c, v]) => `${c} ${Math.round(stat(v).median)}`);
      lines.push(`| ${mode} | ${workload} | ${cells.join('; ')} |`);
    }
  }
  if (failures.length > 0) {
    lines.push(
      '',
      '## Failed runs',
      '',
      '| round | workload | mode | error |',
      '|---|---|---|---|',
    );
    for (const f of failures) {
      lines.push(`| ${f.round} | ${f.workload} | ${f.mode} | ${f.error.replace(/\|/g, '\\|')} |`);
    }
  }
  return lines;
}
