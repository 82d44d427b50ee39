/** What the three proxies share: config, state, telemetry, connection tracking. */
import type { Workload } from '../api/workload.js';
import type { Logger } from '../log.js';
import type { AccessLog } from './access-log.js';
import type { ZtunnelConfig } from './config.js';
import type { ConnectionManager } from './connection-manager.js';
import type { ConnectionLabels, Metrics } from './metrics.js';
import { unknownLabels } from './metrics.js';
import type { ZtunnelState } from '../state/store.js';
import { workloadIdentity } from '../state/store.js';

export interface ProxyContext {
  config: ZtunnelConfig;
  state: ZtunnelState;
  metrics: Metrics;
  accessLog: AccessLog;
  connections: ConnectionManager;
  log: Logger;
  /** Resolves once the first full state arrived; rejects after config.stateWaitMs. */
  stateReady(): Promise<void>;
}

export function connectionLabels(
  reporter: 'source' | 'destination',
  src: Workload | undefined,
  dst: Workload | undefined,
  opts: { srcIdentity?: string; service?: string; mtls: boolean; flags?: string },
): ConnectionLabels {
  const l = unknownLabels(reporter);
  if (src) {
    l.source_workload = src.workloadName || src.name;
    l.source_workload_namespace = src.namespace;
    l.source_principal = workloadIdentity(src);
  }
  if (opts.srcIdentity) l.source_principal = opts.srcIdentity;
  if (dst) {
    l.destination_workload = dst.workloadName || dst.name;
    l.destination_workload_namespace = dst.namespace;
    if (dst.tunnelProtocol === 'HBONE') l.destination_principal = workloadIdentity(dst);
  }
  if (opts.service) l.destination_service = opts.service;
  l.connection_security_policy = opts.mtls ? 'mutual_tls' : 'none';
  if (!opts.mtls && !opts.srcIdentity && reporter === 'destination') l.source_principal = 'unknown';
  if (opts.flags) l.response_flags = opts.flags;
  return l;
}
