/**
 * Istio's standard TCP metrics, as ztunnel reports them, in Prometheus text format.
 * received = request direction (client → server), sent = response direction, per Istio's
 * definitions. Counters live here; the HTTP server for /metrics is in admin.ts. The process's
 * memory gauges and trim counters (src/runtime/memory.ts) follow them.
 */
import { memoryMetricLines } from '../runtime/memory.js';
// ztunnel's label set (its CommonTrafficLabels, docs/istio: waypoint.md §5.1 lists the same
// names for the waypoint), in its order. Unset values are `unknown` (Istio #54668).
export const LABELS = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_service',
  'destination_service_namespace',
  'destination_service_name',
  'destination_workload',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_cluster',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
] as const;

export type ConnectionLabels = Record<(typeof LABELS)[number], string>;

const FAMILIES = {
  istio_tcp_connections_opened_total: 'The total number of TCP connections opened',
  istio_tcp_connections_closed_total: 'The total number of TCP connections closed',
  istio_tcp_sent_bytes_total:
    'The size of total bytes sent during response in case of a TCP connection',
  istio_tcp_received_bytes_total:
    'The size of total bytes received during request in case of a TCP connection',
} as const;

type Family = keyof typeof FAMILIES;

export function unknownLabels(reporter: 'source' | 'destination'): ConnectionLabels {
  const l = Object.fromEntries(LABELS.map((k) => [k, 'unknown'])) as ConnectionLabels;
  l.reporter = reporter;
  l.request_protocol = 'tcp';
  l.response_flags = '-';
  l.connection_security_policy = 'none';
  return l;
}

const NEEDS_ESCAPE = /[\\\n"]/;

function escape(v: string): string {
  if (!NEEDS_ESCAPE.test(v)) return v;
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** A series' identity within a family: its label text, escaped as the exposition format wants. */
export type SeriesKey = string & { readonly __series: unique symbol };

/**
 * Built once per connection and reused by the opened and the three closed families: with 23
 * labels, building it per family and event was 8 % of a ztunnel's busy time in the
 * connection-rate bench (bench/results/2026-12-04-504e0f3-profile-mesh-connrate.md).
 */
export function seriesKey(l: ConnectionLabels): SeriesKey {
  let text = '';
  for (const k of LABELS) text += `${text ? ',' : ''}${k}="${escape(l[k])}"`;
  return text as SeriesKey;
}

const keyOf = (l: ConnectionLabels | SeriesKey): SeriesKey =>
  typeof l === 'string' ? l : seriesKey(l);

export class Metrics {
  private readonly series = new Map<Family, Map<SeriesKey, number>>();
  /** DNS proxy counters (ztunnel's unstable DNS metrics). */
  private dns = { requests: 0, upstream: 0 };

  constructor(private readonly build: { tag: string } = { tag: '0.1.0' }) {
    for (const f of Object.keys(FAMILIES) as Family[]) this.series.set(f, new Map());
  }

  private add(f: Family, key: SeriesKey, n: number): void {
    const m = this.series.get(f)!;
    m.set(key, (m.get(key) ?? 0) + n);
  }

  connectionOpened(labels: ConnectionLabels | SeriesKey): void {
    this.add('istio_tcp_connections_opened_total', keyOf(labels), 1);
  }

  /** Called once when a proxied connection ends, with its byte counts. */
  connectionClosed(labels: ConnectionLabels | SeriesKey, received: number, sent: number): void {
    const key = keyOf(labels);
    this.add('istio_tcp_connections_closed_total', key, 1);
    this.add('istio_tcp_received_bytes_total', key, received);
    this.add('istio_tcp_sent_bytes_total', key, sent);
  }

  dnsRequest(): void {
    this.dns.requests++;
  }

  dnsUpstreamRequest(): void {
    this.dns.upstream++;
  }

  /** Sum of a family over series whose labels include all of `filter`. For tests and status. */
  value(f: Family, filter: Partial<ConnectionLabels> = {}): number {
    let total = 0;
    const want = Object.entries(filter).map(([k, v]) => `${k}="${escape(v)}"`);
    for (const [key, n] of this.series.get(f)!) {
      const parts = key.split(/,(?=[a-z_]+=")/);
      if (want.every((w) => parts.includes(w))) total += n;
    }
    return total;
  }

  render(): string {
    const lines: string[] = [];
    for (const [f, help] of Object.entries(FAMILIES) as [Family, string][]) {
      lines.push(`# HELP ${f} ${help}.`, `# TYPE ${f} counter`);
      for (const [key, n] of this.series.get(f)!) lines.push(`${f}{${key}} ${n}`);
    }
    lines.push(
      '# HELP istio_dns_requests_total Total number of DNS requests.',
      '# TYPE istio_dns_requests_total counter',
      `istio_dns_requests_total ${this.dns.requests}`,
      '# HELP istio_dns_upstream_requests_total Total number of DNS requests forwarded upstream.',
      '# TYPE istio_dns_upstream_requests_total counter',
      `istio_dns_upstream_requests_total ${this.dns.upstream}`,
      '# HELP istio_build Istio component build info.',
      '# TYPE istio_build gauge',
      `istio_build{component="ztunnel",tag="${escape(this.build.tag)}"} 1`,
      ...memoryMetricLines(),
    );
    return lines.join('\n') + '\n';
  }
}
