/**
 * TLS settings shared by the HBONE client and server: TLS 1.3 only, ALPN h2, the AES-GCM
 * suites ztunnel offers, and SecureContexts cached per certificate (building one is costly:
 * nodejs/node#43128), so a connection never pays for parsing PEM again.
 */
import tls from 'node:tls';

export const ALPN_H2 = ['h2'];
export const TLS_MIN_VERSION: tls.SecureVersion = 'TLSv1.3';
/** ztunnel (rustls/aws-lc) offers these two; AES-128 first: cheaper and as strong for our use. */
export const TLS13_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384';

/** A workload certificate as the identity manager hands it out. */
export interface CertMaterial {
  keyPem: string;
  /** Leaf first. */
  certChainPem: string[];
  rootPem: string;
}

/** createSecureContext options for a workload certificate; the root is the only trust anchor. */
export function secureContextOptions(cert: CertMaterial): tls.SecureContextOptions {
  return {
    key: cert.keyPem,
    cert: cert.certChainPem.join('\n'),
    ca: cert.rootPem,
    minVersion: TLS_MIN_VERSION,
    maxVersion: TLS_MIN_VERSION,
    ciphers: TLS13_CIPHERS,
  };
}

/**
 * A value derived from a certificate (a SecureContext, a tls.Server), cached per certificate
 * object (the identity manager returns the same object until it rotates) and, as a fallback,
 * per leaf PEM, bounded so rotated certificates age out.
 */
export class CertKeyedCache<T> {
  private readonly byObject = new WeakMap<CertMaterial, T>();
  private readonly byLeaf = new Map<string, T>();

  constructor(
    private readonly build: (cert: CertMaterial) => T,
    private readonly maxEntries = 1024,
  ) {}

  get(cert: CertMaterial): T {
    let v = this.byObject.get(cert);
    if (v !== undefined) return v;
    const leafKey = `${cert.certChainPem[0] ?? ''}\0${cert.rootPem}`;
    v = this.byLeaf.get(leafKey);
    if (v === undefined) {
      v = this.build(cert);
      if (this.byLeaf.size >= this.maxEntries) {
        const oldest = this.byLeaf.keys().next();
        if (!oldest.done) this.byLeaf.delete(oldest.value);
      }
      this.byLeaf.set(leafKey, v);
    }
    this.byObject.set(cert, v);
    return v;
  }
}

export class SecureContextCache extends CertKeyedCache<tls.SecureContext> {
  constructor(maxEntries = 1024) {
    super((cert) => tls.createSecureContext(secureContextOptions(cert)), maxEntries);
  }
}
