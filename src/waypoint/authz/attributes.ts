/** What a policy decision looks at: one HTTP request, or one TCP connection through the waypoint. */

export interface AuthzAttributes {
  /** `http` for HTTP and gRPC requests; `tcp` for connections proxied as plain TCP. */
  protocol: 'http' | 'tcp';
  /** Client workload's SPIFFE ID from the HBONE peer certificate; '' when unknown. */
  sourcePrincipal: string;
  /** Client workload's IP (from the CONNECT's `forwarded`, else the HBONE peer). */
  sourceIp: string;
  /** Last X-Forwarded-For entry, else sourceIp. */
  remoteIp: string;
  /** Original destination: the service VIP or pod IP of the CONNECT `:authority`. */
  destinationIp: string;
  destinationPort: number;
  /** `namespace/hostname` of the service addressed; undefined for workload addressing. */
  service?: string;
  /** HTTP only. Host header / `:authority` of the inner request. */
  host?: string;
  /** HTTP only. Upper-case method (gRPC is always POST). */
  method?: string;
  /** HTTP only. Normalized path without the query string. */
  path?: string;
  /** HTTP only. Lower-case header names; multiple values joined by `,`. */
  headers?: Record<string, string>;
  /** TLS SNI of the inner stream, when the waypoint saw one; '' otherwise. */
  sni?: string;
}
