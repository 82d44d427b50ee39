/**
 * The one key type the mesh and the lab use (ECDSA P-256 signing with SHA-256, istio-agent's
 * default), made and exported one way for every certificate issuer and requester: the mesh CA,
 * the CA client's CSRs, the lab API server's cluster CA and the echo app's own certificate.
 */
import { createPrivateKey, webcrypto } from 'node:crypto';
import { certificateSerial, pkcs8Pem } from './pem.js';
import { x509 } from './x509.js';

export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
export type KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];

const DAY_MS = 24 * 3600 * 1000;

/** A new, exportable P-256 key pair. */
export async function newKeyPair(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(EC_P256, true, [
    'sign',
    'verify',
  ])) as unknown as KeyPair;
}

/** The private key as a PKCS#8 PEM. */
export async function privateKeyPem(keys: KeyPair): Promise<string> {
  const der = await webcrypto.subtle.exportKey(
    'pkcs8',
    keys.privateKey as unknown as webcrypto.CryptoKey,
  );
  return pkcs8Pem(der);
}

export interface SelfSigned {
  cert: x509.X509Certificate;
  certPem: string;
  keyPem: string;
}

/**
 * A certificate `keys` sign themselves (a CA root, or a server's own), valid from a minute ago
 * (clocks of the lab's processes differ a little) for `days`.
 */
export async function selfSigned(o: {
  keys: KeyPair;
  name: string;
  days: number;
  extensions: x509.Extension[];
}): Promise<SelfSigned> {
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: certificateSerial(),
    name: o.name,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + o.days * DAY_MS),
    keys: o.keys,
    signingAlgorithm: SIGN,
    extensions: o.extensions,
  });
  return { cert, certPem: cert.toString('pem') + '\n', keyPem: await privateKeyPem(o.keys) };
}

type CreateParams = Parameters<typeof x509.X509CertificateGenerator.create>[0];
export type PublicKey = CreateParams['publicKey'];
export type SigningKey = CreateParams extends infer P
  ? P extends { signingKey: infer K }
    ? K
    : never
  : never;
export type SanName = { type: 'url' | 'dns' | 'ip'; value: string };

/**
 * A leaf certificate `issuer` signs for `publicKey`: not a CA, digital signature and key
 * encipherment, the given extended usages, never outliving its issuer. SANs are critical when
 * the subject is empty (RFC 5280 §4.2.1.6), as in SPIFFE X.509-SVIDs.
 */
export async function signLeaf(o: {
  issuer: x509.X509Certificate;
  signingKey: SigningKey;
  publicKey: PublicKey;
  subject: string;
  sans: SanName[];
  usages: x509.ExtendedKeyUsage[];
  ttlSeconds: number;
}): Promise<x509.X509Certificate> {
  const now = Date.now();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension(o.usages),
    await x509.AuthorityKeyIdentifierExtension.create(o.issuer),
  ];
  if (o.sans.length)
    extensions.push(new x509.SubjectAlternativeNameExtension(o.sans, o.subject === ''));
  return x509.X509CertificateGenerator.create({
    serialNumber: certificateSerial(),
    subject: o.subject,
    issuer: o.issuer.subjectName,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(Math.min(now + o.ttlSeconds * 1000, o.issuer.notAfter.getTime())),
    publicKey: o.publicKey,
    signingKey: o.signingKey,
    signingAlgorithm: SIGN,
    extensions,
  });
}

/** A PEM private key (PKCS#8, or SEC1 "EC PRIVATE KEY" as openssl writes it) to sign with. */
export async function importSigningKey(pem: string): Promise<SigningKey> {
  const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  return (await webcrypto.subtle.importKey('pkcs8', der, EC_P256, false, [
    'sign',
  ])) as unknown as SigningKey;
}
