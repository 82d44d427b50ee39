/**
 * The RBAC authorizer, as kube-apiserver's: a request is allowed when a rule of a role bound
 * to the user allows it. ClusterRoleBindings grant their ClusterRole everywhere; RoleBindings
 * grant a Role of their namespace, or a ClusterRole, in their namespace only. `system:masters`
 * is allowed everything without a binding (as the real server's superuser group). Rules match
 * verbs, API groups, resources (`res`, `res/sub`, a star, or star-slash-sub), resourceNames and
 * nonResourceURLs (exact or a `*` suffix). Aggregated ClusterRoles are not expanded.
 */
import { kindKey, kinds } from './catalog.js';
import type { UserInfo } from './user.js';
import type { Obj, Store } from './store.js';

export interface ResourceAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export type Attributes =
  ({ kind: 'resource' } & ResourceAttributes) | { kind: 'nonResource'; verb: string; path: string };

export interface PolicyRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
}

interface Binding extends Obj {
  roleRef?: { kind?: string; name?: string };
  subjects?: Subject[];
}

const key = (kind: string): string => kindKey(kinds.find((k) => k.kind === kind)!);

export const SUPERUSER_GROUP = 'system:masters';

function subjectMatches(s: Subject, u: UserInfo, bindingNs: string | undefined): boolean {
  if (s.kind === 'User') return s.name === u.name;
  if (s.kind === 'Group') return s.name !== undefined && u.groups.includes(s.name);
  if (s.kind === 'ServiceAccount') {
    const ns = s.namespace ?? bindingNs;
    return u.name === `system:serviceaccount:${ns ?? ''}:${s.name ?? ''}`;
  }
  return false;
}

const has = (list: string[] | undefined, v: string): boolean =>
  !!list && (list.includes('*') || list.includes(v));

export function ruleAllows(r: PolicyRule, a: Attributes): boolean {
  if (!has(r.verbs, a.verb)) return false;
  if (a.kind === 'nonResource') {
    return (r.nonResourceURLs ?? []).some(
      (u) => u === '*' || u === a.path || (u.endsWith('*') && a.path.startsWith(u.slice(0, -1))),
    );
  }
  if (!has(r.apiGroups, a.group)) return false;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const resOk = (r.resources ?? []).some(
    (x) => x === '*' || x === res || (a.subresource !== undefined && x === `*/${a.subresource}`),
  );
  if (!resOk) return false;
  if (r.resourceNames && r.resourceNames.length > 0)
    return a.name !== undefined && r.resourceNames.includes(a.name);
  return true;
}

export interface Decision {
  allowed: boolean;
  reason: string;
}

export class RbacAuthorizer {
  constructor(private readonly store: Store) {}

  private role(kind: string | undefined, name: string | undefined, ns?: string): PolicyRule[] {
    if (!name) return [];
    const o =
      kind === 'ClusterRole'
        ? this.store.get(key('ClusterRole'), undefined, name)
        : kind === 'Role' && ns
          ? this.store.get(key('Role'), ns, name)
          : undefined;
    return ((o?.rules as PolicyRule[] | undefined) ?? []).filter((r) => r && typeof r === 'object');
  }

  /** The rules that apply to `u` in `namespace` (cluster-wide ones only when undefined). */
  rulesFor(u: UserInfo, namespace?: string): { rules: PolicyRule[]; via: string[] } {
    const rules: PolicyRule[] = [];
    const via: string[] = [];
    for (const b of this.store.list(key('ClusterRoleBinding')) as Binding[]) {
      if (!(b.subjects ?? []).some((s) => subjectMatches(s, u, undefined))) continue;
      rules.push(...this.role('ClusterRole', b.roleRef?.name));
      via.push(`ClusterRoleBinding "${b.metadata.name}" of ClusterRole "${b.roleRef?.name ?? ''}"`);
    }
    if (namespace)
      for (const b of this.store.list(key('RoleBinding'), namespace) as Binding[]) {
        if (!(b.subjects ?? []).some((s) => subjectMatches(s, u, namespace))) continue;
        rules.push(...this.role(b.roleRef?.kind, b.roleRef?.name, namespace));
        via.push(
          `RoleBinding "${b.metadata.name}/${namespace}" of ${b.roleRef?.kind ?? ''} "${b.roleRef?.name ?? ''}"`,
        );
      }
    return { rules, via };
  }

  authorize(u: UserInfo, a: Attributes): Decision {
    if (u.groups.includes(SUPERUSER_GROUP))
      return { allowed: true, reason: `group ${SUPERUSER_GROUP} is allowed everything` };
    const ns = a.kind === 'resource' ? a.namespace : undefined;
    for (const b of this.store.list(key('ClusterRoleBinding')) as Binding[]) {
      if (!(b.subjects ?? []).some((s) => subjectMatches(s, u, undefined))) continue;
      if (this.role('ClusterRole', b.roleRef?.name).some((r) => ruleAllows(r, a)))
        return {
          allowed: true,
          reason: `RBAC: allowed by ClusterRoleBinding "${b.metadata.name}" of ClusterRole "${b.roleRef?.name ?? ''}" to User "${u.name}"`,
        };
    }
    if (ns)
      for (const b of this.store.list(key('RoleBinding'), ns) as Binding[]) {
        if (!(b.subjects ?? []).some((s) => subjectMatches(s, u, ns))) continue;
        if (this.role(b.roleRef?.kind, b.roleRef?.name, ns).some((r) => ruleAllows(r, a)))
          return {
            allowed: true,
            reason: `RBAC: allowed by RoleBinding "${b.metadata.name}/${ns}" of ${b.roleRef?.kind ?? ''} "${b.roleRef?.name ?? ''}" to User "${u.name}"`,
          };
      }
    return { allowed: false, reason: '' };
  }
}

/** kube-apiserver's 403 message for a refused request. */
export function forbiddenMessage(u: UserInfo, a: Attributes): string {
  if (a.kind === 'nonResource')
    return `forbidden: User "${u.name}" cannot ${a.verb} path "${a.path}"`;
  const what = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const named = a.name ? ` "${a.name}"` : '';
  const scope = a.namespace ? ` in the namespace "${a.namespace}"` : ' at the cluster scope';
  return `${what}${named} is forbidden: User "${u.name}" cannot ${a.verb} resource "${what}" in API group "${a.group}"${scope}`;
}
