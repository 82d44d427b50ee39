/**
 * Who is calling: the bearer token of a gRPC call, verified by a TokenReview against the API
 * server (as istiod does), giving the caller's service account and, for pod-bound tokens, its
 * pod. Results are cached briefly so a reconnect storm does not become a TokenReview storm.
 */
import type * as grpc from '@grpc/grpc-js';
import { AmbitError } from '../errors.js';
import type { KubeClient } from '../k8s/client.js';
import { resources } from '../k8s/resources.js';
import type { KubeObject } from '../k8s/types.js';

export interface Caller {
  username: string;
  namespace: string;
  serviceAccount: string;
  podName?: string;
  podUid?: string;
}

export interface Authenticator {
  authenticate(token: string): Promise<Caller>;
}

export function unauthenticated(message: string): AmbitError {
  return new AmbitError('CP_UNAUTHENTICATED', message, {
    hint: 'send `authorization: Bearer <service-account token>`',
  });
}

/** The token of `authorization: Bearer <token>`, if any. */
export function bearerToken(md: grpc.Metadata): string | undefined {
  const v = md.get('authorization')[0];
  if (typeof v !== 'string') return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(v.trim());
  return m?.[1];
}

/** `namespace/name` of a service-account username, or undefined for other users. */
export function parseServiceAccountUser(
  username: string,
): { namespace: string; name: string } | undefined {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  return m ? { namespace: m[1]!, name: m[2]! } : undefined;
}

interface TokenReview extends KubeObject {
  status?: {
    authenticated?: boolean;
    error?: string;
    user?: { username?: string; extra?: Record<string, string[]> };
  };
}

export class TokenReviewAuthenticator implements Authenticator {
  private readonly cache = new Map<string, { caller: Caller; until: number }>();

  constructor(
    private readonly kube: KubeClient,
    private readonly ttlMs = 60_000,
  ) {}

  async authenticate(token: string): Promise<Caller> {
    const hit = this.cache.get(token);
    if (hit && hit.until > Date.now()) return hit.caller;
    const review = await this.kube.create<TokenReview>(resources.tokenreviews, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      metadata: { name: '' },
      spec: { token },
    });
    const st = review.status;
    if (!st?.authenticated)
      throw unauthenticated(`the token was not accepted: ${st?.error ?? 'not authenticated'}`);
    const username = st.user?.username ?? '';
    const sa = parseServiceAccountUser(username);
    if (!sa) throw unauthenticated(`${username} is not a service account`);
    const extra = st.user?.extra ?? {};
    const caller: Caller = {
      username,
      namespace: sa.namespace,
      serviceAccount: sa.name,
      podName: extra['authentication.kubernetes.io/pod-name']?.[0],
      podUid: extra['authentication.kubernetes.io/pod-uid']?.[0],
    };
    if (this.cache.size > 1000) this.cache.clear();
    this.cache.set(token, { caller, until: Date.now() + this.ttlMs });
    return caller;
  }
}
