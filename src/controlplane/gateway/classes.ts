/**
 * The Gateway classes this control plane deploys, as Istio's class table has them
 * (docs/istio/waypoint.md §1.1): `istio-waypoint` (the mesh's L7 proxy, no name suffix, listener
 * `mesh` 15008/HBONE) and `istio` (the ingress gateway, `<name>-istio`, HTTP, HTTPS and TCP listeners).
 */
import { Label } from '../../api/labels.js';

export const WAYPOINT_CLASS = 'istio-waypoint';
export const INGRESS_CLASS = 'istio';

export const GATEWAY_NAME_LABEL = Label.gatewayName;
export const MANAGED_LABEL = 'gateway.istio.io/managed';
/** ambit's record of what it last applied, so unchanged Gateways cause no writes. */
export const SPEC_HASH_ANNOTATION = 'ambit.dev/gateway-spec-hash';
export const SERVICE_TYPE_ANNOTATION = 'networking.istio.io/service-type';

export interface ClassInfo {
  className: string;
  controller: string;
  /** Appended to the Gateway's name for the Deployment, Service and ServiceAccount. */
  suffix: string;
  image: string;
  /** `gateway.istio.io/managed` value on the pods. */
  managed: string;
  kind: 'waypoint' | 'ingress';
}

export const CLASSES: Record<string, ClassInfo> = {
  [WAYPOINT_CLASS]: {
    className: WAYPOINT_CLASS,
    controller: 'istio.io/mesh-controller',
    suffix: '',
    image: 'ambit/waypoint',
    managed: 'istio.io-mesh-controller',
    kind: 'waypoint',
  },
  [INGRESS_CLASS]: {
    className: INGRESS_CLASS,
    controller: 'istio.io/gateway-controller',
    suffix: '-istio',
    image: 'ambit/waypoint',
    managed: 'istio.io-gateway-controller',
    kind: 'ingress',
  },
};

export function classOf(gatewayClassName: string | undefined): ClassInfo | undefined {
  return gatewayClassName ? CLASSES[gatewayClassName] : undefined;
}

/** The name of the Deployment, Service and ServiceAccount made for a Gateway. */
export function deployedName(gatewayName: string, info: ClassInfo): string {
  return `${gatewayName}${info.suffix}`;
}
