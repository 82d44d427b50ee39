/**
 * The control plane assembled: registry (watch) → model → resource store → delta ADS push, the
 * CA on the same TLS gRPC port, root-certificate ConfigMaps, policy status, debug HTTP.
 */
import { TYPE_WAYPOINT_CONFIG } from '../api/waypoint-resource.js';
import { TYPE_ADDRESS, TYPE_AUTHORIZATION } from '../api/workload.js';
import { errorMessage } from '../errors.js';
import type { KubeClient } from '../k8s/client.js';
import { resources } from '../k8s/resources.js';
import type { Pod, Service as KubeService } from '../k8s/types.js';
import type { Logger } from '../log.js';
import { TokenReviewAuthenticator, type Authenticator } from './auth.js';
import { CertificateAuthority } from './ca/authority.js';
import { RootCertPublisher } from './ca/root-publisher.js';
import { createCertificateHandler, type PodSource } from './ca/service.js';
import { startDebugServer } from './debug.js';
import { attachedRoutes, type AttachingRoute } from './gateway/attachment.js';
import { GatewayController } from './gateway/controller.js';
import { buildWaypointConfigs } from './l7/config.js';
import { RouteStatusWriter } from './l7/route-status.js';
import { waypointScope } from './l7/scope.js';
import {
  defaultModelOptions,
  type AuthorizationPolicy,
  type Gateway,
  type ModelOptions,
} from './model/index.js';
import type { GRPCRoute, HTTPRoute, TCPRoute } from './model/routes-types.js';
import { Registry } from './registry.js';
import { PolicyReporter } from './reporting.js';
import { AdsServer } from './xds/ads.js';
import { startGrpcServer } from './xds/grpc-server.js';
import { publishDelta, publishWaypointConfigs } from './xds/publish.js';
import { ResourceStore } from './xds/store.js';

export interface ControlPlaneOptions {
  kube: KubeClient;
  log: Logger;
  /** Where the root CA lives (created on first start). */
  stateDir: string;
  caCertFile?: string;
  caKeyFile?: string;
  host: string;
  port: number;
  debugHost: string;
  debugPort: number;
  /** `namespace/serviceaccount` allowed to subscribe and impersonate (default istio-system/ztunnel). */
  trustedAccounts: string[];
  certTtlSeconds?: number;
  maxCertTtlSeconds?: number;
  /** Extra names/IPs for the serving certificate (the pod IP, …). */
  servingNames?: string[];
  model?: Partial<ModelOptions>;
  debounceMs?: number;
  /** xDS/CA address written into the waypoint and gateway pods (default istiod.istio-system.svc:15012). */
  gatewayXdsAddress?: string;
  /** Replaces TokenReview (tests only). */
  authenticator?: Authenticator;
}

export interface ControlPlane {
  ca: CertificateAuthority;
  ads: AdsServer;
  registry: Registry;
  store: ResourceStore;
  grpcPort: number;
  debugPort: number;
  close(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const { kube, log } = opts;
  const ca = await CertificateAuthority.open({
    stateDir: opts.stateDir,
    certFile: opts.caCertFile,
    keyFile: opts.caKeyFile,
    trustDomain: opts.model?.trustDomain,
    defaultTtlSeconds: opts.certTtlSeconds,
    maxTtlSeconds: opts.maxCertTtlSeconds,
  });
  log.info('CA ready', { root: ca.rootCert.subject, notAfter: ca.rootCert.notAfter.toISOString() });

  const names = new Set([
    'istiod.istio-system.svc',
    'istiod.istio-system.svc.cluster.local',
    'istiod.istio-system',
    'istiod',
    'localhost',
    '127.0.0.1',
    ...(opts.servingNames ?? []),
  ]);
  // ztunnels may dial the Service's ClusterIP directly; put it in the certificate too.
  const svc = await kube
    .tryGet<KubeService>(resources.services, 'istiod', 'istio-system')
    .catch(() => undefined);
  for (const ip of svc?.spec?.clusterIPs ?? [svc?.spec?.clusterIP ?? ''])
    if (ip && ip !== 'None') names.add(ip);
  const serving = await ca.issueServing([...names]);

  const store = new ResourceStore([TYPE_ADDRESS, TYPE_AUTHORIZATION, TYPE_WAYPOINT_CONFIG]);
  const authenticator = opts.authenticator ?? new TokenReviewAuthenticator(kube);
  const ads = new AdsServer({
    store,
    log: log.child('xds'),
    authenticator,
    trustedAccounts: opts.trustedAccounts,
    // Waypoints subscribe with their own service account and get only their own config.
    scopeOf: (caller) =>
      waypointScope(caller, (registry.informers.get('gateways')?.list() ?? []) as Gateway[]),
  });
  const modelOptions = { ...defaultModelOptions, ...opts.model };
  const registry = new Registry(kube, log.child('registry'), opts.model, opts.debounceMs);
  const reporter = new PolicyReporter(kube, log.child('status'));
  // The routes of the last waypoint-config build, for the listeners' attachedRoutes.
  let translatedRoutes: readonly AttachingRoute[] = [];
  const gateways = new GatewayController(kube, log.child('gateway'), {
    xdsAddress: opts.gatewayXdsAddress,
    domainSuffix: modelOptions.domainSuffix,
    attachedRoutes: (gw) => attachedRoutes(gw, translatedRoutes),
  });
  const routeStatus = new RouteStatusWriter(kube, log.child('route-status'));
  const rootPublisher = new RootCertPublisher(kube, ca.rootPem, log.child('root-cert'));

  registry.on('model', (model, delta) => {
    // Only what the burst of events changed is encoded and pushed (the model is incremental).
    const changed = publishDelta(store, delta);
    if (changed.addresses || changed.authorizations)
      log.info('config changed', {
        addresses: changed.addresses,
        authorizations: changed.authorizations,
        addressVersion: store.version(TYPE_ADDRESS),
        policyVersion: store.version(TYPE_AUTHORIZATION),
      });
    const snap = registry.snapshot();
    let waypointReports: typeof model.reports = [];
    try {
      const wc = buildWaypointConfigs(snap, model, modelOptions);
      if (publishWaypointConfigs(store, wc.configs))
        log.info('waypoint config changed', {
          waypoints: wc.configs.size,
          version: store.version(TYPE_WAYPOINT_CONFIG),
        });
      waypointReports = wc.policyReports;
      translatedRoutes = wc.routes;
      const kindKey = {
        HTTPRoute: 'httpRoutes',
        GRPCRoute: 'grpcRoutes',
        TCPRoute: 'tcpRoutes',
      } as const;
      void routeStatus.write(
        wc.routes,
        (kind, ns, name) =>
          registry.informers
            .get(kindKey[kind as keyof typeof kindKey])
            ?.cache.get(`${ns}/${name}`) as HTTPRoute | GRPCRoute | TCPRoute | undefined,
      );
    } catch (err) {
      log.error('waypoint config build failed; waypoints keep their last config', {
        error: errorMessage(err),
      });
    }
    const policies = registry.informers.get('policies');
    void reporter.report(
      // Policies with targetRefs are the waypoints' (WaypointAccepted), not ztunnel's.
      [...model.reports.filter((r) => r.reason !== 'NotApplicable'), ...waypointReports],
      (ns, name) => policies?.cache.get(`${ns}/${name}`) as AuthorizationPolicy | undefined,
    );
    void gateways.reconcile(snap);
  });
  registry.on('namespace', (ns) => void rootPublisher.ensure(ns.metadata.name));

  const pods: PodSource = {
    getPod: (ns, name) => kube.tryGet<Pod>(resources.pods, name, ns),
    listPods: async (ns) => (await kube.list<Pod>(resources.pods, { namespace: ns })).items,
  };
  const createCertificate = createCertificateHandler({
    ca,
    authenticator,
    pods,
    trustedAccounts: opts.trustedAccounts,
    log: log.child('ca'),
  });

  await registry.start();
  const grpcServer = await startGrpcServer({
    host: opts.host,
    port: opts.port,
    ...serving,
    ads,
    createCertificate,
  });
  const debug = await startDebugServer(
    { ads, model: () => registry.model, log: log.child('debug'), authenticator },
    opts.debugHost,
    opts.debugPort,
  );
  const resync = setInterval(() => {
    for (const ns of registry.informers.get('namespaces')?.list() ?? [])
      void rootPublisher.ensure(ns.metadata.name);
  }, 60_000);
  resync.unref();
  log.info('control plane serving', {
    grpc: `${opts.host}:${grpcServer.port}`,
    debug: `${opts.debugHost}:${debug.port}`,
    trusted: opts.trustedAccounts.join(','),
  });
  return {
    ca,
    ads,
    registry,
    store,
    grpcPort: grpcServer.port,
    debugPort: debug.port,
    close: async () => {
      clearInterval(resync);
      await Promise.all([
        grpcServer.close(),
        debug.close(),
        registry.stop().catch((err: unknown) => log.warn('stop', { error: errorMessage(err) })),
      ]);
    },
  };
}
