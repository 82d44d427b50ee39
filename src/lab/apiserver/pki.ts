/**
 * The lab cluster's PKI, as kubeadm lays it out: a cluster CA (P-256, 10 years) created once
 * in `<state>/pki/` (ca.crt, ca.key), the API server's serving certificate for its addresses
 * and the `kubernetes.default.svc` names (reissued at every start, so a new address is always
 * covered), and client certificates whose subject is the identity (CN = user, O = groups), as
 * the API server's x509 authenticator reads them. This CA is the cluster's, not the mesh's:
 * istiod's CA (src/controlplane/ca/) signs workload identities and never sees this key.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { AmbitError } from '../../errors.js';
import {
  importSigningKey,
  newKeyPair,
  privateKeyPem,
  selfSigned,
  signLeaf,
  type SigningKey,
} from '../../identity/keys.js';
import { writeFileAtomic } from '../../identity/pem.js';
import { x509 } from '../../identity/x509.js';

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
      const keys = await newKeyPair();
      const ca = await selfSigned({
        keys,
        name: 'CN=kubernetes',
        days: 10 * 365,
        extensions: [
          new x509.BasicConstraintsExtension(true, undefined, true),
          new x509.KeyUsagesExtension(
            x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature,
            true,
          ),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      writeFileAtomic(keyPath, ca.keyPem, 0o600);
      writeFileAtomic(certPath, ca.certPem, 0o644);
    }
    try {
      const cert = new x509.X509Certificate(readFileSync(certPath, 'utf8'));
      const key = await importSigningKey(readFileSync(keyPath, 'utf8'));
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
    const keys = await newKeyPair();
    const cert = await signLeaf({
      issuer: this.caCert,
      signingKey: this.caKey,
      publicKey: keys.publicKey,
      subject,
      sans,
      usages: [
        usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
      ],
      ttlSeconds,
    });
    return { certPem: cert.toString('pem') + '\n', keyPem: await privateKeyPem(keys) };
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
