/**
 * One access-log line per request (and per TCP connection), Istio's default text format
 * (waypoint.md §5.2) with the waypoint's values: `[start] "METHOD PATH PROTO" code flags
 * details "-" bytes_in bytes_out duration_ms upstream_ms "xff" "ua" "request-id" "authority"
 * "upstream host" cluster - downstream_local downstream_remote - route`, then the trace and
 * peer identities.
 */
export interface AccessLogEntry {
  start: Date;
  method: string;
  path: string;
  protocol: string;
  status: number;
  flags: string;
  details: string;
  bytesReceived: number;
  bytesSent: number;
  durationMs: number;
  upstreamMs?: number;
  xff?: string;
  userAgent?: string;
  requestId?: string;
  authority: string;
  upstreamHost?: string;
  upstreamCluster?: string;
  downstreamLocal: string;
  downstreamRemote: string;
  route?: string;
  traceId?: string;
  spanId?: string;
  sourcePrincipal?: string;
  destinationPrincipal?: string;
}

const q = (v: string | undefined) => `"${v ?? '-'}"`;
const d = (v: string | number | undefined) => (v === undefined || v === '' ? '-' : String(v));

export function formatAccessLog(e: AccessLogEntry): string {
  return [
    `[${e.start.toISOString()}]`,
    `"${e.method} ${e.path} ${e.protocol}"`,
    e.status,
    d(e.flags),
    d(e.details),
    '-',
    '"-"',
    e.bytesReceived,
    e.bytesSent,
    Math.round(e.durationMs),
    d(e.upstreamMs === undefined ? undefined : Math.round(e.upstreamMs)),
    q(e.xff),
    q(e.userAgent),
    q(e.requestId),
    q(e.authority),
    q(e.upstreamHost),
    d(e.upstreamCluster),
    '-',
    e.downstreamLocal,
    e.downstreamRemote,
    '-',
    d(e.route),
    `trace_id=${d(e.traceId)}`,
    `span_id=${d(e.spanId)}`,
    `src.identity=${d(e.sourcePrincipal)}`,
    `dst.identity=${d(e.destinationPrincipal)}`,
  ].join(' ');
}
