/**
 * The model's inputs (the Kubernetes objects the control plane watches) and outputs.
 */
import type {
  PolicyCondition,
  PolicyOperation as ContractOperation,
  PolicySource,
} from '../../api/waypoint-config.js';
import type { Address, Authorization, Service, Workload } from '../../api/workload.js';
import type {
  EndpointSlice,
  KubeObject,
  Namespace,
  Pod,
  Secret,
  Service as KubeService,
} from '../../k8s/types.js';
import type { Condition } from './condition.js';
import type { GRPCRoute, HTTPRoute, ReferenceGrant, TCPRoute } from './routes-types.js';

/**
 * `from.source` and `to.operation` as an AuthorizationPolicy writes them: the waypoint contract's
 * types (one definition of Istio's fields), except that Kubernetes YAML may give ports as
 * numbers and that the contract's trust domain lists are not Istio API fields.
 */
export type StringListSource = Omit<PolicySource, 'trustDomains' | 'notTrustDomains'>;

export interface PolicyOperation extends Omit<ContractOperation, 'ports' | 'notPorts'> {
  ports?: (string | number)[];
  notPorts?: (string | number)[];
}

export interface PolicyRule {
  from?: { source?: StringListSource }[];
  to?: { operation?: PolicyOperation }[];
  when?: PolicyCondition[];
}

export interface AuthorizationPolicySpec {
  selector?: { matchLabels?: Record<string, string> };
  targetRef?: unknown;
  targetRefs?: unknown[];
  action?: string;
  provider?: unknown;
  rules?: PolicyRule[];
}

export type AuthorizationPolicy = KubeObject<
  AuthorizationPolicySpec,
  { conditions?: Condition[] } & Record<string, unknown>
>;

export interface PeerAuthenticationSpec {
  selector?: { matchLabels?: Record<string, string> };
  mtls?: { mode?: string };
  portLevelMtls?: Record<string, { mode?: string }>;
}

export type PeerAuthentication = KubeObject<PeerAuthenticationSpec>;

export type { Condition } from './condition.js';

export interface GatewayListener {
  name?: string;
  port?: number;
  protocol?: string;
  hostname?: string;
  /** HTTPS (and TLS) listeners: `mode` Terminate (default) or Passthrough, and the certificates. */
  tls?: {
    mode?: string;
    certificateRefs?: { group?: string; kind?: string; name: string; namespace?: string }[];
  };
  allowedRoutes?: {
    namespaces?: {
      from?: 'Same' | 'All' | 'Selector';
      selector?: { matchLabels?: Record<string, string> };
    };
    kinds?: { group?: string; kind: string }[];
  };
}

export interface GatewaySpec {
  gatewayClassName?: string;
  listeners?: GatewayListener[];
  infrastructure?: { labels?: Record<string, string>; annotations?: Record<string, string> };
}

export interface GatewayStatus {
  addresses?: { type?: string; value: string }[];
  conditions?: Condition[];
  listeners?: {
    name: string;
    attachedRoutes: number;
    supportedKinds: { group?: string; kind: string }[];
    conditions: Condition[];
  }[];
}

export type Gateway = KubeObject<GatewaySpec, GatewayStatus>;

/** Everything the model reads, as listed from the API. */
export interface Snapshot {
  namespaces: Namespace[];
  pods: Pod[];
  services: KubeService[];
  endpointSlices: EndpointSlice[];
  serviceAccounts: KubeObject[];
  policies: AuthorizationPolicy[];
  gateways: Gateway[];
  deployments: KubeObject[];
  httpRoutes: HTTPRoute[];
  grpcRoutes: GRPCRoute[];
  /** Secrets, for ingress Gateways' HTTPS certificateRefs (kubernetes.io/tls; absent: none). */
  secrets?: Secret[];
  /** gateway.networking.k8s.io TCPRoute (experimental channel; absent: none). */
  tcpRoutes?: TCPRoute[];
  /** gateway.networking.k8s.io ReferenceGrants, for cross-namespace backendRefs and certificateRefs (absent: none). */
  referenceGrants?: ReferenceGrant[];
  /** security.istio.io/v1 PeerAuthentication (absent: none, every workload PERMISSIVE). */
  peerAuthentications?: PeerAuthentication[];
}

export interface ModelOptions {
  trustDomain: string;
  /** Policies here without a selector are GLOBAL (default istio-system). */
  rootNamespace: string;
  clusterId: string;
  network: string;
  domainSuffix: string;
}

export const defaultModelOptions: ModelOptions = {
  trustDomain: 'cluster.local',
  rootNamespace: 'istio-system',
  clusterId: 'Kubernetes',
  network: '',
  domainSuffix: 'cluster.local',
};

/** How a policy was taken: written to its status (condition ZtunnelAccepted) and as Events. */
export interface PolicyReport {
  namespace: string;
  name: string;
  uid?: string;
  generation?: number;
  /** Sent to ztunnel exactly as written. */
  accepted: boolean;
  /** Sent at all (possibly changed, see message). */
  sent: boolean;
  reason:
    | 'Accepted'
    | 'UnsupportedValue'
    | 'InvalidValue'
    | 'NotApplicable'
    | 'TargetNotFound'
    | 'AncestorNotBound';
  message: string;
  /** The status condition written (default ZtunnelAccepted; waypoint policies: WaypointAccepted). */
  conditionType?: string;
}

export interface Model {
  workloads: Workload[];
  services: Service[];
  authorizations: Authorization[];
  reports: PolicyReport[];
}

export function addressesOf(m: Model): Address[] {
  return [
    ...m.workloads.map((workload) => ({ workload })),
    ...m.services.map((service) => ({ service })),
  ];
}
