/**
 * An ingress Gateway's HTTPS listener (`tls.mode: Terminate`): its `certificateRefs` resolved to
 * `kubernetes.io/tls` Secrets, as Gateway API defines it. A reference that cannot be used makes
 * the listener's `ResolvedRefs` False: `InvalidCertificateRef` (no such Secret, not a Secret, no
 * or unparsable `tls.crt`/`tls.key`, a key that is not the certificate's) or `RefNotPermitted`
 * (another namespace: ReferenceGrants are not read). Such a listener is left out of the
 * gateway's config (never served with a wrong certificate). Pure.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { Secret } from '../../k8s/types.js';
import type { Gateway, GatewayListener } from '../model/types.js';

export interface CertificateProblem {
  reason: 'InvalidCertificateRef' | 'RefNotPermitted';
  message: string;
}

export type ListenerCertificates =
  { certificates: { certPem: string; keyPem: string }[] } | { problem: CertificateProblem };

const decode = (v: string | undefined) =>
  v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');

/** `namespace/name` → Secret. */
export function secretIndex(secrets: readonly Secret[] | undefined): Map<string, Secret> {
  return new Map(
    (secrets ?? []).map((s) => [`${s.metadata.namespace ?? 'default'}/${s.metadata.name}`, s]),
  );
}

export function listenerCertificates(
  gw: Gateway,
  l: GatewayListener,
  secrets: ReadonlyMap<string, Secret>,
): ListenerCertificates {
  const ns = gw.metadata.namespace ?? 'default';
  const refs = l.tls?.certificateRefs ?? [];
  const invalid = (message: string): ListenerCertificates => ({
    problem: { reason: 'InvalidCertificateRef', message },
  });
  if (refs.length === 0) return invalid('an HTTPS listener needs tls.certificateRefs');
  const certificates: { certPem: string; keyPem: string }[] = [];
  for (const ref of refs) {
    const what = `certificateRef ${ref.namespace ?? ns}/${ref.name}`;
    if ((ref.group ?? '') !== '' || (ref.kind ?? 'Secret') !== 'Secret')
      return invalid(
        `${what}: kind ${ref.group ? ref.group + '/' : ''}${ref.kind} is not a Secret`,
      );
    if ((ref.namespace ?? ns) !== ns)
      return {
        problem: {
          reason: 'RefNotPermitted',
          message: `${what}: a Secret in another namespace is not permitted (no ReferenceGrant support)`,
        },
      };
    const s = secrets.get(`${ns}/${ref.name}`);
    if (!s) return invalid(`${what}: Secret not found`);
    const certPem = decode(s.data?.['tls.crt']);
    const keyPem = decode(s.data?.['tls.key']);
    if (!certPem || !keyPem) return invalid(`${what}: the Secret has no tls.crt and tls.key`);
    try {
      const cert = new X509Certificate(certPem);
      const key = createPrivateKey(keyPem);
      if (!cert.checkPrivateKey(key))
        return invalid(`${what}: tls.key is not the private key of tls.crt`);
    } catch (err) {
      return invalid(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
    certificates.push({ certPem, keyPem });
  }
  return { certificates };
}
