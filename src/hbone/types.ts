/**
 * The HBONE layer's contract with the rest of ztunnel: mutual-TLS HTTP/2 CONNECT tunnels.
 * The proxy code (outbound/inbound) speaks only these types; TLS, HTTP/2, pooling and
 * keepalive live behind them.
 */
import type { Duplex } from 'node:stream';
import type net from 'node:net';

/** Certificates by identity, held by the identity manager. */
export interface CertificateSource {
  /** Resolves the current certificate of `identity` (fetching or waiting for it if needed). */
  get(identity: string): Promise<{ keyPem: string; certChainPem: string[]; rootPem: string }>;
}

export interface HboneDialRequest {
  /** The client workload's identity: its certificate is presented. */
  srcIdentity: string;
  /** Acceptable server identities (SPIFFE URIs); the server's URI SAN must be one of them. */
  dstIdentities: string[];
  /** The client workload's IP (part of the pool key; HBONE itself is not spoofed). */
  srcIp: string;
  /** Where to dial: `<dst pod IP>:15008` or a waypoint. */
  dstIp: string;
  dstPort: number;
  /** `:authority` of the CONNECT, e.g. `10.244.1.7:80`. */
  authority: string;
  /** Extra request headers (baggage, forwarded, traceparent). */
  headers: Record<string, string>;
}

export class HboneError extends Error {
  constructor(
    readonly code:
      | 'HBONE_CONNECT_FAILED'
      | 'HBONE_STATUS'
      | 'HBONE_TLS'
      | 'HBONE_PEER_IDENTITY'
      | 'HBONE_TIMEOUT',
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface HboneClient {
  /**
   * Opens one CONNECT stream, reusing a pooled HTTP/2 connection for the same
   * (srcIdentity, dstIdentities, srcIp, dst) when it has stream capacity. Resolves with a
   * duplex carrying the tunnelled bytes once the server answered 200; rejects with HboneError
   * (status set for non-200 answers).
   */
  connect(
    req: HboneDialRequest,
  ): Promise<{ stream: Duplex; responseHeaders: Record<string, string> }>;
  /** Pool statistics for tests and admin: open HTTP/2 connections and active streams per key. */
  stats(): {
    connections: number;
    streams: number;
    byKey: Record<string, { connections: number; streams: number }>;
  };
  close(): Promise<void>;
}

export interface HboneInboundRequest {
  /** Peer identity from the client certificate's URI SAN. */
  peerIdentity: string;
  /** The TCP peer (the remote ztunnel or waypoint) address. */
  peerAddress: string;
  peerPort: number;
  /** The local address of the TLS connection: the destination pod IP under TPROXY. */
  localAddress: string;
  authority: string;
  headers: Record<string, string>;
}

export interface HboneServerOptions {
  /** Listener whose accepted sockets carry TLS (a TPROXY'd IP_TRANSPARENT listener in production). */
  server: net.Server;
  trustDomain: string;
  /** The server certificate to present for a connection to `localAddress` (the destination pod). */
  certificateFor(
    localAddress: string,
  ): Promise<{ keyPem: string; certChainPem: string[]; rootPem: string }>;
  /**
   * Decides each CONNECT. Return a status to refuse (400/401/503...), or a duplex to splice the
   * stream to (answered 200 with `headers`).
   */
  onConnect(req: HboneInboundRequest): Promise<{
    status: number;
    headers?: Record<string, string>;
    upstream?: Duplex;
    reason?: string;
  }>;
}
