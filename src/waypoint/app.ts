/**
 * The waypoint assembled: config store, HBONE server on 15008 presenting the waypoint's own
 * identity, upstream pool over the HBONE client, telemetry, admin/metrics/readiness servers.
 * Everything process-specific (env, CA, xDS, signals) stays in main.ts, so tests run it
 * in-process on loopback.
 */
import net from 'node:net';
import http from 'node:http';
import type { WaypointConfig } from '../api/waypoint-config.js';
import { createHboneServer, type HboneServer } from '../hbone/server.js';
import type { CertificateSource, HboneClient } from '../hbone/types.js';
import type { Logger } from '../log.js';
import { adminServer, metricsServer } from './admin.js';
import { errorMessage } from '../errors.js';
import type { CompiledConfig } from './config/compiled.js';
import { ConfigStore } from './config/store.js';
import { createInbound } from './inbound.js';
import { IngressListeners, type IngressOptions } from './ingress.js';
import type { ProxyDeps } from './proxy/context.js';
import { stdoutAccessLog } from './telemetry/access-log.js';
import { reporterRole, WaypointMetrics } from './telemetry/metrics.js';
import { UpstreamPool } from './upstream/pool.js';
import { createTransport, type TransportOptions } from './upstream/transport.js';

export interface Address {
  host: string;
  port: number;
}

export interface WaypointOptions {
  /** The waypoint's SPIFFE ID (its certificate is presented on both legs). */
  identity: string;
  trustDomain: string;
  /** The waypoint pod's IP (source of upstream HBONE connections). */
  ip: string;
  certificates: CertificateSource;
  hboneClient: HboneClient;
  listen: { hbone: Address; admin: Address; metrics: Address; readiness: Address };
  /** Tests: where to dial HBONE for a pod IP (default `<pod IP>:15008`). */
  hbonePort?: TransportOptions['hbonePort'];
  dialTcp?: TransportOptions['dialTcp'];
  log: Logger;
  /** Access-log sink; default stdout. */
  accessLog?: (line: string) => void;
  onQuit?: () => void;
  /** Where an ingress gateway's listeners bind (default 0.0.0.0, listener port = local port). */
  ingress?: IngressOptions;
  /** Extra /config_dump sections (certificates, xDS state). */
  dumpExtra?: () => Record<string, unknown>;
}

export class Waypoint {
  readonly store: ConfigStore;
  readonly metrics = new WaypointMetrics();
  readonly pool: UpstreamPool;
  private hboneListener?: net.Server;
  private hbone?: HboneServer;
  private ingress?: IngressListeners;
  private servers: http.Server[] = [];
  private listening = false;
  /** Ingress gateways: bound local port by listener port. */
  ingressPorts(): Map<number, number> {
    return this.ingress?.bound() ?? new Map();
  }
  /** Bound addresses (ports resolved when 0 was asked). */
  readonly bound: Partial<Record<'hbone' | 'admin' | 'metrics' | 'readiness', Address>> = {};

  constructor(private readonly o: WaypointOptions) {
    this.store = new ConfigStore(o.log.child('config'));
    this.pool = new UpstreamPool(
      createTransport({
        hbone: o.hboneClient,
        identity: o.identity,
        ip: o.ip,
        hbonePort: o.hbonePort,
        dialTcp: o.dialTcp,
      }),
      o.log.child('upstream'),
    );
  }

  private deps(): ProxyDeps {
    const accessLog = this.o.accessLog ?? stdoutAccessLog();
    return {
      config: () => this.store.get(),
      pool: this.pool,
      metrics: this.metrics,
      accessLog,
      log: this.o.log,
    };
  }

  ready(): boolean {
    return this.listening && this.store.get() !== undefined;
  }

  configDump(): unknown {
    const cfg = this.store.get();
    return {
      identity: this.o.identity,
      status: this.store.dumpStatus(),
      config: cfg ? redacted(cfg.source) : undefined,
      hbone: {
        client: this.o.hboneClient.stats(),
        serverConnections: this.hbone?.connections() ?? 0,
      },
      upstream: this.pool.stats(),
      ...(this.o.dumpExtra?.() ?? {}),
    };
  }

  private async listen(s: net.Server, a: Address, name: keyof Waypoint['bound']): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(a.port, a.host, () => {
        s.off('error', reject);
        resolve();
      });
    });
    const addr = s.address() as net.AddressInfo;
    this.bound[name] = { host: addr.address, port: addr.port };
  }

  async start(): Promise<void> {
    const handlers = {
      configDump: () => this.configDump(),
      metrics: () => this.metrics.render(),
      ready: () => this.ready(),
      quit: () => this.o.onQuit?.(),
    };
    const admin = adminServer(handlers);
    const metrics = metricsServer(handlers);
    const readiness = metricsServer(handlers);
    this.servers = [admin, metrics, readiness];
    await this.listen(admin, this.o.listen.admin, 'admin');
    await this.listen(metrics, this.o.listen.metrics, 'metrics');
    await this.listen(readiness, this.o.listen.readiness, 'readiness');
    const listener = net.createServer({ allowHalfOpen: true, noDelay: true });
    this.hboneListener = listener;
    this.hbone = createHboneServer({
      server: listener,
      trustDomain: this.o.trustDomain,
      certificateFor: () => this.o.certificates.get(this.o.identity),
      handler: createInbound(this.deps()),
      log: this.o.log.child('hbone-server'),
    });
    await this.listen(listener, this.o.listen.hbone, 'hbone');
    // An ingress gateway (role `ingress` in its config) also takes plain HTTP on its listeners.
    const ingress = new IngressListeners(this.deps(), this.o.ingress ?? { host: '0.0.0.0' });
    this.ingress = ingress;
    const sync = (c: CompiledConfig) => {
      this.metrics.setRole(reporterRole(c, this.o.ip, this.o.identity));
      void ingress
        .sync(c)
        .catch((err: unknown) =>
          this.o.log.error('ingress listeners', { error: errorMessage(err) }),
        );
    };
    this.store.onChange(sync);
    const cur = this.store.get();
    if (cur) sync(cur);
    this.listening = true;
    this.o.log.info('waypoint listening', {
      identity: this.o.identity,
      hbone: `${this.bound.hbone?.host}:${this.bound.hbone?.port}`,
      admin: `${this.bound.admin?.host}:${this.bound.admin?.port}`,
    });
  }

  async stop(graceful = true): Promise<void> {
    this.listening = false;
    this.hboneListener?.close();
    this.ingress?.close();
    await this.hbone?.close(graceful);
    await this.pool.close();
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((r) => {
            s.closeAllConnections();
            s.close(() => r());
          }),
      ),
    );
  }
}

/**
 * The config as /config_dump shows it: HTTPS listeners' private keys replaced (Envoy's dump
 * redacts secrets too; the admin port is localhost-only, but dumps get pasted into issues).
 */
function redacted(c: WaypointConfig): WaypointConfig {
  const listeners = c.waypoint.listeners;
  if (!listeners?.some((l) => l.tls)) return c;
  return {
    ...c,
    waypoint: {
      ...c.waypoint,
      listeners: listeners.map((l) =>
        l.tls
          ? {
              ...l,
              tls: {
                certificates: l.tls.certificates.map((x) => ({ ...x, keyPem: '[redacted]' })),
              },
            }
          : l,
      ),
    },
  };
}
