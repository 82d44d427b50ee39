/**
 * The control plane's TLS gRPC server (port 15012): delta ADS and the certificate service on
 * one listener, served with a certificate from our own CA.
 */
import * as grpc from '@grpc/grpc-js';
import { AmbitError } from '../../errors.js';
import { adsService, caService, type CertRequest, type CertResponse } from '../../xds/wire.js';
import type { AdsServer } from './ads.js';

export interface GrpcServerOptions {
  host: string;
  port: number;
  keyPem: string;
  certPem: string;
  ads: AdsServer;
  createCertificate: grpc.handleUnaryCall<CertRequest, CertResponse>;
}

export interface RunningGrpcServer {
  port: number;
  close(): Promise<void>;
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<RunningGrpcServer> {
  const server = new grpc.Server({
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
  });
  server.addService(adsService, { DeltaAggregatedResources: opts.ads.handler });
  server.addService(caService, { CreateCertificate: opts.createCertificate });
  const creds = grpc.ServerCredentials.createSsl(
    null,
    [{ private_key: Buffer.from(opts.keyPem), cert_chain: Buffer.from(opts.certPem) }],
    false,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${opts.host}:${opts.port}`, creds, (err, p) =>
      err
        ? reject(
            new AmbitError('CP_LISTEN_FAILED', `cannot listen on ${opts.host}:${opts.port}`, {
              value: `${opts.host}:${opts.port}`,
              hint: 'is another control plane running?',
              cause: err,
            }),
          )
        : resolve(p),
    ),
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}
