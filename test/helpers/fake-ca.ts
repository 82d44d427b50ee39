/**
 * A real certificate authority for tests (P-256, @peculiar/x509): issues SPIFFE workload
 * certificates shaped like istiod's (no subject, critical URI SAN, server+client auth), so the
 * HBONE and identity code is exercised against real X.509 validation by OpenSSL.
 */
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { IssuedCertificate } from '../../src/xds/types.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIG = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** Knobs for negative tests: certificates istiod would never issue. */
export interface IssueOptions {
  notBefore?: Date;
  /** More URI SANs after `identity`. */
  extraUris?: string[];
  /** basicConstraints CA:TRUE on the leaf. */
  ca?: boolean;
}

export interface FakeCa {
  trustDomain: string;
  rootPem: string;
  /**
   * Issues a certificate for `identity` (any URI; normally spiffe://...). `ttlMs` is the
   * validity from `notBefore` (default: now - 1 s, to tolerate clock granularity).
   */
  issue(identity: string, ttlMs?: number, opts?: IssueOptions): Promise<IssuedCertificate>;
  /** How many certificates this CA issued (tests assert on refreshes). */
  issued(): number;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

function serial(): string {
  // Positive, non-zero, 16 bytes: what real CAs do.
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 0) & 0x7f) | 0x01;
  return b.toString('hex');
}

async function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
}

/** A CA with a self-signed P-256 root `O=<trustDomain>`. */
export async function createFakeCa(trustDomain = 'cluster.local'): Promise<FakeCa> {
  const rootKeys = await newKeys();
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `O=${trustDomain},CN=ambit test root ${randomBytes(3).toString('hex')}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 10 * 365 * 86_400_000),
    keys: rootKeys,
    signingAlgorithm: SIG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const rootPem = root.toString('pem') + '\n';
  let count = 0;

  return {
    trustDomain,
    rootPem,
    issued: () => count,
    async issue(identity, ttlMs = 3_600_000, opts = {}) {
      const keys = await newKeys();
      const notBefore = opts.notBefore ?? new Date(Date.now() - 1000);
      const notAfter = new Date(notBefore.getTime() + ttlMs);
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: '',
        issuer: root.subject,
        notBefore,
        notAfter,
        publicKey: keys.publicKey,
        signingKey: rootKeys.privateKey,
        signingAlgorithm: SIG,
        extensions: [
          new x509.BasicConstraintsExtension(opts.ca === true, undefined, true),
          new x509.KeyUsagesExtension(
            x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
            true,
          ),
          new x509.ExtendedKeyUsageExtension([
            x509.ExtendedKeyUsage.serverAuth,
            x509.ExtendedKeyUsage.clientAuth,
          ]),
          await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
          // istiod marks the SAN critical because the subject is empty (RFC 5280 4.2.1.6).
          new x509.SubjectAlternativeNameExtension(
            [identity, ...(opts.extraUris ?? [])].map((value) => ({ type: 'url' as const, value })),
            true,
          ),
        ],
      });
      count++;
      const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
      return {
        identity,
        keyPem: pem('PRIVATE KEY', pkcs8),
        certChainPem: [leaf.toString('pem') + '\n'],
        rootPem,
        notBefore: leaf.notBefore,
        notAfter: leaf.notAfter,
      };
    },
  };
}

/**
 * The usual test PKI: `ca` for the mesh (cluster.local), `otherCa` unrelated to it (same trust
 * domain name, different root), for negative tests. A cert of another trust domain signed by
 * the mesh root is `ca.issue('spiffe://other.example/ns/x/sa/y')`.
 */
export async function createTestPki(): Promise<{ ca: FakeCa; otherCa: FakeCa }> {
  const [ca, otherCa] = await Promise.all([createFakeCa(), createFakeCa()]);
  return { ca, otherCa };
}

export function spiffe(ns: string, sa: string, trustDomain = 'cluster.local'): string {
  return `spiffe://${trustDomain}/ns/${ns}/sa/${sa}`;
}
