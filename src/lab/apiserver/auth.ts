/**
 * TokenRequest (`POST …/serviceaccounts/<sa>/token`) and TokenReview
 * (`POST /apis/authentication.k8s.io/v1/tokenreviews`): how pods get and prove identities.
 * A token bound to a pod stops being valid when that pod is gone or replaced.
 */
import { randomUUID } from 'node:crypto';
import { kinds } from './catalog.js';
import type { Registry } from './registry.js';
import { ApiError, badRequest, cause, invalid } from './status.js';
import { issuer, type TokenClaims, type TokenSigner } from './tokens.js';
import type { UserInfo } from './user.js';
import { kubeTime } from '../../k8s/time.js';

const saKind = kinds.find((k) => k.kind === 'ServiceAccount')!;
const podKind = kinds.find((k) => k.kind === 'Pod')!;
const reviewKind = kinds.find((k) => k.kind === 'TokenReview')!;

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

export function tokenRequest(
  reg: Registry,
  signer: TokenSigner,
  ns: string,
  saName: string,
  body: unknown,
  user?: UserInfo,
): Record<string, unknown> {
  const sa = reg.get(saKind, ns, saName);
  const node = user?.groups.includes('system:nodes')
    ? user.name.replace(/^system:node:/, '')
    : undefined;
  const spec = isObj(body) && isObj(body.spec) ? body.spec : {};
  const audiences =
    Array.isArray(spec.audiences) && spec.audiences.length ? spec.audiences.map(String) : [issuer];
  const ttl = typeof spec.expirationSeconds === 'number' ? spec.expirationSeconds : 3600;
  if (ttl < 600)
    throw invalid(saKind, saName, [
      cause.invalid(
        'spec.expirationSeconds',
        ttl,
        'may not specify a duration less than 10 minutes',
      ),
    ]);
  const claims: TokenClaims = {
    iss: issuer,
    sub: `system:serviceaccount:${ns}:${saName}`,
    aud: audiences,
    iat: Math.floor(Date.now() / 1000),
    nbf: Math.floor(Date.now() / 1000),
    exp: Math.floor(Date.now() / 1000) + ttl,
    jti: randomUUID(),
    'kubernetes.io': {
      namespace: ns,
      serviceaccount: { name: saName, uid: String(sa.metadata.uid) },
    },
  };
  const ref = isObj(spec.boundObjectRef) ? spec.boundObjectRef : undefined;
  if (ref) {
    if (ref.kind !== 'Pod')
      throw invalid(saKind, saName, [
        cause.notSupported('spec.boundObjectRef.kind', ref.kind, ['Pod']),
      ]);
    const pod = reg.get(podKind, ns, String(ref.name));
    if (ref.uid && ref.uid !== pod.metadata.uid)
      throw new ApiError(
        409,
        'Conflict',
        `the UID in the bound object reference (${String(ref.uid)}) does not match the UID in record (${String(pod.metadata.uid)}). The object might have been deleted and then recreated`,
      );
    const podSa = isObj(pod.spec) ? pod.spec.serviceAccountName : undefined;
    if (podSa !== saName)
      throw badRequest(
        `pod ${pod.metadata.name} runs as service account ${String(podSa)}, not ${saName}`,
      );
    claims['kubernetes.io'].pod = { name: pod.metadata.name, uid: String(pod.metadata.uid) };
    // NodeRestriction: a kubelet gets tokens only for the pods bound to its own node.
    const podNode = isObj(pod.spec) ? pod.spec.nodeName : undefined;
    if (node !== undefined && podNode !== node)
      throw new ApiError(
        403,
        'Forbidden',
        `serviceaccounts "${saName}" is forbidden: node "${node}" can only request tokens for pods bound to it (pod ${pod.metadata.name} is on ${String(podNode)})`,
      );
  } else if (node !== undefined) {
    throw new ApiError(
      403,
      'Forbidden',
      `serviceaccounts "${saName}" is forbidden: node "${node}" can only request tokens bound to its pods`,
    );
  }
  return {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name: saName, namespace: ns, creationTimestamp: kubeTime() },
    spec: { audiences, expirationSeconds: ttl, boundObjectRef: ref ?? null },
    status: { token: signer.sign(claims), expirationTimestamp: kubeTime(claims.exp * 1000) },
  };
}

export function reviewCheck(
  reg: Registry,
  claims: TokenClaims,
  audiences: string[],
): string | undefined {
  if (audiences.length && !audiences.some((a) => claims.aud.includes(a)))
    return 'token audiences are invalid';
  const k = claims['kubernetes.io'];
  const sa = tryGet(() => reg.get(saKind, k.namespace, k.serviceaccount.name));
  if (!sa || sa.metadata.uid !== k.serviceaccount.uid)
    return `service account ${k.namespace}/${k.serviceaccount.name} has been deleted`;
  if (k.pod) {
    const pod = tryGet(() => reg.get(podKind, k.namespace, k.pod!.name));
    if (!pod || pod.metadata.uid !== k.pod.uid)
      return `pod ${k.namespace}/${k.pod.name} (uid ${k.pod.uid}) no longer exists`;
  }
  return undefined;
}

function tryGet<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/** The user a verified service-account token stands for, as kube-apiserver names it. */
export function serviceAccountUser(claims: TokenClaims): UserInfo {
  const k = claims['kubernetes.io'];
  const extra: Record<string, string[]> = {};
  if (k.pod) {
    extra['authentication.kubernetes.io/pod-name'] = [k.pod.name];
    extra['authentication.kubernetes.io/pod-uid'] = [k.pod.uid];
  }
  return {
    name: claims.sub,
    uid: k.serviceaccount.uid,
    groups: [
      'system:serviceaccounts',
      `system:serviceaccounts:${k.namespace}`,
      'system:authenticated',
    ],
    extra,
  };
}

export function tokenReview(
  reg: Registry,
  signer: TokenSigner,
  body: unknown,
): Record<string, unknown> {
  const spec = isObj(body) && isObj(body.spec) ? body.spec : undefined;
  if (!spec || typeof spec.token !== 'string' || spec.token === '')
    throw invalid(reviewKind, '', [cause.required('spec.token')]);
  const audiences = Array.isArray(spec.audiences) ? spec.audiences.map(String) : [];
  const base = {
    kind: 'TokenReview',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec,
  };
  const claims = signer.verify(spec.token);
  const reason = typeof claims === 'string' ? claims : reviewCheck(reg, claims, audiences);
  if (typeof claims === 'string' || reason)
    return { ...base, status: { authenticated: false, error: reason, user: {} } };
  const user = serviceAccountUser(claims);
  return {
    ...base,
    status: {
      authenticated: true,
      user: {
        username: user.name,
        uid: user.uid,
        groups: user.groups,
        extra: {
          'authentication.kubernetes.io/credential-id': [`JTI=${claims.jti}`],
          ...user.extra,
        },
      },
      audiences: audiences.length ? audiences.filter((a) => claims.aud.includes(a)) : claims.aud,
    },
  };
}
