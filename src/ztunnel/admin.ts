/**
 * The three small HTTP servers ztunnel keeps apart on purpose: admin on localhost (15000:
 * `/config_dump`, `/quitquitquit`, `/debug/release_hbone_pool`), metrics (15020: `/metrics`, `/stats/prometheus`) and
 * readiness (15021: `/healthz/ready`). Stats queries can be slow; admin must stay local.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';

export interface AdminSources {
  configDump(): Promise<unknown>;
  quit(): void;
  /** Releases the pooled HBONE connections (see HboneClient.release). */
  releasePool(): number;
  metrics: Metrics;
  ready(): boolean;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

function send(res: http.ServerResponse, status: number, body: string, type = 'text/plain'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function serve(routes: Record<string, Handler>): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const h = routes[path];
    if (!h) return send(res, 404, `no such path ${path}; try: ${Object.keys(routes).join(' ')}\n`);
    Promise.resolve(h(req, res)).catch((e: unknown) =>
      send(res, 500, `${e instanceof Error ? e.message : String(e)}\n`),
    );
  });
}

export function adminServer(src: AdminSources): http.Server {
  return serve({
    '/': (_q, r) => send(r, 200, 'ztunnel admin: /config_dump /quitquitquit\n'),
    '/config_dump': async (_q, r) =>
      send(r, 200, JSON.stringify(await src.configDump(), null, 2) + '\n', 'application/json'),
    // Not Istio's: lets the demo and trace show a fresh HBONE connection's first packets.
    '/debug/release_hbone_pool': (q, r) => {
      if (q.method !== 'POST') return send(r, 405, 'use POST\n');
      send(r, 200, `released ${src.releasePool()} connections\n`);
    },
    '/quitquitquit': (q, r) => {
      if (q.method !== 'POST') return send(r, 405, 'use POST\n');
      send(r, 200, 'OK\n');
      src.quit();
    },
  });
}

export function metricsServer(src: AdminSources): http.Server {
  const h: Handler = (_q, r) => send(r, 200, src.metrics.render(), 'text/plain; version=0.0.4');
  return serve({ '/metrics': h, '/stats/prometheus': h });
}

export function readinessServer(src: AdminSources): http.Server {
  return serve({
    '/healthz/ready': (_q, r) =>
      src.ready() ? send(r, 200, 'ready\n') : send(r, 503, 'not ready\n'),
  });
}

export function listenHttp(s: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, () => {
      s.off('error', reject);
      resolve((s.address() as AddressInfo).port);
    });
  });
}
