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
  // One template, not an array joined: this runs once per request.
  return (
    `[${e.start.toISOString()}] "${e.method} ${e.path} ${e.protocol}" ${e.status} ${d(e.flags)} ` +
    `${d(e.details)} - "-" ${e.bytesReceived} ${e.bytesSent} ${Math.round(e.durationMs)} ` +
    `${d(e.upstreamMs === undefined ? undefined : Math.round(e.upstreamMs))} ${q(e.xff)} ` +
    `${q(e.userAgent)} ${q(e.requestId)} ${q(e.authority)} ${q(e.upstreamHost)} ` +
    `${d(e.upstreamCluster)} - ${e.downstreamLocal} ${e.downstreamRemote} - ${d(e.route)} ` +
    `trace_id=${d(e.traceId)} span_id=${d(e.spanId)} src.identity=${d(e.sourcePrincipal)} ` +
    `dst.identity=${d(e.destinationPrincipal)}`
  );
}

/** How long a line may wait for others before the sink writes (and at most this much text). */
export const ACCESS_LOG_FLUSH_MS = 50;
export const ACCESS_LOG_FLUSH_BYTES = 64 * 1024;

/**
 * A sink that gathers lines for up to `flushMs` (or `ACCESS_LOG_FLUSH_BYTES`) and writes them
 * with one write: stdout into a pipe or file is a synchronous write(2) per call. Batching per
 * event-loop turn was not enough: at 1000 req/s over a few connections every request is a turn
 * of its own, so each still cost one write(2) and, through its setImmediate, one more
 * epoll_wait (strace of bench/l7-pair.ts). Lines stay in order; what is pending is written on
 * exit; the timer does not keep the process alive.
 */
export function batchedLineSink(
  write: (chunk: string) => void,
  flushMs = ACCESS_LOG_FLUSH_MS,
): (line: string) => void {
  let pending = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (!pending) return;
    const s = pending;
    pending = '';
    write(s);
  };
  process.on('exit', flush);
  return (line) => {
    pending += line + '\n';
    if (pending.length >= ACCESS_LOG_FLUSH_BYTES) flush();
    else timer ??= setTimeout(flush, flushMs).unref();
  };
}

let stdoutSink: ((line: string) => void) | undefined;

/** The process's access log on stdout (one sink per process, however many waypoints). */
export function stdoutAccessLog(): (line: string) => void {
  return (stdoutSink ??= batchedLineSink((s) => void process.stdout.write(s)));
}
