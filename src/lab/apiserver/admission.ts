/**
 * Authentication, impersonation and authorization of one request, before the router runs it:
 * the verb and attributes kube-apiserver's request-info resolver derives from the request, and
 * the user it runs as (or a 401/403 Status).
 */
import type { IncomingMessage } from 'node:http';
import { authenticate, impersonated, type UserInfo } from './authn.js';
import { publicPaths } from './bootstrap-policy.js';
import { forbiddenMessage, type Attributes, type RbacAuthorizer } from './rbac.js';
import type { Registry } from './registry.js';
import { targetOf, type Target } from './request.js';
import { ApiError } from './status.js';
import type { TokenSigner } from './tokens.js';

/** What admission needs of the server. */
export interface AdmissionDeps {
  registry: Registry;
  signer: TokenSigner;
  log: { info(msg: string, fields?: Record<string, unknown>): void };
  /** RBAC; undefined allows every request (the in-process test server). */
  authorizer?: RbacAuthorizer;
}

/** The verb kube-apiserver's request-info resolver names for a request. */
function verbOf(method: string, t: Target, q: URLSearchParams): string {
  // Streams are authorized as `create` whatever the method (a WebSocket upgrade is a GET).
  if (t.subresource === 'exec' || t.subresource === 'attach' || t.subresource === 'portforward')
    return 'create';
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (t.watchPath || q.get('watch') === 'true' || q.get('watch') === '1') return 'watch';
      return t.name ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return t.name ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

export function attributesOf(req: IncomingMessage): Attributes {
  const { path, q, t } = targetOf(req.url);
  const method = req.method ?? 'GET';
  if (!t)
    return { kind: 'nonResource', verb: method === 'HEAD' ? 'get' : method.toLowerCase(), path };
  return {
    kind: 'resource',
    verb: verbOf(method, t, q),
    group: t.kind.group,
    resource: t.kind.plural,
    subresource: t.subresource,
    namespace: t.namespace,
    name: t.name,
  };
}

/**
 * Authentication, impersonation and authorization of one request: the user it runs as, or an
 * ApiError (401 for refused credentials and for anonymous requests outside the public paths,
 * as an AuthenticationConfiguration with anonymous `conditions` does; 403 from RBAC).
 */
export function admit(deps: AdmissionDeps, req: IncomingMessage): UserInfo {
  const authz = deps.authorizer;
  if (!authz) return { name: 'system:admin', groups: ['system:masters', 'system:authenticated'] };
  const u = authenticate(req, deps.registry, deps.signer);
  if ('refused' in u) {
    deps.log.info('unauthorized', { url: req.url, reason: u.refused });
    throw new ApiError(401, 'Unauthorized', 'Unauthorized');
  }
  const a = attributesOf(req);
  if (u.name === 'system:anonymous' && !(a.kind === 'nonResource' && publicPaths.includes(a.path)))
    throw new ApiError(401, 'Unauthorized', 'Unauthorized');
  let user = u;
  const as = impersonated(req);
  if (as) {
    const sa = as.name.match(/^system:serviceaccount:([^:]+):([^:]+)$/);
    const checks: Attributes[] = [
      sa
        ? {
            kind: 'resource',
            verb: 'impersonate',
            group: '',
            resource: 'serviceaccounts',
            namespace: sa[1],
            name: sa[2],
          }
        : { kind: 'resource', verb: 'impersonate', group: '', resource: 'users', name: as.name },
      ...(req.headers['impersonate-group'] !== undefined ? as.groups : [])
        .filter((g) => g !== 'system:authenticated')
        .map((g): Attributes => ({
          kind: 'resource',
          verb: 'impersonate',
          group: '',
          resource: 'groups',
          name: g,
        })),
    ];
    for (const c of checks)
      if (!authz.authorize(u, c).allowed)
        throw new ApiError(403, 'Forbidden', forbiddenMessage(u, c));
    user = as;
  }
  const d = authz.authorize(user, a);
  if (!d.allowed)
    throw new ApiError(
      403,
      'Forbidden',
      forbiddenMessage(user, a) + (d.reason ? `: ${d.reason}` : ''),
    );
  return user;
}
