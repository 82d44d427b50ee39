/**
 * The mesh's well-known ports, the one home for these numbers, with Istio's names: ztunnel's
 * listeners as its config names them (`outbound_addr`, `inbound_plaintext_addr`,
 * `inbound_addr`, `dns_proxy_addr`, `admin_addr`, `stats_addr`, `readiness_addr`) and istiod's.
 * Note the naming trap: Istio's "inbound" is HBONE on 15008 (`ZtunnelInboundPort`); the
 * plaintext listener for callers outside the mesh is "inbound plaintext", 15006.
 */
export const Port = {
  /** ztunnel outbound: connections captured from local pods (TPROXY from istioout). */
  outbound: 15001,
  /** ztunnel inbound plaintext: non-mesh callers to local pods (TPROXY from istioin). */
  inboundPlaintext: 15006,
  /** ztunnel inbound: HBONE, mTLS HTTP/2 CONNECT; also a waypoint's listener. */
  inbound: 15008,
  /** ztunnel DNS proxy (UDP and TCP), when DNS capture is on. */
  dns: 15053,
  /** ztunnel admin (localhost only): /config_dump, /quitquitquit. */
  admin: 15000,
  /** ztunnel metrics: /metrics, /stats/prometheus. */
  metrics: 15020,
  /** ztunnel readiness: /healthz/ready. */
  readiness: 15021,
  /** istiod: delta ADS and the certificate service, TLS gRPC. */
  xds: 15012,
  /** istiod: plain-HTTP debug and monitoring (/debug/connections). */
  controlPlaneDebug: 15014,
} as const;

/** HBONE's port (the same number as `Port.inbound`, named for the protocol). */
export const HBONE_PORT: number = Port.inbound;

/**
 * Ports no application traffic may target: a connection to ztunnel's own capture listeners
 * would loop through the capture again.
 */
export const ILLEGAL_PORTS: ReadonlySet<number> = new Set([
  Port.outbound,
  Port.inboundPlaintext,
  Port.inbound,
]);
