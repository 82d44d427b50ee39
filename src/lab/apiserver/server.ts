/**
 * The lab API server: one object store behind HTTPS listeners (with `tls`; the lab daemon
 * always gives it), on loopback for the user and, when the lab runs, on 172.18.0.2:6443
 * inside the control-plane node's network namespace. Without `tls` it serves plain HTTP: the
 * in-process direct tests use that, like the old kube-apiserver's localhost insecure port.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { AmbitError } from '../../errors.js';
import { createLogger, type Logger } from '../../log.js';
import { repoRoot } from '../../repo.js';
import { listen } from '../../sys/socket.js';
import { serveNodeStreams } from './node-proxy.js';
import { bootstrapPolicy } from './bootstrap-policy.js';
import { Persistence } from './persist.js';
import { NodeAuthorizer } from './node-authorizer.js';
import { Registry } from './registry.js';
import { createRouter, createUpgradeRouter } from './router.js';
import { Store } from './store.js';
import { TokenSigner } from './tokens.js';
import { DEFAULT_SERVICE_CIDR, ServiceRange } from '../cluster/service-range.js';

export interface ApiServerOptions {
  /** The lab's state dir; objects live in `<stateDir>/apiserver/`. */
  stateDir: string;
  listen: { host: string; port: number }[];
  netnsListen?: { netns: string; host: string; port: number };
  log?: Logger;
  /** Changes a watch can resume across before 410 Gone (default 10000). */
  historyLimit?: number;
  /** Changes between snapshots of the log (default 5000). */
  compactEvery?: number;
  /** Interval of BOOKMARK events on watches that allow them (default 10 s). */
  bookmarkIntervalMs?: number;
  /**
   * Files of CustomResourceDefinitions created at start when missing (default: the Gateway API
   * standard install in src/lab/manifests/crds/).
   */
  crdManifests?: string[];
  /** Serve HTTPS with this key and certificate chain; `ca` verifies client certificates. */
  tls?: { keyPem: string; certPem: string; caPem: string };
  /**
   * The address the `kubernetes` Service in `default` points at (the in-lab listener, as
   * kube-apiserver's endpoint reconciler publishes its own address).
   */
  advertise?: { ip: string; port: number };
  /**
   * Authenticate (client certificates, service-account tokens) and enforce RBAC, with the
   * bootstrap ClusterRoles and bindings kept at start. Off: every request is allowed as
   * cluster-admin (the in-process direct tests).
   */
  rbac?: boolean;
  /** The cluster file's `serviceCIDR` (default 10.96.0.0/16). */
  serviceCIDR?: string;
}

export interface ApiServer {
  urls: string[];
  close(): Promise<void>;
}

export function defaultCrdManifests(): string[] {
  return [path.join(repoRoot(), 'src/lab/manifests/crds/gateway-api-standard-install.yaml')];
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const log = opts.log ?? createLogger('apiserver');
  const dir = path.join(opts.stateDir, 'apiserver');
  const store = new Store(new Persistence(dir, log), {
    historyLimit: opts.historyLimit,
    compactEvery: opts.compactEvery,
  });
  const registry = new Registry(
    store,
    log,
    new ServiceRange(opts.serviceCIDR ?? DEFAULT_SERVICE_CIDR),
  );
  registry.registerStoredCrds();
  registry.bootstrap({
    caPem: opts.tls?.caPem,
    advertise: opts.advertise,
    policy: opts.rbac ? bootstrapPolicy() : undefined,
  });
  registry.installCrds(opts.crdManifests ?? defaultCrdManifests());
  registry.finalizeNamespaces();
  const deps = {
    registry,
    signer: new TokenSigner(dir),
    log,
    bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 10_000,
    authorizer: opts.rbac ? new NodeAuthorizer(store) : undefined,
  };
  const handler = createRouter(deps);
  const upgrade = createUpgradeRouter(deps);
  // pods/log|exec|attach|portforward go to the pod's kubelet.
  serveNodeStreams(registry, opts.stateDir);

  const servers: http.Server[] = [];
  const urls: string[] = [];
  const tls = opts.tls;
  const scheme = tls ? 'https' : 'http';
  const make = (): http.Server => {
    // Client certificates are asked for, not required: bearer tokens authenticate too.
    const s: http.Server = tls
      ? https.createServer(
          {
            key: tls.keyPem,
            cert: tls.certPem,
            ca: tls.caPem,
            requestCert: true,
            rejectUnauthorized: false,
          },
          handler,
        )
      : http.createServer(handler);
    // Watches are long-lived; the default request timeouts would cut them.
    s.requestTimeout = 0;
    s.headersTimeout = 60_000;
    s.keepAliveTimeout = 60_000;
    s.on('upgrade', upgrade);
    servers.push(s);
    s.on('clientError', (err, socket) => {
      log.debug('bad client connection', { error: err.message });
      socket.destroy();
    });
    return s;
  };
  const closeAll = async (): Promise<void> => {
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
  };
  try {
    for (const l of opts.listen) {
      const s = make();
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(l.port, l.host, () => {
          s.off('error', reject);
          resolve();
        });
      });
      const addr = s.address() as AddressInfo;
      urls.push(`${scheme}://${addr.address}:${addr.port}`);
    }
    if (opts.netnsListen) {
      const n = opts.netnsListen;
      await listen(make(), { host: n.host, port: n.port, netns: n.netns });
      urls.push(`${scheme}://${n.host}:${n.port}`);
    }
  } catch (err) {
    await closeAll();
    store.close();
    throw new AmbitError('APISERVER_LISTEN', `cannot listen: ${(err as Error).message}`, {
      value: opts.listen,
      hint: 'is another API server running for this lab?',
      cause: err,
    });
  }
  // After startup, a listener error (e.g. out of file descriptors) is logged, not fatal.
  for (const s of servers)
    s.on('error', (err) => log.error('listener error', { error: err.message }));
  log.info('serving', { urls: urls.join(','), state: dir, resourceVersion: store.resourceVersion });

  const eventTtl = setInterval(() => {
    try {
      registry.expireEvents(60 * 60_000);
    } catch (err) {
      log.warn('event expiry failed', { error: (err as Error).message });
    }
  }, 60_000);
  eventTtl.unref();

  let closed = false;
  return {
    urls,
    close: async () => {
      if (closed) return;
      closed = true;
      clearInterval(eventTtl);
      await closeAll();
      store.close();
      log.info('stopped', { resourceVersion: store.resourceVersion });
    },
  };
}
