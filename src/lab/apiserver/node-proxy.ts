/**
 * Fills the pod streaming hook (`subresources.ts`): pods/log, pods/exec, pods/attach and
 * pods/portforward are handed to the kubelet of the pod's node (`/containerLogs`, `/exec`,
 * `/attach`, `/portforward` on the kubelet's socket), as the real API server proxies to the
 * kubelet. Upgraded connections (WebSocket, SPDY) are passed through byte for byte after the
 * kubelet's 101, so the streaming protocol is between kubectl and the kubelet.
 */
import http, { type IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { kubeletSocket } from '../cluster/paths.js';
import type { Registry } from './registry.js';
import { ApiError, badRequest } from './status.js';
import { podStreamHandlers, type PodStreamContext } from './subresources.js';

interface PodSpecView {
  nodeName?: string;
  containers?: { name: string }[];
}

/** The lab dir of each API server in this process (a test may run several). */
const labDirs = new WeakMap<Registry, string>();

const dialError = (err: Error): ApiError =>
  new ApiError(500, 'InternalError', `error dialing backend: ${err.message}`);

/** The kubelet socket and path for this request; throws an ApiError to answer with. */
export function kubeletTarget(
  ctx: Pick<PodStreamContext, 'pod' | 'namespace' | 'name' | 'subresource' | 'query'>,
  labDir: string,
): { socket: string; path: string } {
  const { namespace: ns, name, subresource: sub } = ctx;
  const spec = (ctx.pod.spec ?? {}) as PodSpecView;
  if (!spec.nodeName) throw badRequest(`pod ${name} does not have a host assigned`);
  const q = new URLSearchParams(ctx.query);
  const pod = `${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
  let path: string;
  if (sub === 'portforward') {
    path = `/portforward/${pod}`;
  } else {
    const names = (spec.containers ?? []).map((c) => c.name);
    const annotations = ctx.pod.metadata.annotations as Record<string, string> | undefined;
    const dflt = annotations?.['kubectl.kubernetes.io/default-container'];
    const container = q.get('container') || (names.length === 1 ? names[0] : dflt);
    if (!container) {
      throw badRequest(
        `a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]`,
      );
    }
    if (!names.includes(container)) {
      throw badRequest(
        `container ${container} is not valid for pod ${name}; choose one of: [${names.join(' ')}]`,
      );
    }
    q.delete('container');
    const op = sub === 'log' ? 'containerLogs' : sub;
    path = `/${op}/${pod}/${encodeURIComponent(container)}`;
  }
  const qs = q.toString();
  return { socket: kubeletSocket(labDir, spec.nodeName), path: qs ? `${path}?${qs}` : path };
}

function labDirOf(ctx: PodStreamContext): string {
  const d = labDirs.get(ctx.registry);
  if (!d) throw new ApiError(503, 'ServiceUnavailable', 'no kubelets are known to this API server');
  return d;
}

async function request(
  req: IncomingMessage,
  res: http.ServerResponse,
  ctx: PodStreamContext,
): Promise<void> {
  const t = kubeletTarget(ctx, labDirOf(ctx));
  const headers = { ...req.headers };
  delete headers.authorization;
  await new Promise<void>((resolve, reject) => {
    const up = http.request(
      { socketPath: t.socket, method: req.method, path: t.path, headers },
      (kres) => {
        res.writeHead(kres.statusCode ?? 502, kres.headers);
        kres.pipe(res);
        res.on('close', () => kres.destroy());
        kres.on('end', resolve);
        kres.on('close', resolve);
      },
    );
    up.on('error', (err) =>
      res.headersSent ? (res.destroy(), resolve()) : reject(dialError(err)),
    );
    req.pipe(up);
  });
}

async function upgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  ctx: PodStreamContext,
): Promise<void> {
  const t = kubeletTarget(ctx, labDirOf(ctx));
  const kubelet = net.connect(t.socket);
  await new Promise<void>((resolve, reject) => {
    kubelet.once('error', (err) => reject(dialError(err)));
    kubelet.once('connect', () => resolve());
  });
  kubelet.on('error', () => socket.destroy());
  const lines = [`${req.method ?? 'GET'} ${t.path} HTTP/1.1`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i]!;
    if (k.toLowerCase() === 'authorization') continue;
    lines.push(`${k}: ${req.rawHeaders[i + 1] ?? ''}`);
  }
  kubelet.write(lines.join('\r\n') + '\r\n\r\n');
  if (head.length > 0) kubelet.write(head);
  socket.pipe(kubelet);
  kubelet.pipe(socket);
  socket.on('close', () => kubelet.destroy());
  kubelet.on('close', () => socket.destroy());
}

/** Routes this API server's pod streams to the kubelets of the lab in `labDir`. */
export function serveNodeStreams(registry: Registry, labDir: string): void {
  labDirs.set(registry, labDir);
  podStreamHandlers.log = { request };
  for (const sub of ['exec', 'attach', 'portforward'] as const) {
    podStreamHandlers[sub] = { request, upgrade };
  }
}
