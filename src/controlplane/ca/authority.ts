/**
 * The certificate authority: a P-256 root (10 years) created once and kept in the control
 * plane's state directory (a restart keeps it, so earlier certificates still verify), or an
 * operator-supplied cert/key pair. It signs workload CSRs with exactly one SPIFFE URI SAN and
 * issues the control plane's own serving certificate.
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
  type PublicKey,
  type SanName,
  type SigningKey,
} from '../../identity/keys.js';
import { writeFileAtomic } from '../../identity/pem.js';
import { tryParseSpiffe } from '../../identity/spiffe.js';
import { x509 } from '../../identity/x509.js';

/** Largest CSR accepted: a P-256 CSR with one SAN is under 1 KiB in PEM. */
export const MAX_CSR_PEM_BYTES = 16 * 1024;

export const ROOT_CERT_FILE = 'root-cert.pem';
export const ROOT_KEY_FILE = 'ca-key.pem';

export interface AuthorityOptions {
  /** Directory holding root-cert.pem and ca-key.pem; created with a new root when empty. */
  stateDir?: string;
  /** Operator-supplied root (both or neither). */
  certFile?: string;
  keyFile?: string;
  trustDomain?: string;
  /** Workload certificate lifetime when the request asks for none (default 24 h). */
  defaultTtlSeconds?: number;
  /** Upper bound of a workload certificate's lifetime (default 90 days). */
  maxTtlSeconds?: number;
}

export interface SignedChain {
  identity: string;
  /** PEM, leaf first, root last. */
  chain: string[];
  notAfter: Date;
}

export function badCsr(message: string, value: unknown): AmbitError {
  return new AmbitError('CA_BAD_CSR', message, {
    value,
    hint: 'send a PEM PKCS#10 CSR with a P-256 key and one spiffe://<td>/ns/<ns>/sa/<sa> URI SAN',
  });
}

export class CertificateAuthority {
  readonly trustDomain: string;
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;

  private constructor(
    readonly rootCert: x509.X509Certificate,
    readonly rootPem: string,
    private readonly rootKey: SigningKey,
    opts: AuthorityOptions,
  ) {
    this.trustDomain = opts.trustDomain ?? 'cluster.local';
    this.defaultTtlSeconds = opts.defaultTtlSeconds ?? 24 * 3600;
    this.maxTtlSeconds = opts.maxTtlSeconds ?? 90 * 24 * 3600;
  }

  /** Loads the operator's root, or the one in stateDir, or creates and stores a new one. */
  static async open(opts: AuthorityOptions): Promise<CertificateAuthority> {
    let certPem: string;
    let keyPem: string;
    if (opts.certFile || opts.keyFile) {
      if (!opts.certFile || !opts.keyFile)
        throw new AmbitError('CA_BAD_CONFIG', 'give both --ca-cert and --ca-key, or neither', {
          value: { cert: opts.certFile, key: opts.keyFile },
        });
      certPem = readFileSync(opts.certFile, 'utf8');
      keyPem = readFileSync(opts.keyFile, 'utf8');
    } else if (opts.stateDir) {
      const certPath = join(opts.stateDir, ROOT_CERT_FILE);
      const keyPath = join(opts.stateDir, ROOT_KEY_FILE);
      if (existsSync(certPath) && existsSync(keyPath)) {
        certPem = readFileSync(certPath, 'utf8');
        keyPem = readFileSync(keyPath, 'utf8');
      } else {
        ({ certPem, keyPem } = await createRoot(opts.trustDomain ?? 'cluster.local'));
        mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
        writeFileAtomic(keyPath, keyPem, 0o600);
        writeFileAtomic(certPath, certPem, 0o644);
      }
    } else {
      throw new AmbitError('CA_BAD_CONFIG', 'the CA needs a state directory or a cert/key pair', {
        hint: 'pass --state-dir or --ca-cert/--ca-key',
      });
    }
    let cert: x509.X509Certificate;
    let key: SigningKey;
    try {
      cert = new x509.X509Certificate(certPem);
      key = await importSigningKey(keyPem);
    } catch (err) {
      throw new AmbitError('CA_BAD_ROOT', `cannot load the root CA: ${(err as Error).message}`, {
        value: opts.certFile ?? opts.stateDir,
        hint: 'the root must be a PEM certificate with a P-256 PKCS#8 or SEC1 key',
        cause: err,
      });
    }
    return new CertificateAuthority(cert, cert.toString('pem') + '\n', key, opts);
  }

  private issue(publicKey: PublicKey, sans: SanName[], ttlSeconds: number) {
    return signLeaf({
      issuer: this.rootCert,
      signingKey: this.rootKey,
      publicKey,
      subject: '',
      sans,
      usages: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
      ttlSeconds,
    });
  }

  /**
   * Signs a workload CSR. With `identity` (impersonation), the CSR may carry no other URI SAN;
   * without it, the CSR's single URI SAN is the identity. Throws CA_BAD_CSR for anything else.
   */
  async signCsr(csrPem: string, identity?: string, ttlSeconds?: number): Promise<SignedChain> {
    if (typeof csrPem !== 'string' || csrPem.length > MAX_CSR_PEM_BYTES)
      throw badCsr(
        `the CSR is ${typeof csrPem === 'string' ? csrPem.length : typeof csrPem} bytes; at most ${MAX_CSR_PEM_BYTES} are accepted`,
        typeof csrPem === 'string' ? csrPem.length : typeof csrPem,
      );
    const { csr, uris, others } = await readCsr(csrPem);
    if (others.length)
      throw badCsr(
        `the CSR carries non-URI SANs (${others.map((o) => o.value).join(', ')})`,
        others,
      );
    const id = identity ?? uris[0];
    if (!id || (identity === undefined && uris.length !== 1))
      throw badCsr(`the CSR must carry exactly one URI SAN; it has ${uris.length}`, uris);
    if (uris.some((u) => u !== id))
      throw badCsr(`the CSR's URI SANs ${JSON.stringify(uris)} differ from ${id}`, uris);
    const parsed = tryParseSpiffe(id);
    if (!parsed) throw badCsr(`malformed SPIFFE identity ${JSON.stringify(id)}`, id);
    if (parsed.trustDomain !== this.trustDomain)
      throw badCsr(`trust domain ${parsed.trustDomain} is not ${this.trustDomain}`, id);
    // As istiod (security/pkg/server/ca): a TTL ≤ 0 means the default; above the maximum is
    // an error, not silently shortened (reference security-matrix.md #66).
    const ttl = ttlSeconds && ttlSeconds > 0 ? ttlSeconds : this.defaultTtlSeconds;
    if (ttl > this.maxTtlSeconds)
      throw new AmbitError(
        'CA_TTL',
        `requested TTL ${ttl}s is greater than the max allowed TTL ${this.maxTtlSeconds}s`,
        { value: ttl, hint: 'ask for a shorter validity_duration (or none for the default)' },
      );
    const leaf = await this.issue(csr.publicKey, [{ type: 'url', value: id }], ttl);
    return {
      identity: id,
      chain: [leaf.toString('pem') + '\n', this.rootPem],
      notAfter: leaf.notAfter,
    };
  }

  /** A key and serving certificate for the given DNS names and IPs (the control plane's own). */
  async issueServing(
    names: string[],
    ttlSeconds = 365 * 24 * 3600,
  ): Promise<{ keyPem: string; certPem: string }> {
    const keys = await newKeyPair();
    const sans = names.map((n) => ({
      type: isIP(n) ? ('ip' as const) : ('dns' as const),
      value: n,
    }));
    const cert = await this.issue(keys.publicKey, sans, ttlSeconds);
    return {
      keyPem: await privateKeyPem(keys),
      certPem: cert.toString('pem') + '\n' + this.rootPem,
    };
  }
}

type Named = { type: string; value: string };

/**
 * Parses and verifies a PEM CSR: a P-256 key, a signature that verifies, its SANs. Every
 * failure of the ASN.1 decoders on hostile bytes becomes CA_BAD_CSR (the caller is answered,
 * the CA keeps serving).
 */
async function readCsr(
  csrPem: string,
): Promise<{ csr: x509.Pkcs10CertificateRequest; uris: string[]; others: Named[] }> {
  const head = csrPem.slice(0, 80);
  let csr: x509.Pkcs10CertificateRequest;
  let alg: { name?: string; namedCurve?: string };
  let names: readonly Named[];
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
    alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
    const raw = csr.getExtension('2.5.29.17');
    names = raw ? new x509.SubjectAlternativeNameExtension(raw.rawData).names.items : [];
  } catch (err) {
    throw badCsr(`unparseable CSR: ${(err as Error).message}`, head);
  }
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256')
    throw badCsr(
      `the CSR key is ${alg.name ?? '?'} ${alg.namedCurve ?? ''}; want ECDSA P-256`,
      alg,
    );
  if (!(await csr.verify().catch(() => false)))
    throw badCsr('the CSR signature does not verify', head);
  return {
    csr,
    uris: names.filter((n) => n.type === 'url').map((n) => n.value),
    others: names.filter((n) => n.type !== 'url'),
  };
}

async function createRoot(trustDomain: string): Promise<{ certPem: string; keyPem: string }> {
  const keys = await newKeyPair();
  return selfSigned({
    keys,
    name: `O=${trustDomain}, CN=ambit root CA`,
    days: 10 * 365,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign |
          x509.KeyUsageFlags.cRLSign |
          x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
}
