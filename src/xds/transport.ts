/**
 * What the xDS and CA clients share: a TLS gRPC channel to the control plane that trusts only
 * the given root, and the bearer token read from its file on every call (tokens rotate).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { AmbitError } from '../errors.js';

export interface ChannelOptions {
  address: string;
  rootCa: string;
  /** TLS name to verify instead of the address's host (e.g. `istiod.istio-system.svc`). */
  serverName?: string;
  /** Subchannels of its own, not shared through grpc-js's global pool. */
  ownSubchannels?: boolean;
}

/** The host part of `host:port` or `[v6]:port`. */
export function addressHost(address: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (v6) return v6[1]!;
  const i = address.lastIndexOf(':');
  return i > 0 && address.indexOf(':') === i ? address.slice(0, i) : address;
}

/**
 * The SNI sent when the control plane is dialled by IP. grpc-js always sets the TLS ServerName
 * (to the target host unless overridden), and Node warns that an IP there breaks RFC 6066
 * (DEP0123). The server picks no certificate by SNI; the check below still verifies the IP.
 */
export const CONTROL_PLANE_SNI = 'istiod.istio-system.svc';

export function openChannel(opts: ChannelOptions): grpc.Client {
  const host = addressHost(opts.address);
  const byIp = !opts.serverName && net.isIP(host) !== 0;
  const creds = grpc.credentials.createSsl(
    Buffer.from(opts.rootCa),
    null,
    null,
    // With the override below grpc-js verifies against the override's name; verify the IP.
    byIp ? { checkServerIdentity: (_name, cert) => tls.checkServerIdentity(host, cert) } : {},
  );
  const options: grpc.ChannelOptions = {
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 5_000,
  };
  // A channel reopened after failures must not inherit the pooled, failed subchannel.
  if (opts.ownSubchannels) options['grpc.use_local_subchannel_pool'] = 1;
  if (opts.serverName) {
    options['grpc.ssl_target_name_override'] = opts.serverName;
    options['grpc.default_authority'] = opts.serverName;
  } else if (byIp) {
    options['grpc.ssl_target_name_override'] = CONTROL_PLANE_SNI;
  }
  return new grpc.Client(opts.address, creds, options);
}

/** Call metadata carrying `authorization: Bearer <token>` when a token file is configured. */
export function bearerMetadata(tokenFile: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (!tokenFile) return md;
  let token: string;
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch (err) {
    throw new AmbitError('XDS_TOKEN_UNREADABLE', `cannot read the token file ${tokenFile}`, {
      value: tokenFile,
      hint: 'check AMBIT_KUBE_TOKEN_FILE / the pod token mount',
      cause: err,
    });
  }
  if (token) md.set('authorization', `Bearer ${token}`);
  return md;
}
