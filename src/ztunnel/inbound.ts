/**
 * Inbound HBONE (15008): the HBONE server (src/hbone/server.ts) hands us each CONNECT stream;
 * here it is decided, the application dialled and the two spliced, as Istio ztunnel's
 * `inbound.rs` does. The authority
 * must name the connection's own local address (the destination pod, under TPROXY) and a
 * workload on this node: never an open relay. Then L4 authorization on (peer identity, client
 * IP, destination port), then a spoofed connect to the application.
 * 400 bad request / not local, 401 denied, 503 application unreachable.
 */
import type net from 'node:net';
import type { Workload } from '../api/workload.js';
import { errorMessage } from '../errors.js';
import { connectionId, withFields, type Logger } from '../log.js';
import { acceptAndSplice } from '../hbone/handoff.js';
import type { HboneInboundRequest, HboneRequest } from '../hbone/types.js';
import { abort } from '../relay/splice.js';
import { openConnection, type ZtunnelConnection } from './telemetry.js';
import { connectApp } from './app-connect.js';
import { ILLEGAL_PORTS } from './config.js';
import type { ProxyContext } from './context.js';
import { connectionLabels, inboundService, localWorkload, synced } from './context.js';
import { baggage, forwardedFor, parseAuthority, plainIp } from './headers.js';
import { assertRbac, denialReason } from './rbac.js';
import { workloadIdentity } from '../state/store.js';

/** An inbound connection decided: refused with a status, or the application connected. */
export type InboundDecision =
  | { ok: false; status: number; reason: string }
  | { ok: true; app: net.Socket; conn: ZtunnelConnection; headers: Record<string, string> };

/** What the outbound side needs for a destination on this node (the direct-local path). */
export type LocalInbound = Pick<InboundProxy, 'decide'>;

export class InboundProxy {
  constructor(private readonly ctx: ProxyContext) {}

  /** The client's address: `forwarded for=` when that IP belongs to the peer's identity. */
  private clientIp(req: HboneInboundRequest): { ip: string; workload?: Workload } {
    const claimed = forwardedFor(req.headers.forwarded);
    if (claimed) {
      const w = this.ctx.state.workloadByIp(claimed);
      if (w && workloadIdentity(w) === req.peerIdentity) return { ip: claimed, workload: w };
      this.ctx.log.debug('forwarded address does not belong to the peer identity', {
        claimed,
        peer: req.peerIdentity,
      });
    }
    const peer = plainIp(req.peerAddress);
    const w = this.ctx.state.workloadByIp(peer);
    return { ip: peer, workload: w && workloadIdentity(w) === req.peerIdentity ? w : undefined };
  }

  /** The HBONE server's handler. Never rejects: bad input is answered, logged, serving goes on. */
  handle = async (req: HboneRequest): Promise<void> => {
    const d = await this.decide(req, req.signal);
    if (!d.ok) return req.refuse(d.status, d.reason);
    d.conn.finish(await acceptAndSplice(req, d.app, d.headers));
  };

  /**
   * Everything but the copy: checks, authorization, the connection record (opened, tracked for
   * policy re-checks) and the connected application socket. Shared by the HBONE handler and the
   * outbound side's direct-local path, which splices `app` itself and then finishes `conn`.
   * Never rejects. `signal` cancels the dial to the application.
   */
  async decide(req: HboneInboundRequest, signal?: AbortSignal): Promise<InboundDecision> {
    const connId = connectionId();
    const log = withFields(this.ctx.log, { conn: connId });
    try {
      return await this.decideOrThrow(req, signal, connId, log);
    } catch (err) {
      log.error('inbound failed', { authority: req.authority, error: errorMessage(err) });
      return { ok: false, status: 503, reason: errorMessage(err) };
    }
  }

  private async decideOrThrow(
    req: HboneInboundRequest,
    signal: AbortSignal | undefined,
    connId: string,
    log: Logger,
  ): Promise<InboundDecision> {
    const { ctx } = this;
    const started = Date.now();
    const refuse = (status: number, reason: string) => ({ ok: false as const, status, reason });
    const local = plainIp(req.localAddress);
    const target = parseAuthority(req.authority);
    if (!target) return refuse(400, `malformed authority ${JSON.stringify(req.authority)}`);
    if (target.ip !== local)
      return refuse(400, `authority ${req.authority} is not this connection's address ${local}`);
    if (ILLEGAL_PORTS.has(target.port)) return refuse(400, `port ${target.port} is ztunnel's own`);
    if (!(await synced(ctx))) return refuse(503, 'no configuration from the control plane yet');
    const dst = localWorkload(ctx, target.ip);
    if (!dst) return refuse(400, `${target.ip} is not a workload on node ${ctx.config.nodeName}`);
    const client = this.clientIp(req);
    const rbacConn = {
      srcIp: client.ip,
      dstIp: target.ip,
      dstPort: target.port,
      srcIdentity: req.peerIdentity,
    };
    const labels = connectionLabels('destination', client.workload, dst, {
      srcIdentity: req.peerIdentity,
      service: inboundService(ctx.state, dst, target.port),
      mtls: true,
    });
    const conn = openConnection(
      ctx,
      labels,
      {
        conn: connId,
        direction: 'inbound',
        srcAddr: client.ip,
        srcWorkload: client.workload?.name,
        srcNamespace: client.workload?.namespace,
        srcIdentity: req.peerIdentity,
        dstAddr: req.authority,
        dstHboneAddr: `${local}:${ctx.config.hbonePort}`,
        dstWorkload: dst.name,
        dstNamespace: dst.namespace,
        dstIdentity: workloadIdentity(dst),
      },
      started,
    );
    const verdict = assertRbac(ctx.state, dst, rbacConn, log);
    if (!verdict.allowed) {
      const why = denialReason(verdict);
      conn.fail('AuthorizationPolicyDenied', why);
      return refuse(401, why);
    }
    let app: net.Socket;
    try {
      // A stream reset while we dial cancels the dial (no SYN left behind for a gone client).
      app = await connectApp(ctx.config, client.ip, target.ip, target.port, { signal });
    } catch (err) {
      conn.fail('ConnectionFailure', err);
      return refuse(503, `connect to ${req.authority}: ${errorMessage(err)}`);
    }
    conn.whenClosed(
      ctx.connections.track({
        direction: 'inbound',
        rbac: rbacConn,
        dstUid: dst.uid,
        src: client.ip,
        dst: req.authority,
        srcIdentity: req.peerIdentity,
        dstIdentity: conn.open.dstIdentity,
        close: () => abort(app),
      }),
    );
    return { ok: true, app, conn, headers: { baggage: baggage(dst) } };
  }
}
