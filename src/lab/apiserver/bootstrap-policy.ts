/**
 * The RBAC objects the API server keeps at every start, as kube-apiserver's bootstrap policy
 * (label `kubernetes.io/bootstrapping: rbac-defaults`): cluster-admin, discovery and public
 * info, self reviews for every authenticated user, and the roles of the lab's own daemons
 * (controller manager, kubelets, kube-proxy). The lab's controller manager is one identity
 * doing what Kubernetes splits across per-controller service accounts, so its role is the union
 * of theirs for the kinds the lab's controllers handle.
 */
import type { PolicyRule } from './rbac.js';

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'update', 'patch', 'delete'];
const rule = (apiGroups: string[], resources: string[], verbs: string[]): PolicyRule => ({
  apiGroups,
  resources,
  verbs,
});
const urls = (nonResourceURLs: string[]): PolicyRule => ({ nonResourceURLs, verbs: ['get'] });

export const publicPaths = ['/healthz', '/livez', '/readyz', '/version', '/version/'];

const roles: Record<string, PolicyRule[]> = {
  'cluster-admin': [rule(['*'], ['*'], ['*']), { nonResourceURLs: ['*'], verbs: ['*'] }],
  'system:discovery': [
    urls(['/api', '/api/*', '/apis', '/apis/*', '/openapi', '/openapi/*', ...publicPaths]),
  ],
  'system:public-info-viewer': [urls(publicPaths)],
  'system:basic-user': [
    rule(
      ['authorization.k8s.io'],
      ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
      ['create'],
    ),
  ],
  view: [
    rule(
      [''],
      [
        'pods',
        'pods/log',
        'services',
        'endpoints',
        'configmaps',
        'serviceaccounts',
        'events',
        'namespaces',
      ],
      READ,
    ),
    rule(['apps'], ['deployments', 'daemonsets'], READ),
    rule(['discovery.k8s.io'], ['endpointslices'], READ),
  ],
  'system:kube-controller-manager': [
    rule([''], ['pods'], [...READ, ...WRITE]),
    rule([''], ['pods/binding', 'pods/status'], ['create', 'update', 'patch']),
    rule([''], ['services', 'namespaces', 'nodes'], READ),
    rule([''], ['endpoints', 'serviceaccounts'], [...READ, ...WRITE]),
    rule([''], ['events'], ['create', 'update', 'patch']),
    rule(['discovery.k8s.io'], ['endpointslices'], [...READ, ...WRITE]),
    rule(['apps'], ['deployments', 'daemonsets'], [...READ, 'update', 'patch']),
    rule(['apps'], ['deployments/status', 'daemonsets/status'], ['update', 'patch']),
  ],
  // What RBAC allows a kubelet; node-authorizer.ts limits its writes to its own Node and pods
  // and decides its Secrets, ConfigMaps and tokens (TokenRequest further checks the bound pod).
  'system:node': [
    rule([''], ['pods'], [...READ, 'delete']),
    rule([''], ['pods/status'], ['update', 'patch']),
    rule([''], ['pods'], ['patch']),
    rule([''], ['nodes'], [...READ, 'create', 'update', 'patch']),
    rule([''], ['nodes/status'], ['update', 'patch']),
    // Secrets and ConfigMaps: only those of its pods, which the Node authorizer decides.
    rule([''], ['services'], READ),
    // Tokens too: only for its pods' service accounts (node-authorizer.ts).
    rule([''], ['events'], ['create', 'update', 'patch']),
  ],
  'system:node-proxier': [
    rule([''], ['services', 'endpoints', 'nodes'], READ),
    rule(['discovery.k8s.io'], ['endpointslices'], READ),
    rule([''], ['events'], ['create', 'update', 'patch']),
  ],
  // Who may check tokens (istiod does: its TokenReviews authenticate the CA's callers).
  'system:auth-delegator': [
    rule(['authentication.k8s.io'], ['tokenreviews'], ['create']),
    rule(['authorization.k8s.io'], ['subjectaccessreviews'], ['create']),
  ],
};

const bindings: { name: string; role: string; subjects: { kind: string; name: string }[] }[] = [
  {
    name: 'cluster-admin',
    role: 'cluster-admin',
    subjects: [{ kind: 'Group', name: 'system:masters' }],
  },
  {
    name: 'system:discovery',
    role: 'system:discovery',
    subjects: [{ kind: 'Group', name: 'system:authenticated' }],
  },
  {
    name: 'system:public-info-viewer',
    role: 'system:public-info-viewer',
    subjects: [
      { kind: 'Group', name: 'system:authenticated' },
      { kind: 'Group', name: 'system:unauthenticated' },
    ],
  },
  {
    name: 'system:basic-user',
    role: 'system:basic-user',
    subjects: [{ kind: 'Group', name: 'system:authenticated' }],
  },
  {
    name: 'system:kube-controller-manager',
    role: 'system:kube-controller-manager',
    subjects: [{ kind: 'User', name: 'system:kube-controller-manager' }],
  },
  { name: 'system:node', role: 'system:node', subjects: [{ kind: 'Group', name: 'system:nodes' }] },
  {
    name: 'system:node-proxier',
    role: 'system:node-proxier',
    subjects: [{ kind: 'User', name: 'system:kube-proxy' }],
  },
];

const labels = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };
const annotations = { 'rbac.authorization.kubernetes.io/autoupdate': 'true' };

export function bootstrapPolicy(): Record<string, unknown>[] {
  return [
    ...Object.entries(roles).map(([name, rules]) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name, labels, annotations },
      rules,
    })),
    ...bindings.map((b) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: b.name, labels, annotations },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: b.role },
      subjects: b.subjects.map((s) => ({ ...s, apiGroup: 'rbac.authorization.k8s.io' })),
    })),
  ];
}
