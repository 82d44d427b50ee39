/**
 * Plain TCP through the waypoint (waypoint.md §2.7): L4 authorization with Istio's TCP rules
 * (denied: the stream is closed); a TCPRoute attached to the port picks the backend service by
 * weight, per connection (else the service itself); one endpoint per connection, bytes spliced
 * both ways.
 */
import type { Duplex } from 'node:stream';
import { errorMessage } from '../errors.js';
import { splice } from '../relay/splice.js';
import { authorize } from './authz/evaluate.js';
import type { WaypointService } from '../api/waypoint-config.js';
import type { CompiledConfig } from './config/compiled.js';
import { chooseEndpoint } from './proxy/endpoints.js';
import type { ConnContext, ProxyDeps } from './proxy/context.js';
import { pickBackend } from './routing/select.js';
import { tableKey } from './routing/table.js';
import { formatAccessLog } from './telemetry/access-log.js';

export function proxyTcp(deps: ProxyDeps, ctx: ConnContext, stream: Duplex): void {
  const start = new Date();
  const t0 = performance.now();
  const cfg = deps.config();
  const dest = ctx.dest;
  const service = dest.kind === 'service' ? dest.service : undefined;
  const serviceKey = service ? `${service.namespace}/${service.hostname}` : undefined;
  const source = cfg?.peers.get(ctx.clientIp);
  // The service port the connection goes to: the destination's, or a TCPRoute's backend.
  let upstream: { service: WaypointService; port: number } | undefined = service
    ? { service, port: dest.port }
    : undefined;
  const log = (
    status: string,
    flags: string,
    up: string | undefined,
    sent: number,
    received: number,
    dst?: string,
  ) =>
    deps.accessLog(
      formatAccessLog({
        start,
        method: '-',
        path: '-',
        protocol: 'TCP',
        status: 0,
        flags,
        details: status,
        bytesReceived: received,
        bytesSent: sent,
        durationMs: performance.now() - t0,
        authority: ctx.authority,
        upstreamHost: up,
        upstreamCluster: upstream
          ? `inbound-vip|${upstream.port}|tcp|${upstream.service.hostname}`
          : undefined,
        downstreamLocal: ctx.authority,
        downstreamRemote: ctx.clientIp,
        sourcePrincipal: ctx.peerPrincipal,
        destinationPrincipal: dst,
      }),
    );
  if (!cfg) {
    stream.destroy();
    return;
  }
  const decision = authorize(cfg.policies, {
    protocol: 'tcp',
    sourcePrincipal: ctx.peerPrincipal,
    sourceIp: ctx.clientIp,
    remoteIp: ctx.clientIp,
    destinationIp: dest.ip,
    destinationPort: dest.port,
    service: serviceKey,
  });
  if (!decision.allowed) {
    log(`rbac_access_denied_matched_policy[${decision.policy ?? 'none'}]`, 'RBAC', undefined, 0, 0);
    stream.destroy();
    return;
  }
  if (service && serviceKey) {
    const t = tcpTarget(cfg, serviceKey, service, dest.port);
    if ('refused' in t) {
      log(t.refused, 'NR', undefined, 0, 0);
      stream.destroy();
      return;
    }
    upstream = t;
  }
  const chosen = upstream
    ? chooseEndpoint(upstream.service, upstream.port, new Set())
    : dest.kind === 'service'
      ? undefined
      : {
          endpoint: { ...dest.workload, address: dest.ip, targetPorts: [], healthy: true },
          target: {
            address: dest.ip,
            targetPort: dest.port,
            tunnel: dest.workload.tunnel,
            identity: dest.workload.identity,
          },
        };
  if (!chosen) {
    log('no_healthy_upstream', 'UH', undefined, 0, 0);
    stream.destroy();
    return;
  }
  const labels = deps.metrics.tcpOpen({
    source,
    sourcePrincipal: ctx.peerPrincipal,
    destination: chosen.endpoint,
    service: upstream
      ? {
          hostname: upstream.service.hostname,
          name: upstream.service.name,
          namespace: upstream.service.namespace,
        }
      : undefined,
    flags: '-',
  });
  const upHost = `${chosen.target.address}:${chosen.target.targetPort}`;
  let closed = false;
  const close = (flags: string, details: string, sent: number, received: number) => {
    if (closed) return;
    closed = true;
    deps.metrics.tcpClose(labels, sent, received);
    log(details, flags, upHost, sent, received, chosen.endpoint.identity);
  };
  deps.pool
    .open(chosen.target)
    .then(async (up) => {
      const spliced = splice(stream, up);
      // The sniffer may have left the stream paused with its first bytes unshifted.
      stream.resume();
      const r = await spliced;
      close(
        r.error ? 'UC' : '-',
        r.error ? `connection_termination{${r.error.message}}` : 'via_upstream',
        r.down,
        r.up,
      );
    })
    .catch((err: unknown) => {
      deps.log.debug('tcp upstream failed', {
        conn: ctx.id,
        target: upHost,
        error: errorMessage(err),
      });
      close('UF', 'upstream_connect_failed', 0, 0);
      stream.destroy();
    });
}

/**
 * Where a connection to `key`:`port` goes: the service itself, or the backend the TCPRoute in
 * force there picks by weight; refused (Envoy's `NR` flag, no route) when the pick is an
 * invalid backend or no backend has weight, as Gateway API requires.
 */
function tcpTarget(
  cfg: CompiledConfig,
  key: string,
  service: WaypointService,
  port: number,
): { service: WaypointService; port: number } | { refused: string } {
  const current = cfg.services.get(key) ?? service;
  const route = cfg.tables.get(tableKey(key, port))?.tcp[0];
  if (!route) return { service: current, port };
  const b = pickBackend(route.backends);
  if (!b) return { refused: `route_not_found{${route.routeKey}: no backend has weight}` };
  if (b.kind === 'invalid') return { refused: `route_not_found{${route.routeKey}: ${b.reason}}` };
  const backend = cfg.services.get(b.service);
  if (!backend)
    return { refused: `route_not_found{${route.routeKey}: ${b.service} is not in the config}` };
  return { service: backend, port: b.port };
}
