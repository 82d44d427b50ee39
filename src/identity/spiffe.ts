/**
 * SPIFFE identities as ztunnel uses them: exactly `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`,
 * carried as URI SANs in workload certificates.
 */
import type { X509Certificate } from 'node:crypto';
import { AmbitError } from '../errors.js';

export interface SpiffeId {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

const SPIFFE_RE = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/;

/** Parses a SPIFFE URI; anything but the five-segment form is rejected, as in ztunnel. */
export function parseSpiffe(uri: string): SpiffeId {
  const m = SPIFFE_RE.exec(uri);
  if (!m || !m[1] || !m[2] || !m[3])
    throw new AmbitError('SPIFFE_INVALID', `invalid SPIFFE identity ${JSON.stringify(uri)}`, {
      value: uri,
      hint: 'expected spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>',
    });
  return { trustDomain: m[1], namespace: m[2], serviceAccount: m[3] };
}

/** Like parseSpiffe, undefined instead of an error. */
export function tryParseSpiffe(uri: string): SpiffeId | undefined {
  const m = SPIFFE_RE.exec(uri);
  if (!m || !m[1] || !m[2] || !m[3]) return undefined;
  return { trustDomain: m[1], namespace: m[2], serviceAccount: m[3] };
}

export function formatSpiffe(id: SpiffeId): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/**
 * The `URI:` entries of an OpenSSL-style subjectAltName string
 * (`URI:spiffe://a/ns/b/sa/c, DNS:x`). Entries containing `, ` or quotes are printed by Node
 * as JSON strings (`URI:"..."`), which we decode.
 */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const out: string[] = [];
  // Node quotes a value as a JSON string when it holds separators; match either form.
  const re = /(?:^|, )URI:("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (let m = re.exec(subjectAltName); m; m = re.exec(subjectAltName)) {
    const raw = m[1] ?? '';
    if (raw.startsWith('"')) {
      try {
        out.push(JSON.parse(raw) as string);
      } catch {
        // A malformed quoted entry cannot be a valid SPIFFE ID; skip it.
      }
    } else out.push(raw);
  }
  return out;
}

/** The SPIFFE identities in a certificate's URI SANs (non-SPIFFE URIs are ignored). */
export function spiffeIdsOf(cert: X509Certificate | undefined): string[] {
  if (!cert) return [];
  return uriSans(cert.subjectAltName).filter((u) => tryParseSpiffe(u) !== undefined);
}
