/**
 * ztunnel's sink for the shared connection record (src/relay/record.ts), used by the three
 * listeners: the opened counter when a connection is known, then at close the closed counters
 * with the bytes each way and the connection's one access-log line.
 */
import { ConnectionRecord } from '../relay/record.js';
import type { AccessRecord } from './access-log.js';
import type { ProxyContext } from './context.js';
import { seriesKey, type ConnectionLabels } from './metrics.js';

/** Everything about a connection known when it opened. */
export type OpenRecord = Omit<AccessRecord, 'bytesSent' | 'bytesRecv' | 'durationMs' | 'error'>;

export type ZtunnelConnection = ConnectionRecord<OpenRecord>;

/** Opens the record of one proxied connection (counts it as opened). */
export function openConnection(
  ctx: Pick<ProxyContext, 'metrics' | 'accessLog'>,
  labels: ConnectionLabels,
  record: OpenRecord,
  startedMs = Date.now(),
): ZtunnelConnection {
  const key = seriesKey(labels);
  return new ConnectionRecord<OpenRecord>(
    {
      opened: () => ctx.metrics.connectionOpened(key),
      closed: (open, o) => {
        const k = o.responseFlags ? seriesKey({ ...labels, response_flags: o.responseFlags }) : key;
        ctx.metrics.connectionClosed(k, o.bytesSent, o.bytesRecv);
        ctx.accessLog.write({
          ...open,
          bytesSent: o.bytesSent,
          bytesRecv: o.bytesRecv,
          durationMs: o.durationMs,
          error: o.error,
        });
      },
    },
    record,
    startedMs,
  );
}
