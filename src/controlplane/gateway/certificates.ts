/**
 * An ingress Gateway's HTTPS listener (`tls.mode: Terminate`): its `certificateRefs` resolved to
 * `kubernetes.io/tls` Secrets, as Gateway API defines it. A reference that cannot be used makes
 * the listener's `ResolvedRefs` False: `InvalidCertificateRef` (no such Secret, not a Secret, no
 * or unparsable `tls.crt`/`tls.key`, a key that is not the certificate's) or `RefNotPermitted`
 * (a Secret in another namespace that no ReferenceGrant there lets Gateways of this namespace
 * use: reference-grants.ts). Such a listener is left out of the gateway's config (never served
 * with a wrong certificate). Pure.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { Secret } from '../../k8s/types.js';
import type { Gateway, GatewayListener } from '../model/types.js';
import { GATEWAY_GROUP, notPermitted, type ReferenceGrants } from './reference-grants.js';

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
  grants?: ReferenceGrants,
): ListenerCertificates {
  const ns = gw.metadata.namespace ?? 'default';
  const refs = l.tls?.certificateRefs ?? [];
  const invalid = (message: string): ListenerCertificates => ({
    problem: { reason: 'InvalidCertificateRef', message },
  });
  if (refs.length === 0) return invalid('an HTTPS listener needs tls.certificateRefs');
  const certificates: { certPem: string; keyPem: string }[] = [];
  for (const ref of refs) {
    const secretNs = ref.namespace ?? ns;
    const what = `certificateRef ${secretNs}/${ref.name}`;
    if ((ref.group ?? '') !== '' || (ref.kind ?? 'Secret') !== 'Secret')
      return invalid(
        `${what}: kind ${ref.group ? ref.group + '/' : ''}${ref.kind} is not a Secret`,
      );
    const from = { group: GATEWAY_GROUP, kind: 'Gateway', namespace: ns };
    const to = { group: '', kind: 'Secret', namespace: secretNs, name: ref.name };
    if (secretNs !== ns && !grants?.permits(from, to))
      return {
        problem: { reason: 'RefNotPermitted', message: `${what}: ${notPermitted(from, to)}` },
      };
    const s = secrets.get(`${secretNs}/${ref.name}`);
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
