/**
 * Waypoints: Gateways of class `istio-waypoint` and the `istio.io/use-waypoint` labels that bind
 * pods, services and namespaces to them, with Istio's precedence (docs/istio/waypoint.md §1.2,
 * §1.4): the object's own label beats its namespace's, `none` opts out, a Service binds only to
 * a waypoint for `service`/`all` traffic and a pod only to one for `workload`/`all`, and a
 * Gateway is a waypoint only once its status has an address (the control plane writes it when a
 * proxy pod is ready). A waypoint in another namespace must allow it on its HBONE listener
 * (`allowedRoutes.namespaces`: Same by default, All, Selector).
 */
import { Label } from '../../api/labels.js';
import { HBONE_PORT } from '../../api/ports.js';
import type { GatewayAddress } from '../../api/workload.js';
import type { Namespace, Pod, Service as KubeService } from '../../k8s/types.js';
import { GATEWAY_NAME_LABEL, WAYPOINT_CLASS } from '../gateway/classes.js';
import type { Gateway, GatewayListener } from './types.js';

export { GATEWAY_NAME_LABEL, WAYPOINT_CLASS } from '../gateway/classes.js';
export const USE_WAYPOINT = Label.useWaypoint;
export const USE_WAYPOINT_NAMESPACE = Label.useWaypointNamespace;
export const WAYPOINT_FOR = Label.waypointFor;

export type WaypointFor = 'service' | 'workload' | 'all' | 'none';

export interface Waypoint {
  namespace: string;
  name: string;
  for: WaypointFor;
  address?: GatewayAddress;
  /** The HBONE listener's `allowedRoutes.namespaces`. */
  allowed?: NonNullable<GatewayListener['allowedRoutes']>['namespaces'];
}

const isIPv4 = (s: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(s);

export class WaypointIndex {
  private readonly byKey = new Map<string, Waypoint>();

  constructor(gateways: readonly Gateway[]) {
    for (const gw of gateways) {
      if (gw.spec?.gatewayClassName !== WAYPOINT_CLASS) continue;
      const ns = gw.metadata.namespace ?? 'default';
      const name = gw.metadata.name;
      const forLabel = gw.metadata.labels?.[WAYPOINT_FOR] ?? 'service';
      const wpFor: WaypointFor = ['service', 'workload', 'all', 'none'].includes(forLabel)
        ? (forLabel as WaypointFor)
        : 'service';
      // No status address = not ready: bound traffic goes direct until it is (Istio's rule).
      const ip = gw.status?.addresses?.map((a) => a.value).find(isIPv4);
      if (!ip) continue;
      const hbone = gw.spec.listeners?.find((l) => l.protocol === 'HBONE');
      const wp: Waypoint = {
        namespace: ns,
        name,
        for: wpFor,
        address: { address: { network: '', address: ip }, hboneMtlsPort: HBONE_PORT },
        allowed: hbone?.allowedRoutes?.namespaces,
      };
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
    const wp = this.byKey.get(`${wpNs}/${name}`);
    if (!wp || wpNs === objNamespace) return wp;
    const from = wp.allowed?.from ?? 'Same';
    if (from === 'All') return wp;
    if (from === 'Selector') {
      const want = wp.allowed?.selector?.matchLabels ?? {};
      const have = ns?.metadata.labels ?? {};
      return Object.entries(want).every(([k, v]) => have[k] === v) ? wp : undefined;
    }
    return undefined;
  }

  /** The waypoint a pod's workload-addressed traffic goes to (Istio's fetchWaypointForWorkload). */
  workloadWaypoint(pod: Pod, ns: Namespace | undefined): Waypoint | undefined {
    // A waypoint's own pods never go through a waypoint.
    if (pod.metadata.labels?.[GATEWAY_NAME_LABEL]) return undefined;
    const wp = this.lookup(pod.metadata.namespace ?? 'default', pod.metadata.labels, ns);
    return wp && (wp.for === 'workload' || wp.for === 'all') ? wp : undefined;
  }

  /** The waypoint a Service's traffic goes to (Istio's fetchWaypointForService). */
  serviceWaypoint(svc: KubeService, ns: Namespace | undefined): Waypoint | undefined {
    if (svc.metadata.labels?.[GATEWAY_NAME_LABEL]) return undefined;
    const wp = this.lookup(svc.metadata.namespace ?? 'default', svc.metadata.labels, ns);
    return wp && (wp.for === 'service' || wp.for === 'all') ? wp : undefined;
  }

  forWorkload(pod: Pod, ns: Namespace | undefined): GatewayAddress | undefined {
    return this.workloadWaypoint(pod, ns)?.address;
  }

  forService(svc: KubeService, ns: Namespace | undefined): GatewayAddress | undefined {
    return this.serviceWaypoint(svc, ns)?.address;
  }
}
