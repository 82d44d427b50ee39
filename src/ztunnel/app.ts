/**
 * Wires ztunnel together: xDS → state; identities of this node's HBONE workloads prefetched
 * and forgotten as they come and go; the outbound, inbound-HBONE and inbound-plaintext
 * listeners; DNS; admin, metrics and readiness servers; graceful drain.
 *
 * Dependencies arrive from outside (`ZtunnelDeps`) so the direct tests can run two instances
 * in one process with static state and a fake CA, and production builds them in main.ts.
 */
import type http from 'node:http';
import net from 'node:net';
import type { Address, Authorization } from '../api/workload.js';
import { AmbitError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { createLogger } from '../log.js';
import { listen } from '../sys/socket.js';
import type { XdsClient, XdsDelta } from '../xds/types.js';
import type { AccessSink } from './access-log.js';
import { AccessLog } from './access-log.js';
import { adminServer, listenHttp, metricsServer, readinessServer } from './admin.js';
import type { ZtunnelConfig } from './config.js';
import { ConnectionManager } from './connection-manager.js';
import { localWorkload, type ProxyContext } from './context.js';
import { DnsProxy } from './dns/server.js';
import type { CertificateSource, HboneClient, HboneServerOptions } from '../hbone/types.js';
import { plainIp } from './headers.js';
import { InboundPassthroughProxy } from './inbound-passthrough.js';
import { InboundProxy } from './inbound.js';
import { Metrics } from './metrics.js';
import { OutboundProxy } from './outbound.js';
import { renderState } from '../state/dump.js';
import { ZtunnelState, workloadIdentity } from '../state/store.js';

/** What ztunnel needs from the identity manager (`IdentityManager`, src/identity/manager.ts). */
export interface IdentitySource extends CertificateSource {
  prefetch(identities: Iterable<string>): void;
  forget(identity: string): void;
  dump(): unknown;
}

export interface HboneServerHandle {
  close(graceful?: boolean): Promise<void>;
}

export interface ZtunnelDeps {
  identity: IdentitySource;
  hboneClient: HboneClient;
  hboneServer: (opts: HboneServerOptions) => HboneServerHandle;
  /** Absent in direct tests, which feed state with applyDelta() and call markSynced(). */
  xds?: XdsClient;
  accessLogSink?: AccessSink;
  /** Test seam: the original destination when there is no TPROXY. */
  originalDst?: (s: net.Socket) => { ip: string; port: number } | undefined;
  random?: () => number;
  log?: Logger;
  /** Called after /quitquitquit drained everything (main.ts exits the process). */
  onQuit?: () => void;
}

export interface ZtunnelPortsBound {
  outbound: number;
  inbound: number;
  inboundPlaintext: number;
  admin: number;
  metrics: number;
  readiness: number;
  dns?: number;
}

export class Ztunnel {
  readonly state = new ZtunnelState();
  readonly metrics = new Metrics();
  readonly connections: ConnectionManager;
  readonly outbound: OutboundProxy;
  readonly inbound: InboundProxy;
  readonly passthrough: InboundPassthroughProxy;
  readonly log: Logger;
  private readonly ctx: ProxyContext;
  private synced = false;
  private listening = false;
  private draining = false;
  private readonly syncWaiters: (() => void)[] = [];
  private readonly servers: net.Server[] = [];
  private readonly httpServers: http.Server[] = [];
  private hboneServer?: HboneServerHandle;
  private dns?: DnsProxy;
  private readonly held = new Set<string>();

  constructor(
    readonly config: ZtunnelConfig,
    private readonly deps: ZtunnelDeps,
  ) {
    this.log = deps.log ?? createLogger('ztunnel');
    this.connections = new ConnectionManager(this.state, this.log.child('policy'));
    this.ctx = {
      config,
      state: this.state,
      metrics: this.metrics,
      accessLog: new AccessLog(deps.accessLogSink),
      connections: this.connections,
      log: this.log,
      stateReady: () => this.waitSynced(config.stateWaitMs),
    };
    this.inbound = new InboundProxy(this.ctx);
    this.outbound = new OutboundProxy(this.ctx, deps.hboneClient, deps.random, this.inbound);
    this.passthrough = new InboundPassthroughProxy(this.ctx);
    this.state.on('addresses', () => {
      this.syncIdentities();
      this.releaseStalePool();
    });
  }

  /**
   * Pooled HBONE connections to an address that now belongs to a workload of another identity
   * (pod IP reuse, ztunnel #1662) are released: a TLS session verified against the old
   * identity must never carry traffic attributed to the new pod.
   */
  private releaseStalePool(): void {
    // An address with no workload (yet) is left alone: it may be a network gateway's.
    const n = this.deps.hboneClient.release((key) => {
      const w = this.state.workloadByIp(key.dstIp);
      return w !== undefined && !key.dstIdentities.includes(workloadIdentity(w));
    });
    if (n > 0) this.log.info('released pooled HBONE connections to a departed identity', { n });
  }

  /** Test seam and xDS sink: applies a delta to the state. */
  applyDelta(delta: XdsDelta): void {
    this.state.applyDelta(delta);
  }

  /** Marks the state complete (xDS ready, or a test that fed its static state). */
  markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private waitSynced(ms: number): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        const i = this.syncWaiters.indexOf(done);
        if (i >= 0) this.syncWaiters.splice(i, 1);
        reject(new AmbitError('ZTUNNEL_NOT_SYNCED', 'no state from the control plane yet'));
      }, ms);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      this.syncWaiters.push(done);
    });
  }

  ready(): boolean {
    return this.synced && this.listening && !this.draining;
  }

  /** Certificates for HBONE workloads on this node: fetch ahead, forget the departed. */
  private syncIdentities(): void {
    const want = new Set<string>();
    for (const w of this.state.workloadsOnNode(this.config.nodeName)) {
      if (w.tunnelProtocol === 'HBONE' || w.nativeTunnel) want.add(workloadIdentity(w));
    }
    const fresh = [...want].filter((id) => !this.held.has(id));
    for (const id of fresh) this.held.add(id);
    if (fresh.length > 0) this.deps.identity.prefetch(fresh);
    for (const id of [...this.held]) {
      if (want.has(id)) continue;
      this.held.delete(id);
      this.deps.identity.forget(id);
    }
  }

  private async certificateFor(localAddress: string) {
    const ip = plainIp(localAddress);
    const w = localWorkload(this.ctx, ip);
    if (!w) {
      throw new AmbitError('ZTUNNEL_NO_LOCAL_WORKLOAD', `no workload on this node has IP ${ip}`, {
        value: ip,
        hint: 'HBONE is served only for pods on this node',
      });
    }
    return this.deps.identity.get(workloadIdentity(w));
  }

  private async bind(server: net.Server, host: string, port: number): Promise<number> {
    server.on('error', (e) => this.log.error('listener error', { error: e.message }));
    if (this.config.transparent) await listen(server, { host, port, transparent: true });
    else {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
    this.servers.push(server);
    return (server.address() as net.AddressInfo).port;
  }

  async start(): Promise<ZtunnelPortsBound> {
    const { config, deps } = this;
    const p = config.ports;
    const host = config.listenHost;
    const orig = deps.originalDst;
    // noDelay on the accepted sockets as on every other hop (ztunnel sets TCP_NODELAY on all):
    // with Nagle, the second of two small writes back to the client (a response's head, then
    // its body, arriving in two reads) waits for the client's delayed ACK, 40 ms on Linux
    // (bench/l4-pair.ts rr: p90 43 ms → below 1 ms).
    const accepting = { allowHalfOpen: true, noDelay: true };
    const out = net.createServer({ ...accepting, pauseOnConnect: false }, (s) =>
      this.outbound.handle(s, orig?.(s)),
    );
    const plain = net.createServer(accepting, (s) => this.passthrough.handle(s, orig?.(s)));
    const hbone = net.createServer({ allowHalfOpen: true });
    const bound: ZtunnelPortsBound = {
      outbound: await this.bind(out, host, p.outbound),
      inboundPlaintext: await this.bind(plain, host, p.inboundPlaintext),
      inbound: await this.bind(hbone, config.inboundHost ?? host, p.inbound),
      admin: 0,
      metrics: 0,
      readiness: 0,
    };
    this.hboneServer = deps.hboneServer({
      server: hbone,
      trustDomain: config.trustDomain,
      certificateFor: (a) => this.certificateFor(a),
      handler: this.inbound.handle,
    });
    if (config.dnsCapture) {
      this.dns = new DnsProxy({
        state: this.state,
        host: config.dnsHost,
        metrics: this.metrics,
        port: p.dns,
        upstream: config.dnsUpstream,
        log: this.log.child('dns'),
      });
      bound.dns = (await this.dns.start()).port;
    }
    const sources = {
      configDump: () => this.configDump(),
      quit: () => {
        this.drain()
          .catch((e: unknown) => this.log.error('drain failed', { error: errorMessage(e) }))
          .finally(() => deps.onQuit?.());
      },
      metrics: this.metrics,
      ready: () => this.ready(),
      releasePool: () => this.deps.hboneClient.release(),
    };
    const admin = adminServer(sources);
    const metrics = metricsServer(sources);
    const readiness = readinessServer(sources);
    this.httpServers.push(admin, metrics, readiness);
    bound.admin = await listenHttp(admin, '127.0.0.1', p.admin);
    bound.metrics = await listenHttp(metrics, config.statsHost, p.metrics);
    bound.readiness = await listenHttp(readiness, config.statsHost, p.readiness);
    this.listening = true;
    if (deps.xds) this.startXds(deps.xds);
    this.log.info('ztunnel listening', { node: config.nodeName, ...bound });
    return bound;
  }

  private startXds(xds: XdsClient): void {
    // The client keeps its own copy; seed ours from it in case deltas arrived before us.
    this.state.replaceAll(
      xds.addresses.values() as Iterable<Address>,
      xds.authorizations.values() as Iterable<Authorization>,
    );
    xds.on('delta', (d) => this.state.applyDelta(d));
    xds.on('connected', () => this.log.info('xds connected', { address: this.config.xdsAddress }));
    xds.on('disconnected', (e) =>
      this.log.warn('xds disconnected; serving the last configuration', {
        error: e ? errorMessage(e) : undefined,
      }),
    );
    xds.ready().then(
      () => {
        this.log.info('xds synced', {
          workloads: this.state.allWorkloads().length,
          services: this.state.allServices().length,
          policies: this.state.allPolicies().length,
        });
        this.markSynced();
      },
      (e: unknown) => this.log.error('xds never became ready', { error: errorMessage(e) }),
    );
    xds.start();
  }

  async configDump(): Promise<Record<string, unknown>> {
    return {
      ...renderState(this.state),
      certificates: await Promise.resolve(this.deps.identity.dump()),
      connections: this.connections.dump(),
      hbonePool: this.deps.hboneClient.stats(),
      config: {
        nodeName: this.config.nodeName,
        podName: this.config.podName,
        podNamespace: this.config.podNamespace,
        instanceIp: this.config.instanceIp,
        xdsAddress: this.config.xdsAddress,
        caAddress: this.config.caAddress,
        trustDomain: this.config.trustDomain,
        dnsCapture: this.config.dnsCapture,
        ports: this.config.ports,
      },
      synced: this.synced,
    };
  }

  /**
   * Graceful drain: stop accepting, GOAWAY on HBONE, let open connections finish until the
   * deadline, then cut what is left and close everything else.
   */
  async drain(deadlineMs = this.config.drainDeadlineMs): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.log.info('draining', { connections: this.connections.size, deadlineMs });
    for (const s of this.servers) s.close();
    const hboneClosed = this.hboneServer?.close(true) ?? Promise.resolve();
    const idle = await this.connections.waitIdle(deadlineMs);
    if (!idle) {
      this.log.warn('drain deadline passed; closing connections', { left: this.connections.size });
      this.connections.closeAll('drain deadline');
      await this.hboneServer?.close(false);
    }
    await Promise.race([hboneClosed, new Promise((r) => setTimeout(r, 1000).unref())]);
    await this.deps.hboneClient.close();
    await this.dns?.close();
    await this.deps.xds?.stop();
    for (const h of this.httpServers) {
      h.closeAllConnections();
      h.close();
    }
    this.log.info('drained');
  }
}
