/**
 * Outbound (15001): connections captured from pods on this node. The original destination is
 * the accepted socket's local address (TPROXY keeps it); the source workload is found by the
 * client's IP and must run on this node. A service VIP resolves to one healthy endpoint per
 * connection (or to the service's waypoint); an HBONE destination gets a CONNECT stream over
 * mTLS to `<pod IP>:15008`; anything else passes through as plain TCP, not spoofed.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { GatewayAddress, Service, Workload } from '../api/workload.js';
import type { CodeOf } from '../errors.js';
import { openConnection, type ZtunnelConnection } from './telemetry.js';
import type { HboneClient, HboneInboundRequest } from '../hbone/types.js';
import { HboneError } from '../hbone/types.js';
import { TCP_KEEPALIVE_MS } from '../hbone/settings.js';
import type { LocalInbound } from './inbound.js';
import { ILLEGAL_PORTS } from './config.js';
import type { ProxyContext } from './context.js';
import { connectionLabels, localWorkload, synced } from './context.js';
import { accepted, guard, reset } from './accepted.js';
import { baggage, forwarded, traceparent } from './headers.js';
import { chooseEndpoint } from '../state/lb.js';
import type { ZtunnelState } from '../state/store.js';
import { serviceKey, workloadIdentity } from '../state/store.js';
import { abort } from '../relay/splice.js';

export type OutboundPlan =
  | {
      kind: 'hbone';
      /** The final destination workload (undefined when the hop is to a waypoint by VIP). */
      dstWorkload?: Workload;
      /** The peer we dial: destination pod or waypoint. */
      peer: Workload;
      identities: string[];
      dialIp: string;
      dialPort: number;
      authority: string;
      service?: Service;
      waypoint: boolean;
    }
  | { kind: 'tcp'; ip: string; port: number; dstWorkload?: Workload; service?: Service }
  | { kind: 'refuse'; code: CodeOf<'ZTUNNEL'>; reason: string };

/** Resolves a waypoint reference to the workload serving it and the address to dial. */
function resolveGateway(
  state: ZtunnelState,
  gw: GatewayAddress,
  random: () => number,
): { workload: Workload; ip: string; port: number } | undefined {
  if (gw.address) {
    const w = state.workloadByIp(gw.address.address);
    if (w) return { workload: w, ip: gw.address.address, port: gw.hboneMtlsPort };
  }
  // A waypoint's address is usually its Service (status address = ClusterIP, or the hostname):
  // dial one healthy pod behind it, as Istio's ztunnel does.
  const svc = gw.address
    ? state.serviceByVip(gw.address.address)
    : gw.hostname
      ? state.serviceByHost(gw.hostname.namespace, gw.hostname.hostname)
      : undefined;
  if (!svc) return undefined;
  const eps = state.endpoints(svc).filter((w) => w.status === 'Healthy' && w.addresses[0]);
  const w = eps[Math.floor(random() * eps.length)];
  return w ? { workload: w, ip: w.addresses[0]!, port: gw.hboneMtlsPort } : undefined;
}

function isFromWaypoint(
  src: Workload,
  gw: GatewayAddress | undefined,
  state: ZtunnelState,
): boolean {
  if (!gw) return false;
  if (gw.address && src.addresses.includes(gw.address.address)) return true;
  const svc = gw.address
    ? state.serviceByVip(gw.address.address)
    : gw.hostname
      ? state.serviceByHost(gw.hostname.namespace, gw.hostname.hostname)
      : undefined;
  return svc ? state.endpoints(svc).some((w) => w.uid === src.uid) : false;
}

/** Decides where a captured connection from `src` to `dstIp:dstPort` goes. Pure but for `random`. */
function refuse(code: CodeOf<'ZTUNNEL'>, reason: string): OutboundPlan {
  return { kind: 'refuse', code, reason };
}

export function buildRequest(
  state: ZtunnelState,
  src: Workload,
  dstIp: string,
  dstPort: number,
  opts: { hbonePort: number; random?: () => number },
): OutboundPlan {
  const random = opts.random ?? Math.random;
  const svc = state.serviceByVip(dstIp);
  if (svc && svc.ports.some((p) => p.servicePort === dstPort)) {
    if (svc.waypoint && !isFromWaypoint(src, svc.waypoint, state)) {
      const wp = resolveGateway(state, svc.waypoint, random);
      if (!wp)
        return refuse('ZTUNNEL_UNKNOWN_WAYPOINT', `waypoint of ${serviceKey(svc)} is unknown`);
      return viaWaypoint(wp, `${dstIp}:${dstPort}`, { service: svc });
    }
    const ep = chooseEndpoint(state, svc, dstPort, random);
    if (!ep)
      return refuse(
        'ZTUNNEL_NO_HEALTHY_UPSTREAM',
        `no healthy upstream for ${serviceKey(svc)}:${dstPort}`,
      );
    return toWorkload(ep.workload, ep.ip, ep.targetPort, svc, opts.hbonePort);
  }
  const w = state.workloadByIp(dstIp);
  if (w) {
    if (w.waypoint && !isFromWaypoint(src, w.waypoint, state)) {
      const wp = resolveGateway(state, w.waypoint, random);
      if (!wp) return refuse('ZTUNNEL_UNKNOWN_WAYPOINT', `waypoint of ${w.uid} is unknown`);
      return viaWaypoint(wp, `${dstIp}:${dstPort}`, { dstWorkload: w });
    }
    return toWorkload(w, dstIp, dstPort, undefined, opts.hbonePort);
  }
  // Outside the mesh (or a VIP port the service does not expose): passthrough.
  return { kind: 'tcp', ip: dstIp, port: dstPort, service: svc };
}

/** The HBONE hop to a waypoint, `:authority` the original destination (service or workload). */
function viaWaypoint(
  wp: { workload: Workload; ip: string; port: number },
  authority: string,
  dst: { service: Service } | { dstWorkload: Workload },
): OutboundPlan {
  return {
    kind: 'hbone',
    ...dst,
    peer: wp.workload,
    identities: [workloadIdentity(wp.workload)],
    dialIp: wp.ip,
    dialPort: wp.port,
    authority,
    waypoint: true,
  };
}

function toWorkload(
  w: Workload,
  ip: string,
  port: number,
  svc: Service | undefined,
  hbonePort: number,
): OutboundPlan {
  if (w.tunnelProtocol !== 'HBONE') return { kind: 'tcp', ip, port, dstWorkload: w, service: svc };
  const ids = new Set([workloadIdentity(w), ...(svc?.subjectAltNames ?? [])]);
  return {
    kind: 'hbone',
    dstWorkload: w,
    peer: w,
    identities: [...ids],
    dialIp: ip,
    dialPort: hbonePort,
    authority: `${ip}:${port}`,
    service: svc,
    waypoint: false,
  };
}

/**
 * True when the HBONE peer is a captured workload on this node. Its 15008 is served by this
 * very ztunnel (the node agent redirects only traffic arriving through istioin), so dialling it
 * would reach the pod itself and be reset: the inbound side runs in-process instead (the
 * direct-local path, issue #10).
 */
export function isDirectLocal(plan: OutboundPlan, nodeName: string): boolean {
  return (
    plan.kind === 'hbone' &&
    !plan.waypoint &&
    plan.peer.node === nodeName &&
    plan.peer.tunnelProtocol === 'HBONE' &&
    !plan.peer.nativeTunnel
  );
}

function connectTcp(ip: string, port: number, timeoutMs = 10_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({
      host: ip,
      port,
      allowHalfOpen: true,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: TCP_KEEPALIVE_MS,
    });
    const t = setTimeout(() => s.destroy(new Error(`connect ${ip}:${port} timed out`)), timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

export class OutboundProxy {
  constructor(
    private readonly ctx: ProxyContext,
    private readonly hbone: HboneClient,
    private readonly random: () => number = Math.random,
    /** This node's inbound HBONE decisions, for destinations on this node (direct local). */
    private readonly local?: LocalInbound,
  ) {}

  /**
   * Handles one accepted connection. `orig` overrides the original destination (tests without
   * TPROXY); by default it is the socket's local address.
   */
  handle(socket: net.Socket, orig?: { ip: string; port: number }): void {
    guard(this.ctx.log, 'outbound', socket, () => this.proxy(socket, orig));
  }

  private async proxy(socket: net.Socket, orig?: { ip: string; port: number }): Promise<void> {
    const { ctx } = this;
    const started = Date.now();
    const { srcIp, srcPort, dstIp, dstPort, connId, refused } = accepted(ctx.log, socket, orig);
    if (
      ILLEGAL_PORTS.has(dstPort) &&
      (dstIp.startsWith('127.') || dstIp === ctx.config.instanceIp)
    ) {
      return refused('ZTUNNEL_SELF_CALL', 'destination is a ztunnel port');
    }
    if (!(await synced(ctx)))
      return refused('ZTUNNEL_NOT_SYNCED', 'no configuration from the control plane yet');
    const src = localWorkload(ctx, srcIp);
    if (!src) {
      return refused('ZTUNNEL_UNKNOWN_SOURCE', 'source is not a workload on this node', {
        node: ctx.state.workloadByIp(srcIp)?.node,
      });
    }
    const plan = buildRequest(ctx.state, src, dstIp, dstPort, {
      hbonePort: ctx.config.hbonePort,
      random: this.random,
    });
    if (plan.kind === 'refuse') {
      return refused(plan.code, plan.reason);
    }
    const mtls = plan.kind === 'hbone';
    const dstW = plan.kind === 'hbone' ? (plan.dstWorkload ?? plan.peer) : plan.dstWorkload;
    const svcName = plan.service?.hostname;
    const labels = connectionLabels('source', src, dstW, { service: plan.service, mtls });
    const srcIdentity = workloadIdentity(src);
    const record = {
      conn: connId,
      direction: 'outbound' as const,
      srcAddr: `${srcIp}:${srcPort}`,
      srcWorkload: src.name,
      srcNamespace: src.namespace,
      srcIdentity,
      dstAddr: plan.kind === 'hbone' ? plan.authority : `${plan.ip}:${plan.port}`,
      dstHboneAddr: plan.kind === 'hbone' ? `${plan.dialIp}:${plan.dialPort}` : undefined,
      dstService: svcName,
      dstWorkload: dstW?.name,
      dstNamespace: dstW?.namespace,
      dstIdentity: plan.kind === 'hbone' ? plan.identities[0] : undefined,
    };
    const conn = openConnection(ctx, labels, record, started);
    let upstream: Duplex;
    /** The destination side's record, on the direct-local path (no second hop to finish it). */
    let inbound: ZtunnelConnection | undefined;
    try {
      if (plan.kind === 'hbone' && this.local && isDirectLocal(plan, ctx.config.nodeName)) {
        ({ app: upstream, conn: inbound } = await this.connectLocal(this.local, {
          peerIdentity: srcIdentity,
          peerAddress: srcIp,
          peerPort: srcPort,
          localAddress: plan.dialIp,
          localPort: plan.dialPort,
          authority: plan.authority,
          headers: {
            baggage: baggage(src),
            forwarded: forwarded(srcIp, srcPort, svcName),
            traceparent: traceparent(),
          },
        }));
      } else if (plan.kind === 'hbone') {
        const res = await this.hbone.connect({
          srcIdentity,
          dstIdentities: plan.identities,
          srcIp,
          dstIp: plan.dialIp,
          dstPort: plan.dialPort,
          authority: plan.authority,
          headers: {
            baggage: baggage(src),
            forwarded: forwarded(srcIp, srcPort, svcName),
            traceparent: traceparent(),
          },
        });
        upstream = res.stream;
      } else {
        upstream = await connectTcp(plan.ip, plan.port);
      }
    } catch (err) {
      conn.fail('ConnectionFailure', err);
      return reset(socket);
    }
    const untrack = ctx.connections.track({
      direction: 'outbound',
      src: record.srcAddr,
      dst: record.dstAddr,
      srcIdentity,
      dstIdentity: record.dstIdentity,
      close: () => {
        reset(socket);
        abort(upstream);
      },
    });
    conn.whenClosed(untrack);
    const r = await conn.splice(socket, upstream);
    inbound?.finish(r);
  }

  /**
   * The inbound half of a same-node connection, without a network hop: the same decision as a
   * CONNECT arriving on 15008 (authority, local workload, RBAC on the source identity, spoofed
   * connect to the app, destination-side telemetry and access log). The identity is the source
   * workload's own: this ztunnel holds its certificate, so no TLS is needed to learn it.
   */
  private async connectLocal(
    local: LocalInbound,
    req: HboneInboundRequest,
  ): Promise<{ app: Duplex; conn: ZtunnelConnection }> {
    const d = await local.decide(req);
    if (d.ok) return d;
    throw new HboneError(
      'HBONE_STATUS',
      `direct local ${req.authority}: ${d.status} ${d.reason}`.trim(),
      d.status,
    );
  }
}
