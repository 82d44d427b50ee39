/**
 * TLS termination for an ingress gateway's HTTPS listeners (Gateway API `tls.mode: Terminate`):
 * one secure context per listener from its certificates (PEM, as the control plane read them
 * from the listener's kubernetes.io/tls Secrets); the ClientHello's SNI picks the listener on
 * the port (ingress/hosts.ts `pickListener`: exact hostname, else the longest wildcard, else one
 * without hostname). A handshake whose SNI no listener takes fails (no certificate is offered).
 * A certificate that does not load disables its listener only, with a log line; the process and
 * the other listeners keep running. ALPN offers h2 and http/1.1.
 */
import type net from 'node:net';
import tls from 'node:tls';
import type { IngressListener } from '../../api/waypoint-config.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { normalizeHost } from '../../api/hostnames.js';
import { pickListener } from './hosts.js';

interface Loaded {
  listener: IngressListener;
  hostname?: string;
  context: tls.SecureContext;
}

export class TlsListeners {
  private byPort = new Map<number, Loaded[]>();
  /** What each listener was loaded from, so an unchanged one is not reloaded. */
  private loadedFrom = new Map<string, { pem: string; context: tls.SecureContext }>();

  constructor(private readonly log: Logger) {}

  /** Loads the HTTPS listeners' certificates; ports without HTTPS listeners stay plain. */
  sync(listeners: readonly IngressListener[]): void {
    const next = new Map<number, Loaded[]>();
    const from = new Map<string, { pem: string; context: tls.SecureContext }>();
    for (const l of listeners) {
      if (l.protocol !== 'HTTPS') continue;
      const list = next.get(l.port) ?? [];
      next.set(l.port, list);
      const cert = l.tls?.certificates[0];
      const key = `${l.port}/${l.name}`;
      if (!cert) {
        this.log.error('https listener has no certificate', { listener: l.name, port: l.port });
        continue;
      }
      const pem = cert.certPem + cert.keyPem;
      let context =
        this.loadedFrom.get(key)?.pem === pem ? this.loadedFrom.get(key)?.context : undefined;
      try {
        context ??= tls.createSecureContext({ cert: cert.certPem, key: cert.keyPem });
      } catch (err) {
        this.log.error('https listener certificate does not load; listener disabled', {
          listener: l.name,
          port: l.port,
          error: errorMessage(err),
        });
        continue;
      }
      from.set(key, { pem, context });
      list.push({ listener: l, ...(l.hostname ? { hostname: l.hostname } : {}), context });
    }
    this.byPort = next;
    this.loadedFrom = from;
  }

  has(port: number): boolean {
    return this.byPort.has(port);
  }

  /**
   * Runs the TLS handshake on an accepted socket (a tls.Server fed the socket, as an HTTPS
   * server does), then hands the decrypted stream to `onSecure`.
   */
  accept(port: number, sock: net.Socket, onSecure: (t: tls.TLSSocket) => void): void {
    const loaded = this.byPort.get(port) ?? [];
    // Without SNI (a client dialling an IP): the listener without hostname, if any.
    const plain = loaded.find((l) => !l.hostname);
    const server = tls.createServer({
      ALPNProtocols: ['h2', 'http/1.1'],
      ...(plain ? { secureContext: plain.context } : {}),
      SNICallback: (servername, cb) => {
        const l = pickListener(loaded, normalizeHost(servername));
        if (l) cb(null, l.context);
        else
          cb(new Error(`no HTTPS listener on port ${port} for SNI ${JSON.stringify(servername)}`));
      },
    });
    server.on('secureConnection', onSecure);
    server.on('tlsClientError', (err, t) => {
      this.log.debug('https handshake failed', { port, error: errorMessage(err) });
      t.destroy();
    });
    server.emit('connection', sock);
  }
}
