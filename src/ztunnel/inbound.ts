/**
 * Inbound HBONE (15008): decides each CONNECT that F's HBONE server hands us. The authority
 * must name the connection's own local address (the destination pod, under TPROXY) and a
 * workload on this node: never an open relay. Then L4 authorization on (peer identity, client
 * IP, destination port), then a spoofed connect to the application.
 * 400 bad request / not local, 401 denied, 503 application unreachable.
 */
import type net from 'node:net';
import type { Workload } from '../api/workload.js';
import { errorMessage } from '../errors.js';
import { recordClose } from './telemetry.js';
import type { HboneInboundRequest, HboneServerOptions } from '../hbone/types.js';
import { connectApp } from './app-connect.js';
import { ILLEGAL_PORTS } from './config.js';
import type { ProxyContext } from './context.js';
import { connectionLabels } from './context.js';
import { baggage, forwardedFor, parseAuthority, plainIp } from './headers.js';
import { assertRbac } from './rbac.js';
import { workloadIdentity } from '../state/store.js';

type Answer = Awaited<ReturnType<HboneServerOptions['onConnect']>>;

/** What the outbound side needs for a destination on this node (the direct-local path). */
export type LocalInbound = Pick<InboundProxy, 'onConnect'>;

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

  /** Never rejects: bad input from the network is answered, logged, and serving goes on. */
  onConnect = async (req: HboneInboundRequest): Promise<Answer> => {
    try {
      return await this.decide(req);
    } catch (err) {
      this.ctx.log.error('inbound failed', { authority: req.authority, error: errorMessage(err) });
      return { status: 503, reason: errorMessage(err) };
    }
  };

  private async decide(req: HboneInboundRequest): Promise<Answer> {
    const { ctx } = this;
    const started = Date.now();
    const local = plainIp(req.localAddress);
    const target = parseAuthority(req.authority);
    if (!target)
      return { status: 400, reason: `malformed authority ${JSON.stringify(req.authority)}` };
    if (target.ip !== local) {
      return {
        status: 400,
        reason: `authority ${req.authority} is not this connection's address ${local}`,
      };
    }
    if (ILLEGAL_PORTS.has(target.port))
      return { status: 400, reason: `port ${target.port} is ztunnel's own` };
    try {
      await ctx.stateReady();
    } catch {
      return { status: 503, reason: 'no configuration from the control plane yet' };
    }
    const dst = ctx.state.workloadByIp(target.ip);
    if (!dst || dst.node !== ctx.config.nodeName) {
      return {
        status: 400,
        reason: `${target.ip} is not a workload on node ${ctx.config.nodeName}`,
      };
    }
    const client = this.clientIp(req);
    const rbacConn = {
      srcIp: client.ip,
      dstIp: target.ip,
      dstPort: target.port,
      srcIdentity: req.peerIdentity,
    };
    const labels = connectionLabels('destination', client.workload, dst, {
      srcIdentity: req.peerIdentity,
      mtls: true,
    });
    const record = {
      direction: 'inbound' as const,
      srcAddr: client.ip,
      srcWorkload: client.workload?.name,
      srcNamespace: client.workload?.namespace,
      srcIdentity: req.peerIdentity,
      dstAddr: req.authority,
      dstHboneAddr: `${local}:${ctx.config.hbonePort}`,
      dstWorkload: dst.name,
      dstNamespace: dst.namespace,
      dstIdentity: workloadIdentity(dst),
    };
    ctx.metrics.connectionOpened(labels);
    const fail = (responseFlags: string, error: string) =>
      recordClose(ctx, labels, record, started, {
        bytesSent: 0,
        bytesRecv: 0,
        error,
        responseFlags,
      });
    const verdict = assertRbac(ctx.state, dst, rbacConn, ctx.log);
    if (!verdict.allowed) {
      const why =
        verdict.reason === 'ExplicitlyDenied'
          ? `explicitly denied by: ${verdict.policy}`
          : 'allow policies exist, but none allowed';
      fail('AuthorizationPolicyDenied', why);
      return { status: 401, reason: why };
    }
    let app: net.Socket;
    try {
      app = await connectApp(ctx.config, client.ip, target.ip, target.port);
    } catch (err) {
      fail('ConnectionFailure', errorMessage(err));
      return { status: 503, reason: `connect to ${req.authority}: ${errorMessage(err)}` };
    }
    const untrack = ctx.connections.track({
      direction: 'inbound',
      rbac: rbacConn,
      dstUid: dst.uid,
      src: client.ip,
      dst: req.authority,
      srcIdentity: req.peerIdentity,
      dstIdentity: record.dstIdentity,
      close: () => {
        if (!app.destroyed) app.resetAndDestroy();
      },
    });
    let error: string | undefined;
    app.on('error', (e) => (error ??= errorMessage(e)));
    app.once('close', () => {
      untrack();
      recordClose(ctx, labels, record, started, {
        bytesSent: app.bytesWritten,
        bytesRecv: app.bytesRead,
        error,
      });
    });
    return { status: 200, headers: { baggage: baggage(dst) }, upstream: app };
  }
}
