/**
 * The HBONE layer's contract with the proxies (ztunnel, waypoint): mutual-TLS HTTP/2 CONNECT tunnels.
 * The proxy code (outbound/inbound) speaks only these types; TLS, HTTP/2, pooling and
 * keepalive live behind them.
 */
import type http2 from 'node:http2';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { AmbitError, type CodeOf } from '../errors.js';

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

/** An HBONE failure: an AmbitError with an `HBONE_*` code, and the HTTP status of a non-200 answer. */
export class HboneError extends AmbitError<CodeOf<'HBONE'>> {
  constructor(
    code: CodeOf<'HBONE'>,
    message: string,
    readonly status?: number,
  ) {
    super(code, message, { value: status });
    this.name = 'HboneError';
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
  /**
   * Stops reusing pooled connections (GOAWAY; their open streams finish) so the next connect
   * dials afresh: all of them, or those whose pool key `which` selects. Returns how many were
   * released. For `ambit demo` and `ambit trace`, which show a connection's first packets
   * (ztunnel admin 15000), and for ztunnel when a destination address changed hands.
   */
  release(which?: (key: HboneDialRequest) => boolean): number;
  close(): Promise<void>;
}

/** What the HBONE server verified and parsed about an accepted CONNECT stream. */
export interface HboneInboundRequest {
  /** Peer identity: the SPIFFE URI SAN of the verified client certificate, in our trust domain. */
  peerIdentity: string;
  /** The TCP peer (the remote ztunnel or waypoint) address. */
  peerAddress: string;
  peerPort: number;
  /** The local address of the TLS connection: the destination pod IP under TPROXY. */
  localAddress: string;
  localPort: number;
  /** `:authority` of the CONNECT, already checked to be `host:port`. */
  authority: string;
  headers: Record<string, string>;
}

/**
 * An accepted CONNECT stream handed to the handler (Istio ztunnel's `H2Request`). The handler
 * owns it: it decides, answers with `refuse()` or `accept()`, then uses `stream` (splice it to a
 * socket with `acceptAndSplice()` from `./handoff.ts`, or run HTTP on it, as a waypoint does).
 */
export interface HboneRequest extends HboneInboundRequest {
  /** The CONNECT stream itself; after `accept()` it carries the tunnelled bytes both ways. */
  stream: http2.ServerHttp2Stream;
  /**
   * Aborted when the stream ends before the handler is done with it: the peer reset it
   * (RST_STREAM), the connection died or the server closed. Pass it to dials so a reset stream
   * cancels them.
   */
  signal: AbortSignal;
  /** Answers `status` (not 200) and ends the stream; harmless on a stream already gone. */
  refuse(status: number, reason?: string): void;
  /**
   * Answers 200 with `headers`. false when nothing could be sent (the stream is gone, or the
   * headers were invalid: then it was answered 503); the handler must then drop its upstream.
   */
  accept(headers?: Record<string, string>): boolean;
}

/**
 * Handles one CONNECT. May answer asynchronously; a throw or rejection before an answer is
 * answered 503 (after an answer, the stream is reset).
 */
export type HboneHandler = (req: HboneRequest) => void | Promise<void>;

export interface HboneServerOptions {
  /** Listener whose accepted sockets carry TLS (a TPROXY'd IP_TRANSPARENT listener in production). */
  server: net.Server;
  trustDomain: string;
  /** The server certificate to present for a connection to `localAddress` (the destination pod). */
  certificateFor(
    localAddress: string,
  ): Promise<{ keyPem: string; certChainPem: string[]; rootPem: string }>;
  /** Gets every well-formed CONNECT stream (malformed ones are answered 400/431 by the server). */
  handler: HboneHandler;
}
