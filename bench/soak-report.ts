/**
 * The soak's verdict and report (bench/soak.ts samples, this judges): is each proxy's memory and
 * fd count flat under steady load, and does memory come back in the idle tail. Pure functions
 * (no unit test yet: checked by the first 30-min run's report).
 */
import { lineSvg, PALETTE, type LineSeries } from './plot.js';

export type Phase = 'idle-before' | 'load' | 'idle-after';

export interface ProxySample {
  rssMb: number;
  anonMb: number;
  fds: number;
  heapUsedMb?: number;
  heapTotalMb?: number;
  externalMb?: number;
  /** ztunnel: its connection table; waypoint: HBONE server connections. */
  connections?: number;
  trims?: number;
  trimReturnedMb?: number;
}

export interface SoakSample {
  /** Minutes since the soak started. */
  t: number;
  phase: Phase;
  proxies: Record<string, ProxySample | undefined>;
  /** Requests/connections the load generators finished in the 10 s before, all kinds. */
  load?: Record<string, number>;
}

export interface Judgement {
  proxy: string;
  /** Median RSS of the first and last quarter of the load phase after warm-up, MB. */
  rssFirst: number;
  rssLast: number;
  /** Least-squares slope of RSS over the load phase after warm-up, MB per hour. */
  rssSlope: number;
  heapFirst?: number;
  heapLast?: number;
  fdsFirst: number;
  fdsLast: number;
  /** Idle before load, and at the end of the idle tail. */
  rssIdleBefore?: number;
  rssIdleAfter?: number;
  fdsIdleBefore?: number;
  fdsIdleAfter?: number;
  trims?: number;
  trimReturnedMb?: number;
  memoryFlat: boolean;
  fdsFlat: boolean;
}

/** Growth allowed between the quarters: the larger of 8 MB and 10 % (V8 and glibc breathe). */
export const RSS_TOLERANCE = { mb: 8, fraction: 0.1 };
/** fds allowed above the first quarter's median at the end of load / above idle after the tail. */
export const FD_TOLERANCE = 10;

export function median(v: number[]): number {
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function slopePerHour(pts: [number, number][]): number {
  if (pts.length < 2) return 0;
  const n = pts.length;
  const mx = pts.reduce((a, p) => a + p[0], 0) / n;
  const my = pts.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of pts) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60;
}

const last = <T>(v: T[]): T | undefined => v[v.length - 1];

/** Judges one proxy; `warmupMin` of load are left out (pools, JIT, heap growing to size). */
export function judge(samples: SoakSample[], proxy: string, warmupMin: number): Judgement {
  const of = (phase: Phase) =>
    samples.flatMap((s) => {
      const p = s.proxies[proxy];
      return s.phase === phase && p ? [{ t: s.t, p }] : [];
    });
  const load = of('load');
  const start = load[0]?.t ?? 0;
  const steady = load.filter((x) => x.t >= start + warmupMin);
  const use = steady.length >= 4 ? steady : load;
  const q = Math.max(1, Math.floor(use.length / 4));
  const first = use.slice(0, q);
  const end = use.slice(-q);
  const med = (xs: typeof use, f: (p: ProxySample) => number | undefined) => {
    const v = xs.map((x) => f(x.p)).filter((n): n is number => n !== undefined);
    return v.length ? median(v) : undefined;
  };
  const rssFirst = med(first, (p) => p.rssMb) ?? NaN;
  const rssLast = med(end, (p) => p.rssMb) ?? NaN;
  const fdsFirst = med(first, (p) => p.fds) ?? NaN;
  const fdsLast = Math.max(...end.map((x) => x.p.fds));
  const before = of('idle-before');
  const after = of('idle-after');
  const tail = last(after)?.p;
  const j: Judgement = {
    proxy,
    rssFirst,
    rssLast,
    rssSlope: slopePerHour(use.map((x) => [x.t, x.p.rssMb])),
    heapFirst: med(first, (p) => p.heapUsedMb),
    heapLast: med(end, (p) => p.heapUsedMb),
    fdsFirst,
    fdsLast,
    rssIdleBefore: med(before, (p) => p.rssMb),
    rssIdleAfter: tail?.rssMb,
    fdsIdleBefore: med(before, (p) => p.fds),
    fdsIdleAfter: tail?.fds,
    trims: last(samples.filter((s) => s.proxies[proxy]))?.proxies[proxy]?.trims,
    trimReturnedMb: last(samples.filter((s) => s.proxies[proxy]))?.proxies[proxy]?.trimReturnedMb,
    memoryFlat: false,
    fdsFlat: false,
  };
  const allowed = Math.max(RSS_TOLERANCE.mb, rssFirst * RSS_TOLERANCE.fraction);
  j.memoryFlat = rssLast - rssFirst <= allowed;
  j.fdsFlat =
    fdsLast - fdsFirst <= FD_TOLERANCE &&
    (j.fdsIdleAfter === undefined ||
      j.fdsIdleBefore === undefined ||
      j.fdsIdleAfter - j.fdsIdleBefore <= FD_TOLERANCE);
  return j;
}

const f1 = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(1));
const f0 = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(0));

export function soakMarkdown(
  samples: SoakSample[],
  judgements: Judgement[],
  meta: Record<string, string>,
  chartName: string,
): string {
  const flat = judgements.every((j) => j.memoryFlat && j.fdsFlat);
  const lines = [
    '# ambit soak: memory and fds under steady L4 + L7 load',
    '',
    ...Object.entries(meta).map(([k, v]) => `- ${k}: ${v}`),
    '',
    `**Verdict: ${flat ? 'memory and fds flat' : 'NOT flat'}** (memory flat = median RSS of the ` +
      `last quarter of the load phase within max(${RSS_TOLERANCE.mb} MB, ` +
      `${RSS_TOLERANCE.fraction * 100} %) of the first quarter's, warm-up left out; fds flat = ` +
      `at most ${FD_TOLERANCE} above the first quarter at the end of load and above the idle ` +
      `value after the idle tail).`,
    '',
    '| proxy | RSS first ¼ | RSS last ¼ | slope MB/h | heap used first → last | fds first → last | idle RSS before → after | idle fds before → after | trims (MB returned) | memory | fds |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...judgements.map(
      (j) =>
        `| ${j.proxy} | ${f1(j.rssFirst)} | ${f1(j.rssLast)} | ${f1(j.rssSlope)} | ` +
        `${f1(j.heapFirst)} → ${f1(j.heapLast)} | ${f0(j.fdsFirst)} → ${f0(j.fdsLast)} | ` +
        `${f1(j.rssIdleBefore)} → ${f1(j.rssIdleAfter)} | ${f0(j.fdsIdleBefore)} → ${f0(j.fdsIdleAfter)} | ` +
        `${f0(j.trims)} (${f1(j.trimReturnedMb)}) | ${j.memoryFlat ? 'flat' : 'grew'} | ${j.fdsFlat ? 'flat' : 'grew'} |`,
    ),
    '',
    `![RSS and fds over the soak](${chartName})`,
    '',
    'Every sample (10 s apart; MB; `conn` = ztunnel connection table / waypoint HBONE server connections):',
    '',
    '<details><summary>samples</summary>',
    '',
    `| min | phase | ${judgements.map((j) => `${j.proxy} RSS / heap / fds / conn`).join(' | ')} | load (10 s) |`,
    `|---|---|${judgements.map(() => '---|').join('')}---|`,
    ...samples.map(
      (s) =>
        `| ${s.t.toFixed(1)} | ${s.phase} | ${judgements
          .map((j) => {
            const p = s.proxies[j.proxy];
            return p
              ? `${f1(p.rssMb)} / ${f1(p.heapUsedMb)} / ${p.fds} / ${f0(p.connections)}`
              : '–';
          })
          .join(' | ')} | ${Object.entries(s.load ?? {})
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')} |`,
    ),
    '',
    '</details>',
    '',
  ];
  return lines.join('\n');
}

/** RSS (solid, left axis) and fds (dashed, right axis) of each proxy over the soak. */
export function soakSvg(samples: SoakSample[], proxies: string[]): string {
  const series: LineSeries[] = [];
  const fds: LineSeries[] = [];
  proxies.forEach((name, i) => {
    const pts = (f: (p: ProxySample) => number) =>
      samples.flatMap((s): [number, number][] => {
        const p = s.proxies[name];
        return p ? [[s.t, f(p)]] : [];
      });
    const color = PALETTE[(2 * i) % PALETTE.length]!;
    series.push({ name: `${name} RSS`, color, points: pts((p) => p.rssMb) });
    series.push({
      name: `${name} heap`,
      color: PALETTE[(2 * i + 1) % PALETTE.length]!,
      points: pts((p) => p.heapUsedMb ?? 0),
    });
    fds.push({ name: `${name} fds`, color, right: true, points: pts((p) => p.fds) });
  });
  series.push(...fds);
  const marks: { x: number; label: string }[] = [];
  for (let i = 1; i < samples.length; i++)
    if (samples[i]!.phase !== samples[i - 1]!.phase)
      marks.push({ x: samples[i]!.t, label: samples[i]!.phase });
  return lineSvg({
    title: 'soak: RSS and V8 heap used (MB, solid) and open fds (dashed, right axis)',
    xLabel: 'minutes',
    yLabel: 'MB',
    rightLabel: 'fds',
    series,
    marks,
  });
}
