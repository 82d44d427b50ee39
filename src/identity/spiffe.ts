/**
 * SPIFFE identities as ztunnel uses them: exactly `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`,
 * carried as URI SANs in workload certificates.
 */
import type { X509Certificate } from 'node:crypto';
import { AmbitError } from '../errors.js';
import { x509 } from './x509.js';

export interface SpiffeId {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

/**
 * The SPIFFE ID standard's characters: a lowercase trust domain of letters, digits, `.`, `-`,
 * `_`; path segments of letters, digits, `.`, `-`, `_`, never `.` or `..`. Anything else (a NUL
 * or control byte, `%00`, spaces, non-ASCII, uppercase scheme) is refused, never truncated
 * (reference security-matrix.md #6: Envoy CVE-2025-66220, CVE-2026-47778).
 */
const SPIFFE_RE = /^spiffe:\/\/([a-z0-9._-]+)\/ns\/([A-Za-z0-9._-]+)\/sa\/([A-Za-z0-9._-]+)$/;
const DOTS = new Set(['.', '..']);

function match(uri: string): SpiffeId | undefined {
  const m = typeof uri === 'string' ? SPIFFE_RE.exec(uri) : null;
  if (!m || !m[1] || !m[2] || !m[3] || DOTS.has(m[2]) || DOTS.has(m[3])) return undefined;
  return { trustDomain: m[1], namespace: m[2], serviceAccount: m[3] };
}

/** Parses a SPIFFE URI; anything but the five-segment form is rejected, as in ztunnel. */
export function parseSpiffe(uri: string): SpiffeId {
  const id = match(uri);
  if (!id)
    throw new AmbitError('SPIFFE_INVALID', `invalid SPIFFE identity ${JSON.stringify(uri)}`, {
      value: uri,
      hint: 'expected spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>',
    });
  return id;
}

/** Like parseSpiffe, undefined instead of an error. */
export function tryParseSpiffe(uri: string): SpiffeId | undefined {
  return match(uri);
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

/**
 * The identity of a peer's leaf certificate as ztunnel accepts it: an end-entity certificate
 * (not CA:TRUE) with exactly one URI SAN, a SPIFFE ID — in `trustDomain` when given. A second URI
 * SAN would make "which identity is this" ambiguous (Istio authorizes on the one identity); a CA
 * certificate presented as a leaf could mint others. Returns the identity or why it is refused.
 */
export function leafIdentity(
  leaf: { subjectaltname?: string; subjectAltName?: string; ca: boolean; raw: Buffer } | undefined,
  trustDomain?: string,
): { identity: string } | { refused: string } {
  if (!leaf) return { refused: 'no certificate' };
  if (leaf.ca || basicConstraintsCa(leaf.raw))
    return { refused: 'the leaf certificate is a CA (basicConstraints CA:TRUE)' };
  const sans = uriSans(leaf.subjectAltName ?? leaf.subjectaltname);
  if (sans.length !== 1)
    return { refused: `the leaf has ${sans.length} URI SANs [${sans.join(', ')}], not exactly 1` };
  const uri = sans[0]!;
  const id = tryParseSpiffe(uri);
  if (!id) return { refused: `URI SAN ${uri} is not a SPIFFE identity` };
  if (trustDomain !== undefined && id.trustDomain !== trustDomain)
    return { refused: `${uri} is not in trust domain ${trustDomain}` };
  return { identity: uri };
}

/**
 * basicConstraints CA:TRUE, read from the DER itself: Node's `ca` (OpenSSL's X509_check_ca)
 * says false for a CA:TRUE certificate whose keyUsage lacks keyCertSign, but Istio (webpki)
 * refuses any end-entity certificate that claims to be a CA. Unparseable → treated as a CA.
 */
function basicConstraintsCa(der: Buffer): boolean {
  try {
    const cert = new x509.X509Certificate(der);
    return cert.getExtension(x509.BasicConstraintsExtension)?.ca === true;
  } catch {
    return true;
  }
}
