/**
 * Plain TCP through the waypoint (waypoint.md §2.7): L4 authorization with Istio's TCP rules
 * (denied: the stream is closed), one endpoint per connection, bytes spliced both ways.
 */
import type { Duplex } from 'node:stream';
import { errorMessage } from '../errors.js';
import { splice } from '../relay/splice.js';
import { authorize } from './authz/evaluate.js';
import { chooseEndpoint } from './proxy/endpoints.js';
import type { ConnContext, ProxyDeps } from './proxy/context.js';
import { formatAccessLog } from './telemetry/access-log.js';

export function proxyTcp(deps: ProxyDeps, ctx: ConnContext, stream: Duplex): void {
  const start = new Date();
  const t0 = performance.now();
  const cfg = deps.config();
  const dest = ctx.dest;
  const service = dest.kind === 'service' ? dest.service : undefined;
  const serviceKey = service ? `${service.namespace}/${service.hostname}` : undefined;
  const source = cfg?.peers.get(ctx.clientIp);
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
        upstreamCluster: service ? `inbound-vip|${dest.port}|tcp|${service.hostname}` : undefined,
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
  const current = serviceKey ? (cfg.services.get(serviceKey) ?? service) : undefined;
  const chosen =
    dest.kind === 'service'
      ? chooseEndpoint(current!, dest.port, new Set())
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
    service: service
      ? { hostname: service.hostname, name: service.name, namespace: service.namespace }
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
