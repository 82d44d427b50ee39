/**
 * The echo app's TLS key pair: the files named by `--crt` / `--key` when they exist, else a
 * self-signed P-256 certificate made at start-up (Istio's echo image bakes a self-signed one in,
 * docs/istio/gamma-conformance.md §2; nothing in the mesh tests verifies it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { x509 } from '../../xds/x509.js';

export interface TlsPair {
  cert: string;
  key: string;
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
type KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];

export async function echoTlsPair(hostname: string, crt?: string, key?: string): Promise<TlsPair> {
  if (crt && key && existsSync(crt) && existsSync(key)) {
    return { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
  }
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, [
    'sign',
    'verify',
  ])) as unknown as KeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: now.toString(16),
    name: `CN=${hostname}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * 24 * 3600 * 1000),
    keys,
    signingAlgorithm: SIGN,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: hostname }])],
  });
  const der = await webcrypto.subtle.exportKey(
    'pkcs8',
    keys.privateKey as unknown as webcrypto.CryptoKey,
  );
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trim();
  return {
    cert: cert.toString('pem') + '\n',
    key: `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`,
  };
}
