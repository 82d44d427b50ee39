/**
 * An ingress gateway's listeners (Gateway class `istio`): HTTP, HTTPS terminated here, or TCP,
 * from outside the mesh on each listener port of its config (`waypoint.listeners`), served by
 * the same pipeline as a waypoint's HBONE streams (HTTP requests; TCP connections through the
 * TCP path, tcp.ts, whose TCPRoute weights pick the backend), with the gateway's own Service
 * as destination (its route table holds the routes whose parent is the Gateway;
 * config/compiled.ts). Listeners follow the config: a port that appears is opened, one that
 * goes is closed; an HTTPS port's certificates are replaced in place (ingress/tls.ts picks one
 * per handshake by SNI).
 */
import net from 'node:net';
import type { CompiledConfig } from './config/compiled.js';
import { serveConnection } from './connection.js';
import { TlsListeners } from './ingress/tls.js';
import type { ConnContext, ProxyDeps } from './proxy/context.js';

export interface IngressOptions {
  /** Address to bind (0.0.0.0 in a pod, where kubelet port-forward dials localhost). */
  host: string;
  /** Tests on one host: the local port for a listener port (default the same). */
  localPort?: (listenerPort: number) => number;
}

export class IngressListeners {
  private readonly servers = new Map<number, net.Server>();
  private readonly sockets = new Set<net.Socket>();
  private readonly tls: TlsListeners;
  private seq = 0;

  constructor(
    private readonly deps: ProxyDeps,
    private readonly o: IngressOptions,
  ) {
    this.tls = new TlsListeners(deps.log);
  }

  /** Bound local ports by listener port. */
  bound(): Map<number, number> {
    const out = new Map<number, number>();
    for (const [p, s] of this.servers) {
      const a = s.address();
      if (a && typeof a === 'object') out.set(p, a.port);
    }
    return out;
  }

  /** Opens the listeners `cfg` has and this process does not, closes the ones it dropped. */
  async sync(cfg: CompiledConfig): Promise<void> {
    this.tls.sync(cfg.source.waypoint.listeners ?? []);
    const want = new Set(cfg.listeners.keys());
    for (const [p, s] of this.servers)
      if (!want.has(p)) {
        s.close();
        this.servers.delete(p);
        this.deps.log.info('ingress listener closed', { port: p });
      }
    for (const p of want) {
      if (this.servers.has(p)) continue;
      const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (sock) =>
        this.accept(p, sock),
      );
      this.servers.set(p, server);
      const local = this.o.localPort?.(p) ?? p;
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(local, this.o.host, () => {
            server.off('error', reject);
            resolve();
          });
        });
        this.deps.log.info('ingress listener open', { port: p, listen: `${this.o.host}:${local}` });
      } catch (err) {
        this.servers.delete(p);
        this.deps.log.error('ingress listener failed', { port: p, error: String(err) });
      }
    }
  }

  private accept(port: number, sock: net.Socket): void {
    sock.on('error', () => undefined);
    this.sockets.add(sock);
    sock.once('close', () => this.sockets.delete(sock));
    // The listener as of now: a config that dropped it since the accept closes the connection.
    const l = this.deps.config()?.listeners.get(port);
    if (!l) {
      sock.destroy();
      return;
    }
    const local = sock.localAddress?.replace(/^::ffff:/, '') ?? '0.0.0.0';
    const remote = sock.remoteAddress?.replace(/^::ffff:/, '') ?? '0.0.0.0';
    const ctx: ConnContext = {
      id: ++this.seq,
      dest: { kind: 'service', ip: local, port, service: l.service, servicePort: l.port },
      authority: `${local}:${port}`,
      // From outside the mesh: no peer identity.
      peerPrincipal: '',
      clientIp: remote,
      peerAddress: remote,
    };
    // An HTTPS port: the pipeline gets the decrypted stream.
    if (this.tls.has(port)) this.tls.accept(port, sock, (t) => serveConnection(this.deps, ctx, t));
    else serveConnection(this.deps, ctx, sock);
  }

  close(): void {
    for (const s of this.servers.values()) s.close();
    this.servers.clear();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}
