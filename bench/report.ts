/** Turns the raw samples of a bench run into medians, spreads, ratios, targets, and a chart. */
export type Mode = 'direct' | 'mesh' | 'stunnel';
export const MODES: Mode[] = ['direct', 'mesh', 'stunnel'];

export interface Sample {
  round: number;
  mode: Mode;
  workload: string;
  metrics: Record<string, number>;
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

export function targets(s: Stats): Target[] {
  const tput = med(s, 'iperf-1', 'gbps', 'mesh') / med(s, 'iperf-1', 'gbps', 'stunnel');
  const addMesh = med(s, 'latency-4', 'p50Ms', 'mesh') - med(s, 'latency-4', 'p50Ms', 'direct');
  const addStunnel =
    med(s, 'latency-4', 'p50Ms', 'stunnel') - med(s, 'latency-4', 'p50Ms', 'direct');
  const conn = med(s, 'connrate', 'perSecond', 'mesh') / med(s, 'connrate', 'perSecond', 'stunnel');
  const rss = Math.max(
    med(s, 'latency-4', 'peakRssMb', 'mesh'),
    med(s, 'latency-16', 'peakRssMb', 'mesh'),
  );
  const r = (v: number) => Math.round(v * 100) / 100;
  return [
    {
      name: 'single-stream throughput, mesh/stunnel',
      measured: r(tput),
      goal: '≥ 0.8',
      met: tput >= 0.8,
    },
    {
      name: 'p50 added over direct at 1000 req/s (4 conns), mesh/stunnel',
      measured: r(addMesh / addStunnel),
      goal: '≤ 1.5',
      met: addMesh / addStunnel <= 1.5,
    },
    {
      name: 'new connections per second, mesh/stunnel',
      measured: r(conn),
      goal: '≥ 0.7',
      met: conn >= 0.7,
    },
    {
      name: 'ztunnel peak RSS under the latency runs (MB)',
      measured: r(rss),
      goal: '≤ 80',
      met: rss <= 80,
    },
  ];
}

const fmt = (st: Stat | undefined, digits = 2): string =>
  st && st.n
    ? `${st.median.toFixed(digits)} (${st.min.toFixed(digits)}–${st.max.toFixed(digits)})`
    : '–';

export function markdown(s: Stats, meta: Record<string, string>): string {
  const lines: string[] = ['# ambit benchmark', ''];
  for (const [k, v] of Object.entries(meta)) lines.push(`- ${k}: ${v}`);
  lines.push('', 'Medians over rounds, (min–max) in brackets.', '');
  lines.push('| workload | metric | direct | mesh | stunnel | mesh/direct | mesh/stunnel |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const [w, metrics] of Object.entries(s)) {
    for (const [m, byMode] of Object.entries(metrics)) {
      const ratio = (a?: Stat, b?: Stat) =>
        a && b && b.median ? (a.median / b.median).toFixed(2) : '–';
      lines.push(
        `| ${w} | ${m} | ${fmt(byMode.direct)} | ${fmt(byMode.mesh)} | ${fmt(byMode.stunnel)} | ${ratio(byMode.mesh, byMode.direct)} | ${ratio(byMode.mesh, byMode.stunnel)} |`,
      );
    }
  }
  lines.push('', '## Targets', '', '| target | measured | goal | met |', '|---|---|---|---|');
  for (const t of targets(s))
    lines.push(`| ${t.name} | ${t.measured} | ${t.goal} | ${t.met ? 'yes' : 'no'} |`);
  return lines.join('\n') + '\n';
}

/** Grouped bars of p50/p90/p99 per mode for each latency workload. */
export function latencySvg(s: Stats): string {
  const workloads = Object.keys(s).filter((w) => w.startsWith('latency-'));
  const pcts = ['p50Ms', 'p90Ms', 'p99Ms'];
  const colors: Record<Mode, string> = { direct: '#4c78a8', mesh: '#f58518', stunnel: '#54a24b' };
  const max = Math.max(
    1,
    ...workloads.flatMap((w) => pcts.flatMap((p) => MODES.map((m) => med(s, w, p, m) || 0))),
  );
  const W = 760;
  const H = 380;
  const left = 60;
  const bottom = 320;
  const groupW = (W - left - 20) / (workloads.length * pcts.length);
  const barW = groupW / (MODES.length + 1);
  const el: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">request/response latency at 1000 req/s, 1 KiB (ms, median of rounds)</text>`,
    `<line x1="${left}" y1="${bottom}" x2="${W - 10}" y2="${bottom}" stroke="black"/>`,
  ];
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4;
    const y = bottom - (v / max) * 260;
    el.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end">${v.toFixed(2)}</text>`);
    el.push(`<line x1="${left}" y1="${y}" x2="${W - 10}" y2="${y}" stroke="#ddd"/>`);
  }
  let gi = 0;
  for (const w of workloads) {
    for (const p of pcts) {
      const x0 = left + gi * groupW + barW / 2;
      MODES.forEach((m, i) => {
        const v = med(s, w, p, m) || 0;
        const h = (v / max) * 260;
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
  MODES.forEach((m, i) => {
    el.push(
      `<rect x="${left + i * 110}" y="${H - 22}" width="12" height="12" fill="${colors[m]}"/>`,
    );
    el.push(`<text x="${left + i * 110 + 18}" y="${H - 12}">${m}</text>`);
  });
  el.push('</svg>');
  return el.join('\n');
}
