/**
 * The L7 part of the bench report (`--l7`): the waypoint against HAProxy in the same position
 * (bench/l7-setup.ts). Latency workloads `l7-<proto>` (1000 req/s, 4 connections, open loop),
 * highest-rate workloads `l7max-<proto>` (closed loop, 32 outstanding).
 */
import type { Stat, Stats, Target } from './report.js';

export const L7_PROTOS = ['h1', 'h2', 'grpc'] as const;
export const L7_LATENCY = L7_PROTOS.map((p) => `l7-${p}`);
export const L7_MAX = ['l7max-h1', 'l7max-h2'];
export const L7_WORKLOADS = [...L7_LATENCY, ...L7_MAX];
export const isL7 = (w: string): boolean => w.startsWith('l7');

/** Issue 15's L7 goals: ratios to HAProxy from one run; Istio's Envoy waypoint figures. */
export const L7_GOALS = {
  addedRatio: 1.2,
  maxRate: 0.8,
  vcpuPer1000: 0.25,
  rssMb: 60,
} as const;

const med = (s: Stats, w: string, m: string, mode: string): number =>
  (s[w]?.[m] as Record<string, Stat | undefined> | undefined)?.[mode]?.median ?? NaN;

const PROTO_NAME: Record<string, string> = { h1: 'HTTP/1.1', h2: 'HTTP/2', grpc: 'gRPC unary' };

/**
 * What each L7 proxy adds over its own L4 path: waypoint − mesh (ztunnels only) and
 * haproxy − stunnel (the two stunnels only), per protocol and percentile.
 */
export function l7Added(s: Stats): {
  workload: string;
  pct: string;
  waypoint: number;
  haproxy: number;
  ratio: number;
}[] {
  const rows = [];
  for (const w of L7_LATENCY.filter((x) => s[x])) {
    for (const pct of ['p50Ms', 'p90Ms', 'p99Ms']) {
      const waypoint = med(s, w, pct, 'waypoint') - med(s, w, pct, 'mesh');
      const haproxy = med(s, w, pct, 'haproxy') - med(s, w, pct, 'stunnel');
      rows.push({
        workload: w,
        pct: pct.replace('Ms', ''),
        waypoint,
        haproxy,
        ratio: waypoint / haproxy,
      });
    }
  }
  return rows;
}

const r2 = (v: number) => Math.round(v * 100) / 100;

export function l7Targets(s: Stats): Target[] {
  const added = (pct: string): Target => {
    const row = l7Added(s).find((r) => r.workload === 'l7-h1' && r.pct === pct);
    const name = `${pct} the L7 proxy adds at 1000 req/s (HTTP/1.1, 4 conns), waypoint/HAProxy`;
    const goal = `≤ ${L7_GOALS.addedRatio}`;
    if (!row) return { name, measured: NaN, goal, met: false };
    // HAProxy adding nothing measurable makes the ratio meaningless: judge the difference.
    if (!(row.haproxy > 0)) return { name, measured: NaN, goal, met: row.waypoint <= 0 };
    return { name, measured: r2(row.ratio), goal, met: r2(row.ratio) <= L7_GOALS.addedRatio };
  };
  const rate = r2(
    med(s, 'l7max-h1', 'perSecond', 'waypoint') / med(s, 'l7max-h1', 'perSecond', 'haproxy'),
  );
  const vcpu = r2(med(s, 'l7-h1', 'cpuSecondsPer1000Req', 'waypoint'));
  const rss = r2(med(s, 'l7-h1', 'peakRssMb', 'waypoint'));
  return [
    added('p50'),
    added('p90'),
    {
      name: 'highest sustained request rate (HTTP/1.1), waypoint/HAProxy',
      measured: rate,
      goal: `≥ ${L7_GOALS.maxRate}`,
      met: rate >= L7_GOALS.maxRate,
    },
    {
      name: 'waypoint vCPU per 1000 req/s (HTTP/1.1)',
      measured: vcpu,
      goal: `≤ ${L7_GOALS.vcpuPer1000}`,
      met: vcpu <= L7_GOALS.vcpuPer1000,
    },
    {
      name: 'waypoint peak RSS at 1000 req/s (MB)',
      measured: rss,
      goal: `≤ ${L7_GOALS.rssMb}`,
      met: rss <= L7_GOALS.rssMb,
    },
  ];
}

const num = (v: number, digits = 2): string => (Number.isFinite(v) ? v.toFixed(digits) : '–');
const fmt = (st: Stat | undefined, digits = 2): string =>
  st && st.n
    ? st.n > 1
      ? `${st.median.toFixed(digits)} (${st.min.toFixed(digits)}–${st.max.toFixed(digits)})`
      : st.median.toFixed(digits)
    : '–';

const SHOWN = [
  'p50Ms',
  'p90Ms',
  'p99Ms',
  'errors',
  'perSecond',
  'cpuSecondsPer1000Req',
  'peakRssMb',
  'peakAnonMb',
];

/** The L7 section of the report (empty when the run had no L7 workload). */
export function l7Markdown(s: Stats): string[] {
  if (!L7_WORKLOADS.some((w) => s[w])) return [];
  const lines = [
    '',
    '## L7: the waypoint against HAProxy',
    '',
    'Same client and server pods; the waypoint (client → ztunnel → waypoint → ztunnel → server)',
    'against HAProxy in its position (client → stunnel → HAProxy → stunnel → server), TLS 1.3',
    'with client certificates on both legs for both, HTTP routing on, one access-log line per',
    'request each; HAProxy runs one thread. `mesh` and `stunnel` are the same paths without the',
    'L7 proxy, so "adds" is what the L7 proxy costs. Costs (vCPU per 1000 req/s = CPU seconds',
    'per 1000 requests; peak RSS) are of the L7 proxy process alone. bench/README.md.',
    '',
    '| target | measured | goal | met |',
    '|---|---|---|---|',
  ];
  for (const t of l7Targets(s)) {
    const met = Number.isFinite(t.measured) ? (t.met ? 'yes' : '**no**') : 'not measured';
    lines.push(`| ${t.name} | ${num(t.measured)} | ${t.goal} | ${met} |`);
  }
  lines.push(
    '',
    '### Latency the L7 proxy adds over its L4 path (ms, from the medians)',
    '',
    '| protocol | percentile | waypoint adds | HAProxy adds | waypoint/HAProxy |',
    '|---|---|---|---|---|',
  );
  for (const r of l7Added(s)) {
    const proto = PROTO_NAME[r.workload.slice(3)] ?? r.workload;
    lines.push(
      `| ${proto} | ${r.pct} | ${num(r.waypoint, 3)} | ${num(r.haproxy, 3)} | ${num(r.ratio)} |`,
    );
  }
  lines.push('', '### Highest sustained request rate (req/s, closed loop, 32 outstanding)', '');
  lines.push('| protocol | waypoint | HAProxy | waypoint/HAProxy |', '|---|---|---|---|');
  for (const w of L7_MAX.filter((x) => s[x])) {
    const a = s[w]?.perSecond as Record<string, Stat | undefined> | undefined;
    const ratio = (a?.waypoint?.median ?? NaN) / (a?.haproxy?.median ?? NaN);
    lines.push(
      `| ${PROTO_NAME[w.slice(6)] ?? w} | ${fmt(a?.waypoint, 0)} | ${fmt(a?.haproxy, 0)} | ${num(ratio)} |`,
    );
  }
  lines.push(
    '',
    '### All L7 figures',
    '',
    'Medians over rounds, (min–max) when more than one round.',
    '',
  );
  lines.push(
    '| workload | metric | direct | mesh | waypoint | stunnel | haproxy |',
    '|---|---|---|---|---|---|---|',
  );
  for (const w of L7_WORKLOADS.filter((x) => s[x])) {
    for (const m of SHOWN) {
      const byMode = s[w]?.[m] as Record<string, Stat | undefined> | undefined;
      if (!byMode) continue;
      const cells = ['direct', 'mesh', 'waypoint', 'stunnel', 'haproxy'].map((k) =>
        fmt(byMode[k], m === 'perSecond' ? 0 : 3),
      );
      lines.push(`| ${w} | ${m} | ${cells.join(' | ')} |`);
    }
  }
  return lines;
}
