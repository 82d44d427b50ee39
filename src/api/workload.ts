/**
 * ambit's in-memory form of Istio's workload API (istio.workload.Workload / Service and
 * istio.security.Authorization), shared by the control plane (which builds it) and ztunnel
 * (which consumes it). Field names follow Istio's proto, in camelCase. Protobuf types never
 * leave the xDS codec; everything else uses these.
 */

export type TunnelProtocol = 'NONE' | 'HBONE';
export type WorkloadStatus = 'Healthy' | 'Unhealthy';
export type WorkloadType = 'deployment' | 'cronjob' | 'pod' | 'job';

export interface NetworkAddress {
  network: string;
  /** IPv4 dotted quad. */
  address: string;
}

export interface GatewayAddress {
  /** Exactly one of address / hostname. */
  address?: NetworkAddress;
  hostname?: { namespace: string; hostname: string };
  hboneMtlsPort: number;
}

export interface PortMapping {
  servicePort: number;
  /** 0 means "same as servicePort" for workloads selected by the service. */
  targetPort: number;
}

export interface Workload {
  /** Primary key, e.g. `Kubernetes//Pod/default/httpbin-7d4b9`. */
  uid: string;
  name: string;
  namespace: string;
  addresses: string[];
  hostname: string;
  network: string;
  tunnelProtocol: TunnelProtocol;
  trustDomain: string;
  serviceAccount: string;
  waypoint?: GatewayAddress;
  networkGateway?: GatewayAddress;
  node: string;
  canonicalName: string;
  canonicalRevision: string;
  workloadType: WorkloadType;
  workloadName: string;
  nativeTunnel: boolean;
  /** Keyed `namespace/hostname` of each service selecting this workload. */
  services: Record<string, { ports: PortMapping[] }>;
  /** `namespace/name` of selector-based policies that apply to this workload. */
  authorizationPolicies: string[];
  status: WorkloadStatus;
  clusterId: string;
}

export interface ServicePort extends PortMapping {
  appProtocol?: 'UNKNOWN' | 'HTTP11' | 'HTTP2' | 'GRPC' | 'TCP' | 'TLS';
}

export interface Service {
  name: string;
  namespace: string;
  /** e.g. httpbin.default.svc.cluster.local */
  hostname: string;
  addresses: NetworkAddress[];
  ports: ServicePort[];
  subjectAltNames: string[];
  waypoint?: GatewayAddress;
}

/** One resource of type istio.workload.Address: a workload or a service. */
export type Address =
  { workload: Workload; service?: never } | { service: Service; workload?: never };

export type StringMatch =
  { exact: string } | { prefix: string } | { suffix: string } | { presence: true };

export interface Cidr {
  address: string;
  length: number;
}

/** Values of one field are OR-ed; different fields are AND-ed; `not*` match when none match. */
export interface Match {
  namespaces: StringMatch[];
  notNamespaces: StringMatch[];
  principals: StringMatch[];
  notPrincipals: StringMatch[];
  sourceIps: Cidr[];
  notSourceIps: Cidr[];
  destinationIps: Cidr[];
  notDestinationIps: Cidr[];
  destinationPorts: number[];
  notDestinationPorts: number[];
}

/** A Match with every list empty (matches anything), plus `over`. */
export function emptyMatch(over: Partial<Match> = {}): Match {
  return {
    namespaces: [],
    notNamespaces: [],
    principals: [],
    notPrincipals: [],
    sourceIps: [],
    notSourceIps: [],
    destinationIps: [],
    notDestinationIps: [],
    destinationPorts: [],
    notDestinationPorts: [],
    ...over,
  };
}

/** Matches within a clause are OR-ed. */
export interface Clause {
  matches: Match[];
}

/** Clauses within a rule are AND-ed; rules within a policy are OR-ed. */
export interface Rule {
  clauses: Clause[];
}

export type AuthorizationScope = 'GLOBAL' | 'NAMESPACE' | 'WORKLOAD_SELECTOR';

export interface Authorization {
  name: string;
  namespace: string;
  scope: AuthorizationScope;
  action: 'ALLOW' | 'DENY';
  rules: Rule[];
  dryRun: boolean;
}

export const TYPE_ADDRESS = 'type.googleapis.com/istio.workload.Address';
export const TYPE_AUTHORIZATION = 'type.googleapis.com/istio.security.Authorization';

/** xDS resource names: workloads by uid, services by `namespace/hostname`, policies by `namespace/name`. */
export function addressResourceName(a: Address): string {
  return a.workload ? a.workload.uid : `${a.service.namespace}/${a.service.hostname}`;
}

export function authorizationResourceName(p: Authorization): string {
  return `${p.namespace}/${p.name}`;
}

export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

export interface Identity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

/** Parses exactly `spiffe://<td>/ns/<ns>/sa/<sa>`; undefined for anything else. */
export function parseSpiffeId(uri: string): Identity | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!m) return undefined;
  return { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! };
}
