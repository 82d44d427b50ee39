/**
 * Inbound plaintext (15006): connections from outside the mesh to enrolled pods on this node.
 * Authorized with no identity (so a STRICT-mTLS DENY `notPrincipals: presence` refuses them),
 * then forwarded to the application from the client's own address.
 */
import net from 'node:net';
import { openConnection } from './telemetry.js';
import { connectApp } from './app-connect.js';
import { ILLEGAL_PORTS } from './config.js';
import type { ProxyContext } from './context.js';
import { connectionLabels, inboundService, localWorkload, synced } from './context.js';
import { accepted, guard, reset } from './accepted.js';
import { assertRbac, denialReason } from './rbac.js';
import { workloadIdentity } from '../state/store.js';

export class InboundPassthroughProxy {
  constructor(private readonly ctx: ProxyContext) {}

  handle(socket: net.Socket, orig?: { ip: string; port: number }): void {
    guard(this.ctx.log, 'inbound plaintext', socket, () => this.proxy(socket, orig));
  }

  private async proxy(socket: net.Socket, orig?: { ip: string; port: number }): Promise<void> {
    const { ctx } = this;
    const started = Date.now();
    const { srcIp, srcPort, dstIp, dstPort, connId, log, refused } = accepted(
      ctx.log,
      socket,
      orig,
    );
    if (ILLEGAL_PORTS.has(dstPort))
      return refused('ZTUNNEL_SELF_CALL', 'destination is a ztunnel port');
    if (!(await synced(ctx)))
      return refused('ZTUNNEL_NOT_SYNCED', 'no configuration from the control plane yet');
    const dst = localWorkload(ctx, dstIp);
    if (!dst)
      return refused('ZTUNNEL_NO_LOCAL_WORKLOAD', 'destination is not a workload on this node');
    const src = ctx.state.workloadByIp(srcIp);
    const rbacConn = { srcIp, srcPort, dstIp, dstPort };
    const labels = connectionLabels('destination', src, dst, {
      service: inboundService(ctx.state, dst, dstPort),
      mtls: false,
    });
    const record = {
      conn: connId,
      direction: 'inbound_plaintext' as const,
      srcAddr: `${srcIp}:${srcPort}`,
      srcWorkload: src?.name,
      srcNamespace: src?.namespace,
      dstAddr: `${dstIp}:${dstPort}`,
      dstWorkload: dst.name,
      dstNamespace: dst.namespace,
      dstIdentity: workloadIdentity(dst),
    };
    const conn = openConnection(ctx, labels, record, started);
    const verdict = assertRbac(ctx.state, dst, rbacConn, log);
    if (!verdict.allowed) {
      conn.fail('AuthorizationPolicyDenied', denialReason(verdict));
      return reset(socket);
    }
    let app: net.Socket;
    try {
      app = await connectApp(ctx.config, srcIp, dstIp, dstPort);
    } catch (err) {
      conn.fail('ConnectionFailure', err);
      return reset(socket);
    }
    const untrack = ctx.connections.track({
      direction: 'inbound_plaintext',
      rbac: rbacConn,
      dstUid: dst.uid,
      src: record.srcAddr,
      dst: record.dstAddr,
      close: () => {
        reset(socket);
        reset(app);
      },
    });
    conn.whenClosed(untrack);
    await conn.splice(socket, app);
  }
}
