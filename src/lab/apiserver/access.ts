/**
 * SelfSubjectAccessReview, SelfSubjectRulesReview (`kubectl auth can-i [--list]`) and
 * SubjectAccessReview: what a user may do, answered by the same authorizer that guards every
 * request. Without one (the in-process test server, plain HTTP), every request is allowed and
 * the answers say so.
 */
import type { UserInfo } from './user.js';
import { SUPERUSER_GROUP, type Attributes, type RbacAuthorizer } from './rbac.js';
import { badRequest } from './status.js';

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

export const noAuthorizationReason = 'this API server authorizes every request (no RBAC)';

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function attributesOf(spec: Record<string, unknown>, what: string): Attributes {
  const ra = spec.resourceAttributes;
  const nra = spec.nonResourceAttributes;
  if (isObj(ra) === isObj(nra))
    throw badRequest(
      `${what}: exactly one of spec.resourceAttributes and spec.nonResourceAttributes must be set`,
    );
  if (isObj(nra)) return { kind: 'nonResource', verb: str(nra.verb), path: str(nra.path) };
  const r = ra as Record<string, unknown>;
  return {
    kind: 'resource',
    verb: str(r.verb),
    group: str(r.group),
    resource: str(r.resource),
    subresource: str(r.subresource) || undefined,
    namespace: str(r.namespace) || undefined,
    name: str(r.name) || undefined,
  };
}

function review(
  kind: string,
  spec: Record<string, unknown>,
  user: UserInfo,
  authz: RbacAuthorizer | undefined,
): Record<string, unknown> {
  const a = attributesOf(spec, kind);
  const d = authz ? authz.authorize(user, a) : { allowed: true, reason: noAuthorizationReason };
  return {
    kind,
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec,
    status: { allowed: d.allowed, ...(d.reason ? { reason: d.reason } : {}) },
  };
}

export function selfSubjectAccessReview(
  body: unknown,
  user: UserInfo,
  authz?: RbacAuthorizer,
): Record<string, unknown> {
  const spec = isObj(body) && isObj(body.spec) ? body.spec : {};
  return review('SelfSubjectAccessReview', spec, user, authz);
}

/** A review for the user in `spec.user` / `spec.groups` (who may ask is up to RBAC). */
export function subjectAccessReview(
  body: unknown,
  authz?: RbacAuthorizer,
): Record<string, unknown> {
  const spec = isObj(body) && isObj(body.spec) ? body.spec : {};
  const groups = Array.isArray(spec.groups) ? spec.groups.map(String) : [];
  if (!str(spec.user) && groups.length === 0)
    throw badRequest('SubjectAccessReview: at least one of spec.user and spec.groups must be set');
  return review('SubjectAccessReview', spec, { name: str(spec.user), groups }, authz);
}

export function selfSubjectRulesReview(
  body: unknown,
  user: UserInfo,
  authz?: RbacAuthorizer,
): Record<string, unknown> {
  const spec = isObj(body) && isObj(body.spec) ? body.spec : {};
  const everything = {
    resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
    nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
  };
  let status: Record<string, unknown>;
  if (!authz || user.groups.includes(SUPERUSER_GROUP))
    status = { ...everything, incomplete: false };
  else {
    const { rules } = authz.rulesFor(user, str(spec.namespace) || undefined);
    status = {
      resourceRules: rules
        .filter((r) => !r.nonResourceURLs?.length)
        .map((r) => ({
          verbs: r.verbs ?? [],
          apiGroups: r.apiGroups ?? [],
          resources: r.resources ?? [],
          ...(r.resourceNames?.length ? { resourceNames: r.resourceNames } : {}),
        })),
      nonResourceRules: rules
        .filter((r) => r.nonResourceURLs?.length)
        .map((r) => ({ verbs: r.verbs ?? [], nonResourceURLs: r.nonResourceURLs })),
      incomplete: false,
    };
  }
  return {
    kind: 'SelfSubjectRulesReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec,
    status,
  };
}
