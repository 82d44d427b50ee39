/**
 * The waypoint's HTTP side doors (Istio's ports): admin on 127.0.0.1:15000 (`/config_dump`,
 * `POST /quitquitquit`), metrics on 15020 (`/metrics`, `/stats/prometheus`), readiness on 15021
 * (`/healthz/ready`: 200 once a config is in force and the HBONE listener is up).
 */
import http from 'node:http';

export interface AdminHandlers {
  configDump(): unknown;
  metrics(): string;
  ready(): boolean;
  quit(): void;
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function adminServer(h: AdminHandlers): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/config_dump')
      return send(res, 200, 'application/json', JSON.stringify(h.configDump(), null, 2) + '\n');
    if (path === '/quitquitquit' && req.method === 'POST') {
      send(res, 200, 'text/plain', 'OK\n');
      h.quit();
      return;
    }
    if (path === '/healthz/ready')
      return send(res, h.ready() ? 200 : 503, 'text/plain', h.ready() ? 'ready\n' : 'not ready\n');
    send(res, 404, 'text/plain', 'not found: try /config_dump\n');
  });
}

export function metricsServer(h: AdminHandlers): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics' || path === '/stats/prometheus')
      return send(res, 200, 'text/plain; version=0.0.4', h.metrics());
    if (path === '/healthz/ready')
      return send(res, h.ready() ? 200 : 503, 'text/plain', h.ready() ? 'ready\n' : 'not ready\n');
    send(res, 404, 'text/plain', 'not found: try /metrics\n');
  });
}
