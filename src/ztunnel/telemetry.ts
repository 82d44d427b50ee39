/**
 * The end of a proxied connection's telemetry, shared by the three listeners: the closed
 * counters with the bytes each way, and the connection's one access-log line.
 */
import type { AccessRecord } from './access-log.js';
import type { ProxyContext } from './context.js';
import type { ConnectionLabels } from './metrics.js';

/** Everything about a connection known when it opened. */
export type OpenRecord = Omit<AccessRecord, 'bytesSent' | 'bytesRecv' | 'durationMs' | 'error'>;

export interface Outcome {
  bytesSent: number;
  bytesRecv: number;
  error?: string;
  /** Istio response flag for a refused or failed connection, e.g. AuthorizationPolicyDenied. */
  responseFlags?: string;
}

export function recordClose(
  ctx: ProxyContext,
  labels: ConnectionLabels,
  record: OpenRecord,
  startedMs: number,
  o: Outcome,
): void {
  const l = o.responseFlags ? { ...labels, response_flags: o.responseFlags } : labels;
  ctx.metrics.connectionClosed(l, o.bytesSent, o.bytesRecv);
  ctx.accessLog.write({
    ...record,
    bytesSent: o.bytesSent,
    bytesRecv: o.bytesRecv,
    durationMs: Date.now() - startedMs,
    error: o.error,
  });
}
