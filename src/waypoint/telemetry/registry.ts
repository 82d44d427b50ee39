/** A minimal Prometheus registry: counters and histograms keyed by label sets, text exposition. */

export type Labels = Record<string, string>;

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(l: Labels, extra?: [string, string]): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escape(v)}"`);
  if (extra) parts.push(`${extra[0]}="${escape(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

const keyOf = (l: Labels) => JSON.stringify(l);

export interface CounterSeries {
  readonly labels: Labels;
  value: number;
}

export interface HistogramSeries {
  readonly labels: Labels;
  readonly counts: number[];
  sum: number;
  count: number;
}

export class Counter {
  private readonly values = new Map<string, CounterSeries>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels, by = 1): void {
    this.series(labels).value += by;
  }

  /** The series of `labels` (created at 0): callers that cache it skip the key per update. */
  series(labels: Labels): CounterSeries {
    const k = keyOf(labels);
    let e = this.values.get(k);
    if (!e) this.values.set(k, (e = { labels, value: 0 }));
    return e;
  }

  get(labels: Labels): number {
    return this.values.get(keyOf(labels))?.value ?? 0;
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values())
      out.push(`${this.name}${labelText(labels)} ${value}`);
    return out;
  }
}

export class Histogram {
  private readonly values = new Map<string, HistogramSeries>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {}

  observe(labels: Labels, v: number): void {
    this.observeIn(this.series(labels), v);
  }

  /** The series of `labels` (created empty), for callers that cache it. */
  series(labels: Labels): HistogramSeries {
    const k = keyOf(labels);
    let e = this.values.get(k);
    if (!e)
      this.values.set(k, (e = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    return e;
  }

  observeIn(e: HistogramSeries, v: number): void {
    const b = this.buckets;
    // Buckets are ascending: every bucket from the first that holds v counts it.
    let i = 0;
    while (i < b.length && !(v <= b[i]!)) i++;
    for (; i < b.length; i++) e.counts[i]!++;
    e.sum += v;
    e.count++;
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.values.values()) {
      this.buckets.forEach((b, i) =>
        out.push(`${this.name}_bucket${labelText(labels, ['le', String(b)])} ${counts[i]}`),
      );
      out.push(`${this.name}_bucket${labelText(labels, ['le', '+Inf'])} ${count}`);
      out.push(`${this.name}_sum${labelText(labels)} ${sum}`);
      out.push(`${this.name}_count${labelText(labels)} ${count}`);
    }
    return out;
  }
}
