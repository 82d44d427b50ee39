/** Where each kind lives in the REST API. */
export interface Resource {
  group: string; // '' for core
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

const r = (
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced = true,
): Resource => ({
  group,
  version,
  plural,
  kind,
  namespaced,
});

export const resources = {
  namespaces: r('', 'v1', 'namespaces', 'Namespace', false),
  nodes: r('', 'v1', 'nodes', 'Node', false),
  pods: r('', 'v1', 'pods', 'Pod'),
  services: r('', 'v1', 'services', 'Service'),
  endpoints: r('', 'v1', 'endpoints', 'Endpoints'),
  endpointslices: r('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice'),
  serviceaccounts: r('', 'v1', 'serviceaccounts', 'ServiceAccount'),
  configmaps: r('', 'v1', 'configmaps', 'ConfigMap'),
  secrets: r('', 'v1', 'secrets', 'Secret'),
  events: r('', 'v1', 'events', 'Event'),
  deployments: r('apps', 'v1', 'deployments', 'Deployment'),
  daemonsets: r('apps', 'v1', 'daemonsets', 'DaemonSet'),
  clusterroles: r('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', false),
  clusterrolebindings: r(
    'rbac.authorization.k8s.io',
    'v1',
    'clusterrolebindings',
    'ClusterRoleBinding',
    false,
  ),
  roles: r('rbac.authorization.k8s.io', 'v1', 'roles', 'Role'),
  rolebindings: r('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding'),
  authorizationpolicies: r(
    'security.istio.io',
    'v1',
    'authorizationpolicies',
    'AuthorizationPolicy',
  ),
  peerauthentications: r('security.istio.io', 'v1', 'peerauthentications', 'PeerAuthentication'),
  gateways: r('gateway.networking.k8s.io', 'v1', 'gateways', 'Gateway'),
  httproutes: r('gateway.networking.k8s.io', 'v1', 'httproutes', 'HTTPRoute'),
  grpcroutes: r('gateway.networking.k8s.io', 'v1', 'grpcroutes', 'GRPCRoute'),
  /** Experimental channel (experimental-tcproute.yaml); absent until a user installs the CRD. */
  tcproutes: r('gateway.networking.k8s.io', 'v1', 'tcproutes', 'TCPRoute'),
  /** v1beta1: served by older Gateway API bundles too, and still the storage version at v1.6.1 (test/external/gateway-api/SOURCES.md). */
  referencegrants: r('gateway.networking.k8s.io', 'v1beta1', 'referencegrants', 'ReferenceGrant'),
  customresourcedefinitions: r(
    'apiextensions.k8s.io',
    'v1',
    'customresourcedefinitions',
    'CustomResourceDefinition',
    false,
  ),
  tokenreviews: r('authentication.k8s.io', 'v1', 'tokenreviews', 'TokenReview', false),
  subjectaccessreviews: r(
    'authorization.k8s.io',
    'v1',
    'subjectaccessreviews',
    'SubjectAccessReview',
    false,
  ),
  selfsubjectaccessreviews: r(
    'authorization.k8s.io',
    'v1',
    'selfsubjectaccessreviews',
    'SelfSubjectAccessReview',
    false,
  ),
  selfsubjectrulesreviews: r(
    'authorization.k8s.io',
    'v1',
    'selfsubjectrulesreviews',
    'SelfSubjectRulesReview',
    false,
  ),
} as const;

/** The REST path of a collection or, with `name`, of one object. */
export function resourcePath(res: Resource, namespace?: string, name?: string): string {
  let p = res.group === '' ? `/api/${res.version}` : `/apis/${res.group}/${res.version}`;
  if (res.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${res.plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  return p;
}
