/**
 * What the control plane deploys for a Gateway it manages, after Istio's `waypoint.yaml` and
 * gateway templates (docs/istio/waypoint.md §1.3): a ServiceAccount, a Deployment and a Service,
 * all named after the Gateway (plus the class suffix), all owned by it so they go when it goes.
 * Pure: the same Gateway always gives the same objects (and the same hash).
 */
import { createHash } from 'node:crypto';
import { scrapeAnnotations } from '../../api/labels.js';
import type { KubeObject, ServicePort } from '../../k8s/types.js';
import { proxyRuntimeEnv } from '../../runtime/env.js';
import type { Gateway } from '../model/types.js';
import {
  deployedName,
  GATEWAY_NAME_LABEL,
  MANAGED_LABEL,
  SERVICE_TYPE_ANNOTATION,
  SPEC_HASH_ANNOTATION,
  type ClassInfo,
} from './classes.js';

/** The proxy's ports, Istio's numbers: HBONE, admin (localhost), merged metrics, readiness. */
export const PROXY_PORTS = { hbone: 15008, admin: 15000, metrics: 15020, readiness: 15021 };
export const DEFAULT_XDS_ADDRESS = 'istiod.istio-system.svc:15012';

export interface DeployOptions {
  /** host:port of the control plane's xDS and CA (default istiod.istio-system.svc:15012). */
  xdsAddress?: string;
}

export interface GatewayObjects {
  serviceAccount: KubeObject;
  deployment: KubeObject;
  service: KubeObject;
  /** Hash of the three, written as an annotation so unchanged objects are not rewritten. */
  hash: string;
}

type OwnerRef = NonNullable<KubeObject['metadata']['ownerReferences']>[number];

export function ownerRefTo(gw: Gateway): OwnerRef {
  return {
    apiVersion: gw.apiVersion || 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    name: gw.metadata.name,
    uid: gw.metadata.uid ?? '',
    controller: true,
  };
}

function sanitizePortName(name: string, port: number): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '');
  return (s || `port-${port}`).slice(0, 15).replace(/-+$/, '');
}

/** The Service ports: the readiness port, then one per listener (waypoint: `mesh` 15008). */
export function servicePorts(gw: Gateway, info: ClassInfo): ServicePort[] {
  const ports: ServicePort[] = [
    { name: 'status-port', port: PROXY_PORTS.readiness, appProtocol: 'tcp', protocol: 'TCP' },
  ];
  const seen = new Set([PROXY_PORTS.readiness]);
  if (info.kind === 'waypoint') {
    ports.push({ name: 'mesh', port: PROXY_PORTS.hbone, appProtocol: 'all', protocol: 'TCP' });
    return ports;
  }
  for (const l of gw.spec?.listeners ?? []) {
    if (!l.port || seen.has(l.port)) continue;
    seen.add(l.port);
    ports.push({
      name: sanitizePortName(l.name ?? '', l.port),
      port: l.port,
      protocol: 'TCP',
      ...(l.protocol === 'HTTP' ? { appProtocol: 'http' } : {}),
    });
  }
  return ports;
}

function hashOf(...objs: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(objs)).digest('hex').slice(0, 16);
}

export function gatewayObjects(
  gw: Gateway,
  info: ClassInfo,
  opts: DeployOptions = {},
): GatewayObjects {
  const ns = gw.metadata.namespace ?? 'default';
  const name = deployedName(gw.metadata.name, info);
  const infra = gw.spec?.infrastructure ?? {};
  const selector = { [GATEWAY_NAME_LABEL]: gw.metadata.name };
  const labels = { ...(infra.labels ?? {}), ...selector, [MANAGED_LABEL]: info.managed };
  const ownerReferences = [ownerRefTo(gw)];
  const meta = (extra: Record<string, string> = {}) => ({
    name,
    namespace: ns,
    labels: { ...labels, ...extra },
    ...(infra.annotations ? { annotations: { ...infra.annotations } } : {}),
    ownerReferences,
  });
  const xds = opts.xdsAddress ?? DEFAULT_XDS_ADDRESS;

  const serviceAccount: KubeObject = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: meta(),
  };
  const podLabels = {
    ...labels,
    // Waypoints speak HBONE themselves: ztunnel must not capture them.
    'istio.io/dataplane-mode': 'none',
    'sidecar.istio.io/inject': 'false',
    'service.istio.io/canonical-name': name,
    'service.istio.io/canonical-revision': 'latest',
  };
  const containerPorts = [
    { containerPort: PROXY_PORTS.hbone, name: 'hbone', protocol: 'TCP' },
    { containerPort: PROXY_PORTS.metrics, name: 'http-envoy-prom', protocol: 'TCP' },
    { containerPort: PROXY_PORTS.readiness, name: 'status-port', protocol: 'TCP' },
  ];
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(),
    spec: {
      replicas: 1,
      selector: { matchLabels: selector },
      template: {
        metadata: {
          labels: podLabels,
          annotations: {
            ...scrapeAnnotations(PROXY_PORTS.metrics, '/stats/prometheus'),
            ...(infra.annotations ?? {}),
          },
        },
        spec: {
          serviceAccountName: name,
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              name: 'istio-proxy',
              image: info.image,
              args: [
                '--kind',
                info.kind,
                '--name',
                gw.metadata.name,
                '--namespace',
                ns,
                '--xds',
                xds,
                '--ca',
                xds,
              ],
              ports: containerPorts,
              // The proxy runtime (src/runtime/env.ts): V8's default young
              // generation (3 × 16 MiB) was most of the waypoint's 230–285 MB peak RSS.
              env: proxyRuntimeEnv(),
              readinessProbe: {
                httpGet: { path: '/healthz/ready', port: PROXY_PORTS.readiness },
              },
            },
          ],
          volumes: [{ name: 'istio-ca-root-cert', configMap: { name: 'istio-ca-root-cert' } }],
        },
      },
    },
  };
  const type =
    gw.metadata.annotations?.[SERVICE_TYPE_ANNOTATION] ??
    (info.kind === 'ingress' ? 'LoadBalancer' : 'ClusterIP');
  const service: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(),
    spec: { type, selector, ports: servicePorts(gw, info) },
  };
  const hash = hashOf(serviceAccount, deployment, service);
  for (const o of [serviceAccount, deployment, service])
    o.metadata.annotations = { ...(o.metadata.annotations ?? {}), [SPEC_HASH_ANNOTATION]: hash };
  return { serviceAccount, deployment, service, hash };
}
