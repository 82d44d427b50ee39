/**
 * The plain-HTTP debug endpoint (port 15014): connected ztunnels and what each node receives.
 *   GET /debug/connections            connected ztunnels: node, id, per-type last ACK/NACK
 *   GET /debug/config_dump?node=<n>   the config the ztunnel of node <n> receives
 *   GET /debug/policies               how each AuthorizationPolicy was taken
 *   GET /ready                        200 once the first model is built
 *
 * Everything but /ready is served only to localhost (a shell in istiod's pod, `ambit x`) or to
 * an authenticated admin: a bearer service-account token, verified like the gRPC callers',
 * of the control plane's own namespace. Any pod could otherwise read every node's workloads,
 * policies and the list of ztunnels (Istio CVE-2026-31838; reference security-matrix.md #60).
 * Refusals are logged with the caller.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Authenticator } from './auth.js';
import { renderConfigDump, type Model } from './model/index.js';
import type { AdsServer } from './xds/ads.js';

export interface DebugSources {
  ads: AdsServer;
  model: () => Model | undefined;
  log: Logger;
  /** Verifies bearer tokens of non-local callers; absent: only localhost is served. */
  authenticator?: Authenticator;
  /** Service accounts of this namespace are admins (default istio-system). */
  adminNamespace?: string;
}

function isLoopback(ip: string | undefined): boolean {
  if (!ip) return false;
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return v4 === '::1' || v4.startsWith('127.');
}

/** True when the caller may read the debug endpoints; otherwise the refusal is sent and logged. */
async function authorize(
  src: DebugSources,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<boolean> {
  const peer = req.socket.remoteAddress;
  if (isLoopback(peer)) return true;
  const admins = src.adminNamespace ?? 'istio-system';
  const m = /^Bearer\s+(.+)$/i.exec((req.headers.authorization ?? '').trim());
  if (!m || !src.authenticator) {
    src.log.warn('debug request refused: not local and no token', { peer, url: req.url });
    json(res, 401, { error: 'debug endpoints need localhost or an admin bearer token' });
    return false;
  }
  let who;
  try {
    who = await src.authenticator.authenticate(m[1]!);
  } catch (err) {
    src.log.warn('debug request refused: token not valid', {
      peer,
      url: req.url,
      error: errorMessage(err),
    });
    json(res, 401, { error: 'authentication failure' });
    return false;
  }
  if (who.namespace !== admins) {
    src.log.warn('debug request refused: not an admin', {
      peer,
      url: req.url,
      caller: who.username,
    });
    json(res, 403, { error: `${who.username} may not read the debug endpoints` });
    return false;
  }
  return true;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 2) + '\n');
}

export function debugHandler(src: DebugSources): http.RequestListener {
  return (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://debug');
    } catch {
      return json(res, 400, { error: 'bad request target' });
    }
    if (url.pathname === '/ready') {
      const ready = Boolean(src.model());
      return json(res, ready ? 200 : 503, { ready });
    }
    authorize(src, req, res).then(
      (ok) => ok && serve(src, url, req, res),
      (err: unknown) => json(res, 500, { error: errorMessage(err) }),
    );
  };
}

function serve(
  src: DebugSources,
  url: URL,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): void {
  try {
    const model = src.model();
    switch (url.pathname) {
      case '/debug/connections':
        return json(res, 200, src.ads.connections());
      case '/debug/config_dump': {
        const node = url.searchParams.get('node');
        if (!node) return json(res, 400, { error: 'give ?node=<node name>' });
        if (!model) return json(res, 503, { error: 'not synced yet' });
        return json(res, 200, renderConfigDump(model, node));
      }
      case '/debug/policies':
        return json(res, model ? 200 : 503, model?.reports ?? { error: 'not synced yet' });
      default:
        return json(res, 404, {
          error: 'not found',
          endpoints: [
            '/debug/connections',
            '/debug/config_dump?node=',
            '/debug/policies',
            '/ready',
          ],
        });
    }
  } catch (err) {
    src.log.warn('debug request failed', { url: req.url, error: errorMessage(err) });
    json(res, 500, { error: errorMessage(err) });
  }
}

export async function startDebugServer(
  src: DebugSources,
  host: string,
  port: number,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer(debugHandler(src));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
