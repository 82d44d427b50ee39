/**
 * What the four bookinfo services share: a JSON/HTML server on one port, the calls between
 * them with Istio's header propagation (the sample propagates trace and user headers itself,
 * which is how a mesh stitches one request's spans and routes by `end-user`), and the name of
 * the pod that answered.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';

/** The headers bookinfo's productpage and reviews copy from an inbound request to their calls. */
export const PROPAGATED_HEADERS = [
  'x-request-id',
  'traceparent',
  'tracestate',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'b3',
  'x-ot-span-context',
  'x-cloud-trace-context',
  'grpc-trace-bin',
  'sw8',
  'x-datadog-trace-id',
  'x-datadog-parent-id',
  'x-datadog-sampling-priority',
  'end-user',
  'user-agent',
  'cookie',
  'authorization',
  'jwt',
] as const;

export function propagated(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of PROPAGATED_HEADERS) {
    const v = req.headers[h];
    if (typeof v === 'string') out[h] = v;
  }
  return out;
}

/** The pod's name: its UTS hostname (the kubelet sets it), else $HOSTNAME. */
export function podName(): string {
  return process.env.HOSTNAME || hostname();
}

export interface Upstream {
  host: string;
  port: number;
}

/** `<NAME>_HOSTNAME` / `<NAME>_SERVICE_PORT` / `SERVICES_DOMAIN`, as the sample reads them. */
export function upstream(name: 'details' | 'reviews' | 'ratings'): Upstream {
  const up = name.toUpperCase();
  const domain = process.env.SERVICES_DOMAIN ? `.${process.env.SERVICES_DOMAIN}` : '';
  return {
    host: (process.env[`${up}_HOSTNAME`] ?? name) + domain,
    port: Number(process.env[`${up}_SERVICE_PORT`] ?? 9080),
  };
}

export interface Fetched {
  status: number;
  body: string;
}

/** GET http://host:port/path with the propagated headers; rejects on error or timeout. */
export function get(
  to: Upstream,
  path: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: to.host, port: to.port, path, headers, timeout: timeoutMs, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export type Handler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
) => Promise<void> | void;

export interface AppServer {
  port: number;
  close(): Promise<void>;
}

/** Serves `handler` on host:port; a handler that throws answers 500 and the server goes on. */
export async function serve(host: string, port: number, handler: Handler): Promise<AppServer> {
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    Promise.resolve()
      .then(() => handler(req, res, url))
      .catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: String(err) });
        else res.destroy();
      });
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, host, resolve);
  });
  return {
    port: (srv.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        srv.closeAllConnections();
        srv.close(() => resolve());
      }),
  };
}
