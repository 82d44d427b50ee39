/**
 * Everything a waypoint proxy consumes, as plain data: the services and workloads it serves,
 * the HTTP and gRPC routes attached to them, and the L7 authorization policies that target it.
 *
 * The control plane translates Kubernetes objects (Service, EndpointSlice/Pod, HTTPRoute,
 * GRPCRoute, TCPRoute, AuthorizationPolicy with targetRefs) into exactly these types and delivers them
 * over xDS; the waypoint (src/waypoint/) never sees a Kubernetes object. Translation resolves
 * references (backend Services, named target ports, durations) so the waypoint only matches and
 * forwards; values that need the request to interpret (match strings, policy patterns, regexes)
 * are passed as the user wrote them, and the waypoint validates them again (bad ones disable the
 * rule or policy they are in, never the waypoint).
 *
 * Semantics follow Gateway API (HTTPRoute/GRPCRoute, GAMMA: routes attached to a Service) and
 * Istio's AuthorizationPolicy; see docs/istio/waypoint.md §3–§4 and
 * docs/istio/gamma-conformance.md. Keys: a service is named `namespace/hostname`
 * (the same key as the workload API's `Workload.services`), a workload by its uid.
 */

/** The whole config of one waypoint. One version replaces the previous one entirely. */
export interface WaypointConfig {
  /** Opaque version of this config (the xDS version, or anything for a file). */
  version: string;
  /** The waypoint itself. */
  waypoint: WaypointSelf;
  /**
   * Services the waypoint serves (`serves: true`) and every other service a route refers to
   * as backend or mirror target (`serves: false`, dialled like any mesh destination).
   */
  services: WaypointService[];
  /**
   * Workloads the waypoint may see as peers or destinations: those it accepts workload-addressed
   * traffic for (`serves: true`, for waypoint-for `workload` / `all`), and any others the control
   * plane sends so telemetry can name clients by IP (`serves: false`).
   */
  workloads: WaypointWorkload[];
  /** HTTPRoutes whose parent is a service this waypoint serves (or the waypoint's Gateway). */
  httpRoutes: HttpRoute[];
  /** GRPCRoutes, same attachment rules as httpRoutes. */
  grpcRoutes: GrpcRoute[];
  /**
   * TCPRoutes (Gateway API experimental channel), same attachment rules: they steer the
   * connections the waypoint proxies as plain TCP. Absent in configs of older control planes.
   */
  tcpRoutes?: TcpRoute[];
  /** AuthorizationPolicies attached by targetRefs to this waypoint's Gateway, its GatewayClass or a served Service. */
  authorizationPolicies: L7AuthorizationPolicy[];
}

/** Identity and role of this waypoint (its Gateway). */
export interface WaypointSelf {
  /** Gateway name (also its Deployment, Service and ServiceAccount name). */
  name: string;
  namespace: string;
  trustDomain: string;
  /** The waypoint's own SPIFFE ID, presented on both HBONE legs. */
  identity: string;
  /** `istio.io/waypoint-for` after Istio's precedence: which original addressing it accepts. */
  trafficType: 'service' | 'workload' | 'all' | 'none';
  /**
   * Absent or `waypoint`: an `istio-waypoint` Gateway. `ingress`: a Gateway of class `istio`
   * (`<name>-istio`), which takes HTTP, HTTPS and TCP on `listeners` from outside the mesh and
   * routes it with the routes whose parent is this Gateway (trafficType is then `none`).
   */
  role?: 'waypoint' | 'ingress';
  /** The ingress Gateway's accepted listeners (only with role `ingress`). */
  listeners?: IngressListener[];
}

/** A Gateway listener of an ingress gateway. */
export interface IngressListener {
  name: string;
  port: number;
  /**
   * `HTTPS`: TLS terminated by the gateway (`tls.mode: Terminate`) with `tls`'s certificates.
   * `TCP`: raw TCP, forwarded by the TCPRoute attached to it (the waypoint's TCP path).
   */
  protocol: 'HTTP' | 'HTTPS' | 'TCP';
  /** Only requests whose Host (HTTPS: also SNI) matches (exact, or `*.suffix`); absent: any. */
  hostname?: string;
  /** HTTPS only: the certificates of the listener's `certificateRefs` (the first is served). */
  tls?: { certificates: { certPem: string; keyPem: string }[] };
}

/**
 * L7 protocol of a service port. Derived by the control plane from `appProtocol`, else from
 * the port name prefix (`http-…`, `grpc-…`), with Istio's protocol selection rules; see
 * `portProtocol()` in ./port-protocol.ts. `UNKNOWN`: the waypoint sniffs HTTP/1.1 vs h2c.
 */
export type PortProtocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'TCP' | 'TLS' | 'UNKNOWN';

export interface WaypointServicePort {
  /** The Service port number (what clients dial on the VIP). */
  port: number;
  /** Port name as in the Service (may be empty). */
  name: string;
  protocol: PortProtocol;
}

export interface WaypointService {
  name: string;
  namespace: string;
  /** FQDN, e.g. `httpbin.default.svc.cluster.local`; with namespace the service's key. */
  hostname: string;
  /** ClusterIPs (IPv4 dotted quads). Traffic to `<vip>:<port>` is traffic to this service. */
  vips: string[];
  ports: WaypointServicePort[];
  /** True when this waypoint is the service's waypoint and accepts traffic addressed to it. */
  serves: boolean;
  /** Ready (and not-ready) endpoints; the waypoint load-balances over the healthy ones per request. */
  endpoints: WaypointEndpoint[];
  /**
   * Ingress gateways only: the pods of the service's waypoint, when the service (or its
   * namespace) carries `istio.io/ingress-use-waypoint=true`. Requests then go over HBONE to
   * one of them (`<pod IP>:15008`, `:authority <vip>:<port>`) instead of to the endpoints.
   */
  waypoint?: WaypointEndpoint[];
}

/** Telemetry and identity facts of a workload (a pod), as the workload API has them. */
export interface WorkloadFacts {
  /** Workload API uid, e.g. `Kubernetes//Pod/default/httpbin-7d4b9`. */
  uid: string;
  /** Pod name. */
  name: string;
  namespace: string;
  /** SPIFFE ID of its service account, e.g. `spiffe://cluster.local/ns/default/sa/httpbin`. */
  identity: string;
  serviceAccount: string;
  /** Node the pod runs on (its ztunnel terminates HBONE for it). */
  node: string;
  /** Owner name, e.g. the Deployment `httpbin` (Istio's `destination_workload`). */
  workloadName: string;
  /** `service.istio.io/canonical-name` or `app` label, else the workload name. */
  canonicalName: string;
  /** `service.istio.io/canonical-revision` or `version` label, else `latest`. */
  canonicalRevision: string;
  /** `app` and `version` pod labels ('' when absent); telemetry prints `unknown` for ''. */
  app: string;
  version: string;
  clusterId: string;
}

/** One endpoint of a service: a pod IP and the target port for each service port. */
export interface WaypointEndpoint extends WorkloadFacts {
  /** Pod IP. The waypoint dials `<address>:15008` (HBONE) or `<address>:<targetPort>` (NONE). */
  address: string;
  /**
   * `HBONE`: the pod is in the mesh; send a CONNECT with `:authority <address>:<targetPort>`
   * presenting the waypoint's identity. `NONE`: plain TCP to `<address>:<targetPort>`.
   */
  tunnel: 'HBONE' | 'NONE';
  /** Target port per service port (named targetPorts already resolved for this pod). */
  targetPorts: { servicePort: number; targetPort: number }[];
  healthy: boolean;
}

/** A workload as peer (telemetry by client IP) or as workload-addressed destination. */
export interface WaypointWorkload extends WorkloadFacts {
  /** Pod IPs. */
  addresses: string[];
  tunnel: 'HBONE' | 'NONE';
  /** True when traffic addressed to `<pod IP>:<port>` is accepted by this waypoint. */
  serves: boolean;
}

// ---------------------------------------------------------------------------------------------
// Routes (Gateway API HTTPRoute / GRPCRoute, GAMMA attachment)
// ---------------------------------------------------------------------------------------------

/** What a route is attached to. */
export type RouteParent =
  /** A Service (GAMMA producer route); `port` limits it to one service port. */
  | { kind: 'Service'; service: string; port?: number }
  /**
   * The waypoint's own Gateway: every service the waypoint serves. For an ingress gateway,
   * `sectionName` / `port` limit the route to one listener.
   */
  | { kind: 'Gateway'; sectionName?: string; port?: number };

/** Fields every route has; the last three are Gateway API's precedence tie-breakers. */
export interface RouteMeta {
  name: string;
  namespace: string;
  parents: RouteParent[];
  /** `spec.hostnames` (ingress gateways match them against Host; waypoints ignore them). */
  hostnames?: string[];
  /** metadata.creationTimestamp in ms since the epoch: the older route wins a tie. */
  creationTimestampMs: number;
}

/** Exact / PathPrefix (segment-wise) / RegularExpression (RE2-compatible subset, full match). */
export interface PathMatch {
  type: 'Exact' | 'PathPrefix' | 'RegularExpression';
  value: string;
}

/** Header or query parameter match. Header names are case-insensitive; query names are not. */
export interface ValueMatch {
  type: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}

/** One HTTPRouteMatch: all present conditions must hold. No path means PathPrefix `/`. */
export interface HttpRouteMatch {
  path?: PathMatch;
  headers?: ValueMatch[];
  queryParams?: ValueMatch[];
  /** Upper-case HTTP method. */
  method?: string;
}

export interface HeaderValue {
  name: string;
  value: string;
}

/** set replaces, add appends a value (comma-joined by the receiver), remove drops by name. */
export interface HeaderModifier {
  set?: HeaderValue[];
  add?: HeaderValue[];
  remove?: string[];
}

/** ReplaceFullPath replaces the whole path; ReplacePrefixMatch replaces the matched PathPrefix. */
export type PathModifier =
  { type: 'ReplaceFullPath'; value: string } | { type: 'ReplacePrefixMatch'; value: string };

/** A resolved reference to a service port (a backend or a mirror target). */
export interface ServicePortRef {
  /** `namespace/hostname` of a service in `WaypointConfig.services`. */
  service: string;
  /** Service port. */
  port: number;
}

export type HttpFilter =
  | { type: 'RequestHeaderModifier'; requestHeaderModifier: HeaderModifier }
  | { type: 'ResponseHeaderModifier'; responseHeaderModifier: HeaderModifier }
  | {
      type: 'RequestRedirect';
      requestRedirect: {
        /** `http` or `https`; absent keeps the request's scheme. */
        scheme?: string;
        /** Absent keeps the request's host. */
        hostname?: string;
        path?: PathModifier;
        /** Absent: the scheme's well-known port if scheme is set, else the request's port. */
        port?: number;
        /** 301 | 302 | 303 | 307 | 308; default 302. */
        statusCode?: number;
      };
    }
  | {
      type: 'URLRewrite';
      urlRewrite: { hostname?: string; path?: PathModifier };
    }
  | {
      type: 'RequestMirror';
      requestMirror: {
        backend: ServicePortRef;
        /** Share of requests mirrored, 0–100 (default 100); `fraction` wins when both are set. */
        percent?: number;
        fraction?: { numerator: number; denominator: number };
      };
    };

/**
 * A backendRef after resolution. `invalid` stands for a reference the control plane could not
 * resolve (missing Service, port, or disallowed cross-namespace reference): its share of the
 * weight is answered 500, as Gateway API requires.
 */
export type RouteBackend =
  | (ServicePortRef & { kind: 'service'; weight: number; filters?: HttpFilter[] })
  | { kind: 'invalid'; weight: number; reason: string };

/** Retry policy (GEP-1731). */
export interface RetryPolicy {
  /** HTTP status codes that are retried (connect failures and resets always are). */
  codes: number[];
  /** Retries after the first attempt. */
  attempts: number;
  /** Base backoff between attempts, ms. */
  backoffMs?: number;
}

/** Timeouts (GEP-1742), ms; 0 or absent disables. */
export interface RouteTimeouts {
  /** Whole request including retries: 504 when exceeded. */
  requestMs?: number;
  /** Each attempt to a backend: 504 when exceeded (retried if retries are set). */
  backendRequestMs?: number;
}

export interface HttpRouteRule {
  /** Optional rule name (MeshHTTPRouteNamedRouteRule); for logs and `route_name`. */
  name?: string;
  /** OR-ed; empty means one match of PathPrefix `/`. */
  matches: HttpRouteMatch[];
  /** Applied in order; at most one of RequestRedirect / URLRewrite-incompatible combinations. */
  filters: HttpFilter[];
  /** Empty with a RequestRedirect filter: redirect only. Empty otherwise: 500. */
  backends: RouteBackend[];
  timeouts?: RouteTimeouts;
  retry?: RetryPolicy;
}

export interface HttpRoute extends RouteMeta {
  rules: HttpRouteRule[];
}

/** GRPCMethodMatch: Exact on `service` / `method` (either may be absent), or RegularExpression. */
export interface GrpcMethodMatch {
  type: 'Exact' | 'RegularExpression';
  /** Fully qualified service, e.g. `proto.EchoTestService`. */
  service?: string;
  method?: string;
}

export interface GrpcRouteMatch {
  method?: GrpcMethodMatch;
  headers?: ValueMatch[];
}

/** GRPCRoute filters: header modifiers and mirror (no redirect or rewrite). */
export type GrpcFilter = Extract<
  HttpFilter,
  { type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'RequestMirror' }
>;

export interface GrpcRouteRule {
  name?: string;
  matches: GrpcRouteMatch[];
  filters: GrpcFilter[];
  backends: RouteBackend[];
  timeouts?: RouteTimeouts;
  retry?: RetryPolicy;
}

export interface GrpcRoute extends RouteMeta {
  rules: GrpcRouteRule[];
}

/**
 * A TCPRoute: no matches (Gateway API allows one rule); each connection to an attached service
 * port goes to one backend picked by weight. An `invalid` backend's share of the connections is
 * refused, as is every connection when no backend has weight.
 */
export interface TcpRoute extends RouteMeta {
  backends: RouteBackend[];
}

// ---------------------------------------------------------------------------------------------
// L7 AuthorizationPolicy (targetRefs; CUSTOM out of scope)
// ---------------------------------------------------------------------------------------------

/** Which traffic through this waypoint a policy applies to. */
export type PolicyTarget =
  /** targetRefs kind Gateway (this waypoint) or GatewayClass istio-waypoint in the root namespace. */
  | { kind: 'Gateway' }
  | { kind: 'GatewayClass' }
  /** targetRefs kind Service: only traffic addressed to that service (`namespace/hostname`). */
  | { kind: 'Service'; service: string };

/**
 * `from.source`. Every string list uses Istio's string match: exact, `prefix*`, `*suffix`, or
 * `*` (present). Principals are `<trust domain>/ns/<ns>/sa/<sa>` (no `spiffe://`).
 * Absent or empty lists do not constrain.
 */
export interface PolicySource {
  principals?: string[];
  notPrincipals?: string[];
  /** JWT `<iss>/<sub>`; ambit has no RequestAuthentication, so these never match. */
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  /** `namespace/serviceAccount`, exact. */
  serviceAccounts?: string[];
  notServiceAccounts?: string[];
  /** Source IP or CIDR (`10.0.0.1`, `10.0.0.0/16`): the client workload's IP. */
  ipBlocks?: string[];
  notIpBlocks?: string[];
  /** Like ipBlocks, from the last X-Forwarded-For entry (no trusted hops), else the source IP. */
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
  trustDomains?: string[];
  notTrustDomains?: string[];
}

/**
 * `to.operation`. hosts (case-insensitive), methods and paths are HTTP-only fields; paths
 * accept `{*}` (one segment) and `{**}` (the rest, last) templates besides Istio's string match.
 */
export interface PolicyOperation {
  hosts?: string[];
  notHosts?: string[];
  /** Destination ports as strings, as in Istio's proto. */
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

/**
 * `when`: `key` is one of request.headers[<name>], source.ip, source.namespace,
 * source.principal, remote.ip, request.auth.*, destination.ip, destination.port,
 * connection.sni; unknown keys are ignored (as Istio does).
 */
export interface PolicyCondition {
  key: string;
  values?: string[];
  notValues?: string[];
}

/** A rule matches when one `from` AND one `to` AND every `when` match; absent/empty lists match all. */
export interface PolicyRule {
  from?: PolicySource[];
  to?: PolicyOperation[];
  when?: PolicyCondition[];
}

export interface L7AuthorizationPolicy {
  name: string;
  namespace: string;
  /** AUDIT only marks; it neither allows nor denies. */
  action: 'ALLOW' | 'DENY' | 'AUDIT';
  target: PolicyTarget;
  /** `rules: []` never matches (an ALLOW with no rules allows nothing). */
  rules: PolicyRule[];
  /** `istio.io/dry-run: "true"`: evaluated and logged, not enforced. */
  dryRun?: boolean;
}

/** Istio's default HBONE port on waypoints and ztunnels. */
export { HBONE_PORT } from './ports.js';
