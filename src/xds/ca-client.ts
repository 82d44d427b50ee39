/**
 * The CA client (what ztunnel runs per identity): generates a P-256 key that never leaves this
 * process, a CSR whose only name is the SPIFFE URI SAN (no CN, as ztunnel does), and calls
 * istio.v1.auth.IstioCertificateService/CreateCertificate with `ImpersonatedIdentity` metadata.
 * The returned leaf must carry exactly the requested identity.
 */
import * as grpc from '@grpc/grpc-js';
import { parseSpiffeId } from '../api/workload.js';
import { AmbitError } from '../errors.js';
import { bearerMetadata, openChannel } from './transport.js';
import { newKeyPair, privateKeyPem, SIGN, type KeyPair } from '../identity/keys.js';
import { x509 } from '../identity/x509.js';
import type { CertificateRequest, IssuedCertificate } from './types.js';
import {
  CA_PATH,
  IMPERSONATED_IDENTITY,
  decodeCertResponse,
  encodeCertRequest,
  type CertRequest,
  type CertResponse,
} from './wire.js';

export interface CertificateRequestOptions extends CertificateRequest {
  /** TLS name to verify when `address` is an IP (default: the address's host). */
  serverName?: string;
  /**
   * Ask on behalf of a workload (ztunnel's shared mode, the default). false = ask for the
   * caller's own identity, authenticated by that identity's token.
   */
  impersonate?: boolean;
  timeoutMs?: number;
}

/** A P-256 key pair and a PEM CSR carrying only the URI SAN `identity`. */
export async function createCsr(
  identity: string,
): Promise<{ keys: KeyPair; keyPem: string; csrPem: string }> {
  const keys = await newKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: SIGN,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: identity }])],
  });
  const keyPem = await privateKeyPem(keys);
  return { keys, keyPem, csrPem: csr.toString('pem') };
}

/** The URI SANs of a PEM certificate. */
export function uriSans(cert: x509.X509Certificate): string[] {
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return ext ? ext.names.items.filter((n) => n.type === 'url').map((n) => n.value) : [];
}

/** Splits a PEM bundle into its certificates. */
export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function callCa(opts: CertificateRequestOptions, req: CertRequest): Promise<CertResponse> {
  const client = openChannel(opts);
  const md = bearerMetadata(opts.tokenFile);
  const deadline = new Date(Date.now() + (opts.timeoutMs ?? 10_000));
  return new Promise<CertResponse>((resolve, reject) => {
    client.makeUnaryRequest<CertRequest, CertResponse>(
      CA_PATH,
      encodeCertRequest,
      decodeCertResponse,
      req,
      md,
      { deadline },
      (err, res) => {
        client.close();
        if (err || !res) {
          const e = err as grpc.ServiceError | null;
          reject(
            new AmbitError(
              'CA_REQUEST_FAILED',
              `the CA refused ${opts.identity}: ${e?.details ?? 'no response'}`,
              {
                value: opts.identity,
                hint: e ? `gRPC status ${grpc.status[e.code]}` : undefined,
                cause: err,
              },
            ),
          );
          return;
        }
        resolve(res);
      },
    );
  });
}

/** Generates a key and CSR for `req.identity` and has the CA sign it. */
export async function requestCertificate(
  req: CertificateRequest | CertificateRequestOptions,
): Promise<IssuedCertificate> {
  const opts = req as CertificateRequestOptions;
  if (!parseSpiffeId(opts.identity))
    throw new AmbitError('CA_BAD_IDENTITY', `not a SPIFFE identity: ${opts.identity}`, {
      value: opts.identity,
      hint: 'use spiffe://<trust domain>/ns/<namespace>/sa/<service account>',
    });
  const { keyPem, csrPem } = await createCsr(opts.identity);
  const metadata: Record<string, string> = {};
  if (opts.impersonate !== false) metadata[IMPERSONATED_IDENTITY] = opts.identity;
  const res = await callCa(opts, {
    csr: csrPem,
    validityDuration: opts.ttlSeconds ?? 24 * 3600,
    metadata,
  });
  const chain = res.certChain.flatMap(splitPem);
  const leafPem = chain[0];
  if (!leafPem)
    throw new AmbitError('CA_BAD_RESPONSE', `the CA returned no certificate for ${opts.identity}`, {
      value: opts.identity,
    });
  const leaf = new x509.X509Certificate(leafPem);
  const sans = uriSans(leaf);
  if (sans.length !== 1 || sans[0] !== opts.identity)
    throw new AmbitError(
      'CA_SAN_MISMATCH',
      `the CA issued ${JSON.stringify(sans)} instead of ${opts.identity}`,
      { value: sans },
    );
  return {
    identity: opts.identity,
    keyPem,
    certChainPem: chain,
    rootPem: splitPem(opts.rootCa)[0] ?? chain[chain.length - 1]!,
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
  };
}
