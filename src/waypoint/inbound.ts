/**
 * HBONE in (waypoint.md §2.1): each CONNECT on 15008 names its original destination in
 * `:authority`; a target this waypoint does not serve is refused (400), otherwise the stream is
 * answered 200 and its bytes are served, on the CONNECT stream itself, as HTTP or TCP by
 * serveConnection.
 */
import net from 'node:net';
import type { HboneHandler, HboneRequest } from '../hbone/types.js';
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

/** The HBONE server's handler: refuse, or accept and serve the stream itself. */
export function createInbound(deps: ProxyDeps): HboneHandler {
  let seq = 0;
  return (req: HboneRequest) => {
    const cfg = deps.config();
    const r = resolveDestination(cfg, req.authority);
    if (!r.ok) {
      deps.log.info('connect refused', {
        authority: req.authority,
        peer: req.peerIdentity,
        status: r.status,
        reason: r.reason,
      });
      req.refuse(r.status, r.reason);
      return;
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
    if (!req.accept()) return;
    deps.log.debug('connect accepted', { conn: ctx.id, authority: req.authority, clientIp });
    serveConnection(deps, ctx, req.stream);
  };
}
