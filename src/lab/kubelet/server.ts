/**
 * The kubelet's streaming endpoints, as the real kubelet serves them to the API server:
 * `GET /containerLogs/<ns>/<pod>/<container>`, `/exec/<ns>/<pod>/<container>?command=…`
 * (WebSocket, v5/v4 channel protocol) and `/portforward/<ns>/<pod>` (SPDY/3.1, directly by
 * HTTP upgrade or tunnelled in WebSocket binary messages as `SPDY/3.1+portforward.k8s.io`).
 * Served on a unix socket under the lab's state dir; the API server proxies to it.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { dirname } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { EXEC_PROTOCOLS, serveExec } from './exec.js';
import { serveLogs } from './logs.js';
import type { PodWorker, StreamContainer } from './pod.js';
import { servePortForward } from './portforward.js';
import { SpdySession } from './spdy.js';

const PF_PROTOCOL = 'portforward.k8s.io';
const PF_TUNNEL = 'SPDY/3.1+' + PF_PROTOCOL;

export interface StreamServerOptions {
  socket: string;
  find(namespace: string, name: string): PodWorker | undefined;
  log: Logger;
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function status(code: number, message: string): string {
  const reason = { 400: 'BadRequest', 404: 'NotFound' }[code as 400 | 404] ?? 'InternalError';
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  });
}

function flag(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v === 'true' || v === '1';
}

function intOf(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new HttpError(400, `${name} must be a non-negative integer, got "${v}"`);
  return n;
}

interface Route {
  op: 'containerLogs' | 'exec' | 'portforward';
  worker: PodWorker;
  container?: StreamContainer;
  q: URLSearchParams;
}

function route(req: IncomingMessage, find: StreamServerOptions['find']): Route {
  const url = new URL(req.url ?? '/', 'http://kubelet');
  const segs = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const [op, ns, name, container] = segs;
  if (op !== 'containerLogs' && op !== 'exec' && op !== 'portforward') {
    throw new HttpError(404, `no such kubelet endpoint: ${url.pathname}`);
  }
  if (!ns || !name) throw new HttpError(400, `${op} needs /<namespace>/<pod>`);
  const worker = find(ns, name);
  if (!worker) throw new HttpError(404, `pod "${name}" in namespace "${ns}" is not on this node`);
  if (op === 'portforward') return { op, worker, q: url.searchParams };
  if (!container) throw new HttpError(400, `${op} needs a container name`);
  const c = worker.streamContainer(container);
  if (!c) {
    throw new HttpError(
      400,
      `container ${container} is not valid for pod ${name}; choose one of: [${worker.containerNames.join(' ')}]`,
    );
  }
  return { op, worker, container: c, q: url.searchParams };
}

function refuse(socket: Duplex, code: number, message: string): void {
  const body = status(code, message);
  socket.end(
    `HTTP/1.1 ${code} ${http.STATUS_CODES[code] ?? 'Error'}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export async function startStreamServer(o: StreamServerOptions): Promise<http.Server> {
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => {
      for (const p of [...EXEC_PROTOCOLS, PF_TUNNEL]) if (offered.has(p)) return p;
      return false;
    },
  });

  const tunnelled = new WeakSet<IncomingMessage>();
  wss.on('headers', (headers: string[], req: IncomingMessage) => {
    if (tunnelled.has(req)) headers.push(`Sec-WebSocket-Protocol: ${PF_TUNNEL}`);
  });

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      const r = route(req, o.find);
      if (r.op !== 'containerLogs' || !r.container) {
        throw new HttpError(400, `${r.op} needs a WebSocket or SPDY upgrade`);
      }
      const c = r.container;
      const previous = flag(r.q, 'previous');
      if (!previous && c.pid === undefined && c.waiting) {
        throw new HttpError(
          400,
          `container "${c.name}" in pod "${r.worker.pod.metadata.name}" is waiting to start: ${c.waiting}`,
        );
      }
      if (previous && !existsSync(c.previousLog)) {
        throw new HttpError(
          400,
          `previous terminated container "${c.name}" in pod "${r.worker.pod.metadata.name}" not found`,
        );
      }
      serveLogs(
        res,
        previous
          ? { file: c.previousLog, running: () => false }
          : { file: c.log, running: c.running },
        {
          follow: flag(r.q, 'follow') && !previous,
          tailLines: intOf(r.q, 'tailLines'),
          limitBytes: intOf(r.q, 'limitBytes'),
        },
      );
    } catch (err) {
      const code = err instanceof HttpError ? err.code : 500;
      const body = status(code, errorMessage(err));
      if (!res.headersSent) res.writeHead(code, { 'content-type': 'application/json' });
      res.end(body);
    }
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => undefined);
    let r: Route;
    try {
      r = route(req, o.find);
    } catch (err) {
      refuse(socket, err instanceof HttpError ? err.code : 500, errorMessage(err));
      return;
    }
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (r.op === 'portforward') {
      const netns = r.worker.netns;
      if (!netns) {
        refuse(socket, 400, `pod ${r.worker.pod.metadata.name} has no network yet`);
        return;
      }
      const target = { netns, pod: r.worker.pod.metadata.name, uid: r.worker.uid };
      if (upgrade === 'spdy/3.1') {
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
            `X-Stream-Protocol-Version: ${PF_PROTOCOL}\r\n\r\n`,
        );
        const session = new SpdySession((b) => socket.write(b));
        servePortForward(session, target, o.log);
        if (head.length > 0) session.feed(head);
        socket.on('data', (b: Buffer) => session.feed(b));
        socket.on('close', () => session.close());
        session.on('close', (err?: Error) => {
          if (err) o.log.warn('port-forward session failed', { error: err.message });
          socket.end();
        });
        return;
      }
      if (upgrade !== 'websocket') {
        refuse(socket, 400, `port-forward needs Upgrade: websocket or SPDY/3.1, got "${upgrade}"`);
        return;
      }
      const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      if (!offered.includes(PF_TUNNEL)) {
        refuse(socket, 400, `port-forward over WebSocket needs subprotocol ${PF_TUNNEL}`);
        return;
      }
      // ws refuses this subprotocol ('/' is not a token character), so it is taken off the
      // request before ws parses it and added to the 101 answer here.
      delete req.headers['sec-websocket-protocol'];
      tunnelled.add(req);
      wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        const session = new SpdySession((b) => ws.readyState === ws.OPEN && ws.send(b));
        servePortForward(session, target, o.log);
        ws.on('message', (b: Buffer) => session.feed(Buffer.from(b)));
        ws.on('close', () => session.close());
        session.on('close', (err?: Error) => {
          if (err) o.log.warn('port-forward session failed', { error: err.message });
          ws.close(1000);
        });
      });
      return;
    }
    if (r.op !== 'exec' || !r.container) {
      refuse(socket, 400, `${r.op} does not take an upgrade`);
      return;
    }
    const c = r.container;
    if (c.pid === undefined) {
      refuse(
        socket,
        400,
        `unable to upgrade connection: container ${c.name} not found in pod ${r.worker.pod.metadata.name}${c.waiting ? ` (${c.waiting})` : ''}`,
      );
      return;
    }
    if (upgrade !== 'websocket') {
      refuse(
        socket,
        400,
        `exec is served over WebSocket (${EXEC_PROTOCOLS.join(', ')}), got Upgrade "${upgrade}"`,
      );
      return;
    }
    const argv = r.q.getAll('command');
    const pid = c.pid;
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      if (!EXEC_PROTOCOLS.includes(ws.protocol)) {
        ws.close(1002, `exec needs one of the subprotocols ${EXEC_PROTOCOLS.join(', ')}`);
        return;
      }
      serveExec(
        ws,
        { pid, env: c.env, cwd: c.cwd },
        argv,
        { stdin: flag(r.q, 'stdin'), stdout: flag(r.q, 'stdout'), stderr: flag(r.q, 'stderr') },
        o.log,
      );
    });
  };

  const server = http.createServer(onRequest);
  server.on('upgrade', onUpgrade);
  server.requestTimeout = 0;
  mkdirSync(dirname(o.socket), { recursive: true });
  rmSync(o.socket, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.socket, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
