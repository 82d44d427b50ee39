/**
 * Reads a V8 `.cpuprofile` (what `node --cpu-prof` writes) into a hot-spot summary: the
 * functions with the most self time, the most inclusive time, and self time per source file.
 * Pure: no I/O, so it is unit-tested on hand-made profiles.
 */

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface HotSpot {
  /** `functionName file:line`, with the repository prefix cut from the file. */
  name: string;
  ms: number;
  /** Share of the busy (non-idle) time, in percent. */
  pct: number;
}

export interface ProfileSummary {
  /** Wall time the profile covers. */
  totalMs: number;
  /** Time the thread was not idle (includes GC and native "(program)" time). */
  busyMs: number;
  gcMs: number;
  self: HotSpot[];
  inclusive: HotSpot[];
  files: HotSpot[];
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

function shortUrl(url: string, root: string): string {
  let u = url.replace(/^file:\/\//, '');
  if (root && u.startsWith(root)) u = u.slice(root.length).replace(/^\/+/, '');
  const nm = u.lastIndexOf('node_modules/');
  return nm >= 0 ? u.slice(nm + 'node_modules/'.length) : u;
}

function label(n: CpuProfileNode, root: string): string {
  const f = n.callFrame;
  const fn = f.functionName || '(anonymous)';
  if (!f.url) return fn;
  return `${fn} ${shortUrl(f.url, root)}:${f.lineNumber + 1}`;
}

/**
 * Sample time per node id: each sample is charged the delta to the next one (V8's convention).
 * With `window` (µs on the profile's clock), only samples inside it count.
 */
function selfTimes(p: CpuProfile, window?: [number, number]): Map<number, number> {
  const t = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  if (samples.length === 0) {
    // Old-style profiles: only hit counts; spread the wall time over the hits.
    const hits = p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
    const per = hits ? (p.endTime - p.startTime) / hits : 0;
    for (const n of p.nodes) if (n.hitCount) t.set(n.id, n.hitCount * per);
    return t;
  }
  let at = p.startTime;
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    if (window && (at < window[0] || at > window[1])) continue;
    const next = i + 1 < deltas.length ? deltas[i + 1]! : 0;
    const id = samples[i]!;
    t.set(id, (t.get(id) ?? 0) + Math.max(0, next));
  }
  return t;
}

function top(m: Map<string, number>, busy: number, n: number): HotSpot[] {
  return [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({
      name,
      ms: Math.round(us / 100) / 10,
      pct: busy ? Math.round((us / busy) * 1000) / 10 : 0,
    }));
}

export interface SummaryOptions {
  /** Path prefix cut from file names (the build's root). */
  root?: string;
  /** Rows per table. */
  top?: number;
  /** Only samples in this span, µs on the profile's clock (startTime/endTime). */
  window?: [number, number];
}

/**
 * The profile's wall-clock span `[fromMs, toMs]` (Date.now() values) on its own clock, given
 * when the profile ended (V8 writes the file as the process exits: the file's mtime).
 */
export function wallWindow(
  p: CpuProfile,
  endedAtMs: number,
  fromMs: number,
  toMs: number,
): [number, number] {
  return [p.endTime - (endedAtMs - fromMs) * 1000, p.endTime - (endedAtMs - toMs) * 1000];
}

export function summarizeProfile(p: CpuProfile, opts: SummaryOptions = {}): ProfileSummary {
  const root = opts.root ?? '';
  const n = opts.top ?? 20;
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const parent = new Map<number, number>();
  for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  const self = selfTimes(p, opts.window);

  let idle = 0;
  let gc = 0;
  let total = 0;
  const selfBy = new Map<string, number>();
  const inclBy = new Map<string, number>();
  const fileBy = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    const fn = node.callFrame.functionName;
    if (fn === '(idle)') {
      idle += us;
      continue;
    }
    if (fn === '(garbage collector)') gc += us;
    const name = label(node, root);
    selfBy.set(name, (selfBy.get(name) ?? 0) + us);
    const file = node.callFrame.url ? shortUrl(node.callFrame.url, root) : name;
    fileBy.set(file, (fileBy.get(file) ?? 0) + us);
    // Inclusive: every distinct function on the stack gets the sample once (recursion-safe).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const c = byId.get(cur);
      if (!c || SPECIAL.has(c.callFrame.functionName)) continue;
      const l = label(c, root);
      if (seen.has(l)) continue;
      seen.add(l);
      inclBy.set(l, (inclBy.get(l) ?? 0) + us);
    }
  }
  const busy = total - idle;
  const ms = (us: number) => Math.round(us / 100) / 10;
  return {
    totalMs: ms(
      opts.window ? opts.window[1] - opts.window[0] : Math.max(total, p.endTime - p.startTime),
    ),
    busyMs: ms(busy),
    gcMs: ms(gc),
    self: top(selfBy, busy, n),
    inclusive: top(inclBy, busy, n),
    files: top(fileBy, busy, Math.min(n, 12)),
  };
}

export function profileMarkdown(title: string, s: ProfileSummary): string {
  const table = (head: string, rows: HotSpot[]) => [
    `| ${head} | ms | % of busy |`,
    '|---|---:|---:|',
    ...rows.map((r) => `| \`${r.name.replace(/\|/g, '\\|')}\` | ${r.ms} | ${r.pct} |`),
  ];
  const busyPct = s.totalMs ? Math.round((s.busyMs / s.totalMs) * 1000) / 10 : 0;
  return [
    `### ${title}`,
    '',
    `${s.totalMs} ms profiled, busy ${s.busyMs} ms (${busyPct}%), of which GC ${s.gcMs} ms.`,
    '',
    '**Self time** (where the CPU was; native work shows under the JS function that called it,',
    'or as `(program)`)',
    '',
    ...table('function', s.self),
    '',
    '**Inclusive time** (function and everything it called)',
    '',
    ...table('function', s.inclusive),
    '',
    '**Self time per file**',
    '',
    ...table('file', s.files),
    '',
  ].join('\n');
}
