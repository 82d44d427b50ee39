/**
 * Istio's helloworld sample (istio/examples-helloworld-v1|v2): on :5000, `GET /hello` answers
 * `Hello version: <v>, instance: <hostname>`, `GET /health` `Helloworld is healthy`.
 */
import http from 'node:http';
import { hostname } from 'node:os';

export function helloworldServer(version: string): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (code: number, body: string) => {
      res.writeHead(code, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(body);
    };
    if (path === '/hello')
      return reply(200, `Hello version: ${version}, instance: ${hostname()}\n`);
    if (path === '/health') return reply(200, 'Helloworld is healthy');
    return reply(404, 'Not Found');
  });
}
