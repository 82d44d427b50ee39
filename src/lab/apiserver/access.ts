/**
 * SelfSubjectAccessReview and SelfSubjectRulesReview (`kubectl auth can-i [--list]`): what the
 * caller may do. **Lab shortcut:** this API server authorizes every request (no RBAC yet), so
 * every review is allowed and the rules are "everything", with a reason saying so; the answers
 * are true of this server, and change when authorization comes.
 */
import { badRequest } from './status.js';

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

export const noAuthorizationReason = 'the ambit lab API server authorizes every request (no RBAC)';

export function selfSubjectAccessReview(body: unknown): Record<string, unknown> {
  const spec = isObj(body) && isObj(body.spec) ? body.spec : {};
  if (!isObj(spec.resourceAttributes) && !isObj(spec.nonResourceAttributes))
    throw badRequest(
      'SelfSubjectAccessReview: exactly one of spec.resourceAttributes and spec.nonResourceAttributes must be set',
    );
  return {
    kind: 'SelfSubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec,
    status: { allowed: true, reason: noAuthorizationReason },
  };
}

export function selfSubjectRulesReview(body: unknown): Record<string, unknown> {
  const spec = isObj(body) && isObj(body.spec) ? body.spec : {};
  return {
    kind: 'SelfSubjectRulesReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec,
    status: {
      resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
      nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
      incomplete: false,
    },
  };
}
