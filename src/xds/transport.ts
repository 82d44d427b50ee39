/**
 * What the xDS and CA clients share: a TLS gRPC channel to the control plane that trusts only
 * the given root, and the bearer token read from its file on every call (tokens rotate).
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { AmbitError } from '../errors.js';

export interface ChannelOptions {
  address: string;
  rootCa: string;
  /** TLS name to verify instead of the address's host (e.g. `istiod.istio-system.svc`). */
  serverName?: string;
}

export function openChannel(opts: ChannelOptions): grpc.Client {
  const creds = grpc.credentials.createSsl(Buffer.from(opts.rootCa));
  const options: grpc.ChannelOptions = {
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 5_000,
  };
  if (opts.serverName) {
    options['grpc.ssl_target_name_override'] = opts.serverName;
    options['grpc.default_authority'] = opts.serverName;
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
