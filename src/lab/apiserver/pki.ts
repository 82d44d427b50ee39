/**
 * The lab cluster's PKI, as kubeadm lays it out: a cluster CA (P-256, 10 years) created once
 * in `<state>/pki/` (ca.crt, ca.key), the API server's serving certificate for its addresses
 * and the `kubernetes.default.svc` names (reissued at every start, so a new address is always
 * covered), and client certificates whose subject is the identity (CN = user, O = groups), as
 * the API server's x509 authenticator reads them. This CA is the cluster's, not the mesh's:
 * istiod's CA (src/controlplane/ca/) signs workload identities and never sees this key.
 */
import { createPrivateKey, webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { AmbitError } from '../../errors.js';
import { pkcs8Pem, writeFileAtomic, certificateSerial } from '../../identity/pem.js';
import { x509 } from '../../xds/x509.js';

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
type KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
type SigningKey = Parameters<typeof x509.X509CertificateGenerator.create>[0] extends infer P
  ? P extends { signingKey: infer K }
    ? K
    : never
  : never;

/** The names every API server certificate carries (what in-cluster clients dial). */
export const kubernetesServiceNames = [
  'kubernetes',
  'kubernetes.default',
  'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local',
  'localhost',
];

export interface CertPair {
  certPem: string;
  keyPem: string;
}

async function newKeys(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as KeyPair;
}

async function exportKey(keys: KeyPair): Promise<string> {
  const der = await webcrypto.subtle.exportKey(
    'pkcs8',
    keys.privateKey as unknown as webcrypto.CryptoKey,
  );
  return pkcs8Pem(der);
}

/** An RFC 4514 name with escaping of the characters that would end an attribute. */
function dn(cn: string, orgs: string[]): string {
  const esc = (v: string): string => v.replace(/([,+"\\<>;=])/g, '\\$1');
  return [...orgs.map((o) => `O=${esc(o)}`), `CN=${esc(cn)}`].join(', ');
}

export class LabPki {
  private constructor(
    readonly dir: string,
    readonly caCert: x509.X509Certificate,
    readonly caPem: string,
    private readonly caKey: SigningKey,
  ) {}

  get caFile(): string {
    return join(this.dir, 'ca.crt');
  }

  /** Loads `<dir>/ca.{crt,key}`, or creates and stores a new cluster CA. */
  static async open(dir: string): Promise<LabPki> {
    const certPath = join(dir, 'ca.crt');
    const keyPath = join(dir, 'ca.key');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!existsSync(certPath) || !existsSync(keyPath)) {
      const keys = await newKeys();
      const now = Date.now();
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: certificateSerial(),
        name: 'CN=kubernetes',
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 10 * 365 * 24 * 3600_000),
        keys,
        signingAlgorithm: SIGN,
        extensions: [
          new x509.BasicConstraintsExtension(true, undefined, true),
          new x509.KeyUsagesExtension(
            x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature,
            true,
          ),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      writeFileAtomic(keyPath, await exportKey(keys), 0o600);
      writeFileAtomic(certPath, cert.toString('pem') + '\n', 0o644);
    }
    try {
      const cert = new x509.X509Certificate(readFileSync(certPath, 'utf8'));
      const der = createPrivateKey(readFileSync(keyPath, 'utf8')).export({
        type: 'pkcs8',
        format: 'der',
      });
      const key = (await webcrypto.subtle.importKey('pkcs8', der, EC_P256, false, [
        'sign',
      ])) as SigningKey;
      return new LabPki(dir, cert, cert.toString('pem') + '\n', key);
    } catch (err) {
      throw new AmbitError('APISERVER_PKI', `cannot load the cluster CA in ${dir}`, {
        value: certPath,
        hint: 'remove ca.crt and ca.key to create a new CA (every kubeconfig must then be rewritten)',
        cause: err,
      });
    }
  }

  private async issue(
    subject: string,
    usage: 'server' | 'client',
    sans: { type: 'dns' | 'ip'; value: string }[],
    ttlSeconds: number,
  ): Promise<CertPair> {
    const keys = await newKeys();
    const now = Date.now();
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([
        usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(this.caCert),
    ];
    if (sans.length) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: certificateSerial(),
      subject,
      issuer: this.caCert.subjectName,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(Math.min(now + ttlSeconds * 1000, this.caCert.notAfter.getTime())),
      publicKey: keys.publicKey,
      signingKey: this.caKey,
      signingAlgorithm: SIGN,
      extensions,
    });
    return { certPem: cert.toString('pem') + '\n', keyPem: await exportKey(keys) };
  }

  /** The API server's serving certificate for `names` (DNS names and IPs), one year. */
  serving(names: string[]): Promise<CertPair> {
    const sans = [...new Set(names)].map((n) => ({
      type: isIP(n) ? ('ip' as const) : ('dns' as const),
      value: n,
    }));
    return this.issue('CN=kube-apiserver', 'server', sans, 365 * 24 * 3600);
  }

  /** A client certificate for user `cn` in groups `orgs` (one year). */
  client(cn: string, orgs: string[] = []): Promise<CertPair> {
    return this.issue(dn(cn, orgs), 'client', [], 365 * 24 * 3600);
  }

  /** Writes `<dir>/<name>.crt|.key` (the key readable by root only). */
  store(name: string, pair: CertPair): { certFile: string; keyFile: string } {
    const certFile = join(this.dir, `${name}.crt`);
    const keyFile = join(this.dir, `${name}.key`);
    writeFileAtomic(keyFile, pair.keyPem, 0o600);
    writeFileAtomic(certFile, pair.certPem, 0o644);
    return { certFile, keyFile };
  }
}
