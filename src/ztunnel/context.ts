/** What the three proxies share: config, state, telemetry, connection tracking. */
import type { Service, Workload } from '../api/workload.js';
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

/** The service part of the labels: a hostname alone, or the Service it names. */
export type ServiceRef = string | Pick<Service, 'hostname' | 'name' | 'namespace'>;

function peer(l: ConnectionLabels, side: 'source' | 'destination', w: Workload): void {
  l[`${side}_workload`] = w.workloadName || w.name;
  l[`${side}_workload_namespace`] = w.namespace;
  // ztunnel reports app/version as the canonical service and revision.
  if (w.canonicalName) l[`${side}_canonical_service`] = l[`${side}_app`] = w.canonicalName;
  if (w.canonicalRevision)
    l[`${side}_canonical_revision`] = l[`${side}_version`] = w.canonicalRevision;
  if (w.clusterId) l[`${side}_cluster`] = w.clusterId;
}

export function connectionLabels(
  reporter: 'source' | 'destination',
  src: Workload | undefined,
  dst: Workload | undefined,
  opts: { srcIdentity?: string; service?: ServiceRef; mtls: boolean; flags?: string },
): ConnectionLabels {
  const l = unknownLabels(reporter);
  if (src) {
    peer(l, 'source', src);
    l.source_principal = workloadIdentity(src);
  }
  if (opts.srcIdentity) l.source_principal = opts.srcIdentity;
  if (dst) {
    peer(l, 'destination', dst);
    if (dst.tunnelProtocol === 'HBONE') l.destination_principal = workloadIdentity(dst);
  }
  const svc = opts.service;
  if (typeof svc === 'string') l.destination_service = svc;
  else if (svc) {
    l.destination_service = svc.hostname;
    l.destination_service_name = svc.name;
    l.destination_service_namespace = svc.namespace;
  }
  l.connection_security_policy = opts.mtls ? 'mutual_tls' : 'none';
  if (!opts.mtls && !opts.srcIdentity && reporter === 'destination') l.source_principal = 'unknown';
  if (opts.flags) l.response_flags = opts.flags;
  return l;
}

/**
 * The service an inbound connection was for, as ztunnel guesses it (the original VIP is gone
 * by then): the first of the workload's services with a port that targets `port`.
 */
export function inboundService(
  state: Pick<ZtunnelState, 'serviceByHost'>,
  dst: Workload,
  port: number,
): Service | undefined {
  for (const [key, { ports }] of Object.entries(dst.services)) {
    if (!ports.some((p) => (p.targetPort || p.servicePort) === port)) continue;
    const slash = key.indexOf('/');
    const svc = state.serviceByHost(key.slice(0, slash), key.slice(slash + 1));
    if (svc) return svc;
  }
  return undefined;
}

/** False when no configuration came within `config.stateWaitMs`: the caller refuses (fail closed). */
export function synced(ctx: ProxyContext): Promise<boolean> {
  return ctx.stateReady().then(
    () => true,
    () => false,
  );
}

/** The workload at `ip` when it runs on this node. */
export function localWorkload(ctx: ProxyContext, ip: string): Workload | undefined {
  const w = ctx.state.workloadByIp(ip);
  return w?.node === ctx.config.nodeName ? w : undefined;
}
