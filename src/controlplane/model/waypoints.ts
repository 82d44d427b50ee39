/**
 * Waypoints: Gateways of class `istio-waypoint` and the `istio.io/use-waypoint` labels that bind
 * pods, services and namespaces to them. As in Istio, a waypoint serves services by default;
 * the Gateway label `istio.io/waypoint-for` = workload | all | none changes that.
 */
import type { GatewayAddress } from '../../api/workload.js';
import type { Namespace, Pod, Service as KubeService } from '../../k8s/types.js';
import type { Gateway } from './types.js';

export const USE_WAYPOINT = 'istio.io/use-waypoint';
export const USE_WAYPOINT_NAMESPACE = 'istio.io/use-waypoint-namespace';
export const WAYPOINT_FOR = 'istio.io/waypoint-for';
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
export const WAYPOINT_CLASS = 'istio-waypoint';

export type WaypointFor = 'service' | 'workload' | 'all' | 'none';

export interface Waypoint {
  namespace: string;
  name: string;
  for: WaypointFor;
  address?: GatewayAddress;
}

const isIPv4 = (s: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(s);

export class WaypointIndex {
  private readonly byKey = new Map<string, Waypoint>();

  constructor(
    gateways: readonly Gateway[],
    services: readonly KubeService[],
    pods: readonly Pod[],
  ) {
    for (const gw of gateways) {
      if (gw.spec?.gatewayClassName !== WAYPOINT_CLASS) continue;
      const ns = gw.metadata.namespace ?? 'default';
      const name = gw.metadata.name;
      const forLabel = gw.metadata.labels?.[WAYPOINT_FOR] ?? 'service';
      const wpFor: WaypointFor = ['service', 'workload', 'all', 'none'].includes(forLabel)
        ? (forLabel as WaypointFor)
        : 'service';
      let ip = gw.status?.addresses?.map((a) => a.value).find(isIPv4);
      if (!ip) {
        const svc = services.find((s) => s.metadata.namespace === ns && s.metadata.name === name);
        const vip = svc?.spec?.clusterIP;
        if (vip && vip !== 'None') ip = vip;
      }
      if (!ip) {
        const pod = pods.find(
          (p) =>
            p.metadata.namespace === ns &&
            p.metadata.labels?.[GATEWAY_NAME_LABEL] === name &&
            p.status?.podIP &&
            !p.metadata.deletionTimestamp,
        );
        ip = pod?.status?.podIP;
      }
      const wp: Waypoint = { namespace: ns, name, for: wpFor };
      if (ip) wp.address = { address: { network: '', address: ip }, hboneMtlsPort: 15008 };
      this.byKey.set(`${ns}/${name}`, wp);
    }
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The waypoint an object is bound to (its own label, else its namespace's), if any. */
  lookup(
    objNamespace: string,
    labels: Record<string, string> | undefined,
    ns: Namespace | undefined,
  ): Waypoint | undefined {
    let src = labels;
    let name = labels?.[USE_WAYPOINT];
    if (name === undefined) {
      src = ns?.metadata.labels;
      name = src?.[USE_WAYPOINT];
    }
    if (!name || name === 'none' || name === '#none') return undefined;
    const wpNs = src?.[USE_WAYPOINT_NAMESPACE] ?? objNamespace;
    return this.byKey.get(`${wpNs}/${name}`);
  }

  forWorkload(pod: Pod, ns: Namespace | undefined): GatewayAddress | undefined {
    // A waypoint's own pods never go through a waypoint.
    if (pod.metadata.labels?.[GATEWAY_NAME_LABEL]) return undefined;
    const wp = this.lookup(pod.metadata.namespace ?? 'default', pod.metadata.labels, ns);
    return wp && (wp.for === 'workload' || wp.for === 'all') ? wp.address : undefined;
  }

  forService(svc: KubeService, ns: Namespace | undefined): GatewayAddress | undefined {
    if (svc.metadata.labels?.[GATEWAY_NAME_LABEL]) return undefined;
    const wp = this.lookup(svc.metadata.namespace ?? 'default', svc.metadata.labels, ns);
    return wp && (wp.for === 'service' || wp.for === 'all') ? wp.address : undefined;
  }
}
