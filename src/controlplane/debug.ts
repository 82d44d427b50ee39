/**
 * The plain-HTTP debug endpoint (port 15014): connected ztunnels and what each node receives.
 *   GET /debug/connections            connected ztunnels: node, id, per-type last ACK/NACK
 *   GET /debug/config_dump?node=<n>   the config the ztunnel of node <n> receives
 *   GET /debug/policies               how each AuthorizationPolicy was taken
 *   GET /ready                        200 once the first model is built
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { renderConfigDump, type Model } from './model/index.js';
import type { AdsServer } from './xds/ads.js';

export interface DebugSources {
  ads: AdsServer;
  model: () => Model | undefined;
  log: Logger;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 2) + '\n');
}

export function debugHandler(src: DebugSources): http.RequestListener {
  return (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://debug');
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
        case '/ready':
          return json(res, model ? 200 : 503, { ready: Boolean(model) });
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
  };
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
