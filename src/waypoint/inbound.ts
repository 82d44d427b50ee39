/**
 * HBONE in (waypoint.md §2.1): each CONNECT on 15008 names its original destination in
 * `:authority`; a target this waypoint does not serve is refused (400), otherwise the stream is
 * answered 200 and its bytes are served as HTTP or TCP by serveConnection.
 *
 * Until the shared HBONE server can hand over the accepted stream itself, the stream is joined
 * to an in-process duplex pair (one extra copy per chunk) and the waypoint serves the other end.
 */
import net from 'node:net';
import { duplexPair, type Duplex } from 'node:stream';
import type { HboneInboundRequest } from '../hbone/types.js';
import { serveConnection } from './connection.js';
import { resolveDestination } from './destination.js';
import type { ConnContext, ProxyDeps } from './proxy/context.js';

/** The client IP from `forwarded: for="ip:port"`; undefined when absent or not IPv4. */
export function forwardedFor(h: string | undefined): string | undefined {
  if (!h) return undefined;
  for (const kv of (h.split(',')[0] ?? '').split(';')) {
    const i = kv.indexOf('=');
    if (i < 0 || kv.slice(0, i).trim().toLowerCase() !== 'for') continue;
    const v = kv
      .slice(i + 1)
      .trim()
      .replace(/^"|"$/g, '')
      .replace(/:\d+$/, '');
    return net.isIPv4(v) ? v : undefined;
  }
  return undefined;
}

export interface InboundAnswer {
  status: number;
  reason?: string;
  upstream?: Duplex;
}

export function createInbound(
  deps: ProxyDeps,
): (req: HboneInboundRequest) => Promise<InboundAnswer> {
  let seq = 0;
  return (req) => {
    const cfg = deps.config();
    const r = resolveDestination(cfg, req.authority);
    if (!r.ok) {
      deps.log.info('connect refused', {
        authority: req.authority,
        peer: req.peerIdentity,
        status: r.status,
        reason: r.reason,
      });
      return Promise.resolve({ status: r.status, reason: r.reason });
    }
    // The CONNECT's `forwarded` names the client; trusted unless it is a known workload of
    // another identity than the peer certificate's.
    const claimed = forwardedFor(req.headers.forwarded);
    const known = claimed ? cfg?.peers.get(claimed) : undefined;
    const clientIp =
      claimed && (!known || known.identity === req.peerIdentity) ? claimed : req.peerAddress;
    const ctx: ConnContext = {
      id: ++seq,
      dest: r.dest,
      authority: req.authority,
      peerPrincipal: req.peerIdentity,
      clientIp,
      peerAddress: req.peerAddress,
    };
    deps.log.debug('connect accepted', {
      conn: ctx.id,
      authority: req.authority,
      peer: req.peerIdentity,
      clientIp,
    });
    const [outer, inner] = duplexPair({ allowHalfOpen: true });
    serveConnection(deps, ctx, inner);
    return Promise.resolve({ status: 200, upstream: outer });
  };
}
