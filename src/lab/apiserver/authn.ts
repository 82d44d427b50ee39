/**
 * Who is asking, as kube-apiserver's authenticators decide it: a client certificate signed by
 * the cluster CA (CN = user name, O = groups), else a service-account bearer token (the
 * TokenRequest JWTs of `tokens.ts`, valid only while their service account and bound pod
 * exist), else anonymous. A bad token is a 401, not anonymity. Impersonation
 * (`Impersonate-User`, `Impersonate-Group` headers, `kubectl --as/--as-group`) replaces the
 * user once the caller may `impersonate` it (checked by the router).
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { reviewCheck, serviceAccountUser } from './auth.js';
import type { Registry } from './registry.js';
import type { TokenSigner } from './tokens.js';
import type { UserInfo } from './user.js';

export type { UserInfo };

export const anonymous: UserInfo = { name: 'system:anonymous', groups: ['system:unauthenticated'] };

/** The user, or the reason the presented credentials are refused (answered 401). */
export function authenticate(
  req: IncomingMessage,
  registry: Registry,
  signer: TokenSigner,
): UserInfo | { refused: string } {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = auth.match(/^Bearer\s+(\S+)$/i);
    if (!m) return { refused: 'only bearer tokens are accepted in Authorization' };
    const claims = signer.verify(m[1]!);
    if (typeof claims === 'string') return { refused: claims };
    const reason = reviewCheck(registry, claims, []);
    if (reason) return { refused: reason };
    return serviceAccountUser(claims);
  }
  const sock = req.socket as Partial<TLSSocket>;
  if (sock.encrypted && sock.authorized && sock.getPeerCertificate) {
    const cert = sock.getPeerCertificate();
    const subject = cert.subject as unknown as Record<string, string | string[] | undefined>;
    const cn = subject?.CN;
    const o = subject?.O;
    const name = Array.isArray(cn) ? cn[0] : cn;
    if (name) {
      const orgs = o === undefined ? [] : Array.isArray(o) ? o : [o];
      return { name, groups: [...orgs, 'system:authenticated'] };
    }
  }
  return anonymous;
}

/** `Impersonate-User` / `Impersonate-Group` as a user, or undefined when not asked for. */
export function impersonated(req: IncomingMessage): UserInfo | undefined {
  const user = req.headers['impersonate-user'];
  const name = Array.isArray(user) ? user[0] : user;
  if (!name) return undefined;
  const raw = req.headers['impersonate-group'];
  const groups =
    raw === undefined ? [] : Array.isArray(raw) ? raw : raw.split(',').map((g) => g.trim());
  const sa = name.match(/^system:serviceaccount:([^:]+):([^:]+)$/);
  const implied = sa ? ['system:serviceaccounts', `system:serviceaccounts:${sa[1]!}`] : [];
  const all = [...new Set([...groups, ...implied])];
  if (name !== 'system:anonymous' && !all.includes('system:authenticated'))
    all.push('system:authenticated');
  return { name, groups: all };
}
