/**
 * Field numbers of the Kubernetes protobuf messages that kubectl sends as request bodies
 * (`kubectl create namespace|deployment|service|configmap|serviceaccount|secret|role|…|token`
 * always encode `application/vnd.kubernetes.protobuf`, whatever the server advertises). The
 * numbers are those of k8s.io/api's generated.proto files; the JSON names are the fields'.
 *
 * A field is `name:type`, type: `s` string (default), `i` integer, `b` bool, `y` bytes
 * (base64 in JSON), `t` meta/v1 Time, `ios` IntOrString, `q` Quantity, `map` / `mapy` /
 * `mapq` string → string / bytes / Quantity maps, `skip` (read and dropped: status, which
 * creates ignore), or a message named here. A leading `*` marks a repeated field, a trailing
 * `?` a pointer field (Go encodes it only when set, so its zero value is meaningful and kept;
 * the zero values of the other fields are what `omitempty` leaves out of JSON).
 */
export type MessageSchema = Record<number, string>;

const objectMeta: MessageSchema = {
  1: 'name',
  2: 'generateName',
  3: 'namespace',
  4: 'selfLink',
  5: 'uid',
  6: 'resourceVersion',
  7: 'generation:i',
  8: 'creationTimestamp:t',
  9: 'deletionTimestamp:t',
  10: 'deletionGracePeriodSeconds:i?',
  11: 'labels:map',
  12: 'annotations:map',
  13: '*ownerReferences:OwnerReference',
  14: '*finalizers',
};

const withMeta = (rest: MessageSchema): MessageSchema => ({ 1: 'metadata:ObjectMeta', ...rest });

export const messages: Record<string, MessageSchema> = {
  ObjectMeta: objectMeta,
  OwnerReference: {
    1: 'kind',
    3: 'name',
    4: 'uid',
    5: 'apiVersion',
    6: 'controller:b?',
    7: 'blockOwnerDeletion:b?',
  },
  LabelSelector: { 1: 'matchLabels:map', 2: '*matchExpressions:LabelSelectorRequirement' },
  LabelSelectorRequirement: { 1: 'key', 2: 'operator', 3: '*values' },
  ObjectReference: {
    1: 'kind',
    2: 'namespace',
    3: 'name',
    4: 'uid',
    5: 'apiVersion',
    6: 'resourceVersion',
    7: 'fieldPath',
  },
  LocalObjectReference: { 1: 'name' },

  // core/v1
  Namespace: withMeta({ 2: 'spec:NamespaceSpec', 3: 'status:skip' }),
  NamespaceSpec: { 1: '*finalizers' },
  ConfigMap: withMeta({ 2: 'data:map', 3: 'binaryData:mapy', 4: 'immutable:b?' }),
  Secret: withMeta({ 2: 'data:mapy', 3: 'type', 4: 'stringData:map', 5: 'immutable:b?' }),
  ServiceAccount: withMeta({
    2: '*secrets:ObjectReference',
    3: '*imagePullSecrets:LocalObjectReference',
    4: 'automountServiceAccountToken:b?',
  }),
  Service: withMeta({ 2: 'spec:ServiceSpec', 3: 'status:skip' }),
  ServiceSpec: {
    1: '*ports:ServicePort',
    2: 'selector:map',
    3: 'clusterIP',
    4: 'type',
    5: '*externalIPs',
    7: 'sessionAffinity',
    8: 'loadBalancerIP',
    9: '*loadBalancerSourceRanges',
    10: 'externalName',
    11: 'externalTrafficPolicy',
    12: 'healthCheckNodePort:i',
    13: 'publishNotReadyAddresses:b',
    17: 'ipFamilyPolicy:s?',
    18: '*clusterIPs',
    19: '*ipFamilies',
    20: 'allocateLoadBalancerNodePorts:b?',
    21: 'loadBalancerClass:s?',
    22: 'internalTrafficPolicy:s?',
    23: 'trafficDistribution:s?',
  },
  ServicePort: {
    1: 'name',
    2: 'protocol',
    3: 'port:i',
    4: 'targetPort:ios',
    5: 'nodePort:i',
    6: 'appProtocol:s?',
  },
  PodTemplateSpec: withMeta({ 2: 'spec:PodSpec' }),
  PodSpec: {
    2: '*containers:Container',
    3: 'restartPolicy',
    4: 'terminationGracePeriodSeconds:i?',
    5: 'activeDeadlineSeconds:i?',
    6: 'dnsPolicy',
    7: 'nodeSelector:map',
    8: 'serviceAccountName',
    9: 'serviceAccount',
    10: 'nodeName',
    11: 'hostNetwork:b',
    12: 'hostPID:b',
    13: 'hostIPC:b',
    15: '*imagePullSecrets:LocalObjectReference',
    16: 'hostname',
    17: 'subdomain',
    19: 'schedulerName',
    20: '*initContainers:Container',
    21: 'automountServiceAccountToken:b?',
    24: 'priorityClassName',
    25: 'priority:i?',
    30: 'enableServiceLinks:b?',
  },
  Container: {
    1: 'name',
    2: 'image',
    3: '*command',
    4: '*args',
    5: 'workingDir',
    6: '*ports:ContainerPort',
    7: '*env:EnvVar',
    8: 'resources:ResourceRequirements',
    9: '*volumeMounts:VolumeMount',
    13: 'terminationMessagePath',
    14: 'imagePullPolicy',
    16: 'stdin:b',
    17: 'stdinOnce:b',
    18: 'tty:b',
    20: 'terminationMessagePolicy',
    24: 'restartPolicy:s?',
  },
  ContainerPort: { 1: 'name', 2: 'hostPort:i', 3: 'containerPort:i', 4: 'protocol', 5: 'hostIP' },
  EnvVar: { 1: 'name', 2: 'value' },
  ResourceRequirements: { 1: 'limits:mapq', 2: 'requests:mapq' },
  VolumeMount: {
    1: 'name',
    2: 'readOnly:b',
    3: 'mountPath',
    4: 'subPath',
    5: 'mountPropagation:s?',
    6: 'subPathExpr',
  },

  // apps/v1
  Deployment: withMeta({ 2: 'spec:DeploymentSpec', 3: 'status:skip' }),
  DeploymentSpec: {
    1: 'replicas:i?',
    2: 'selector:LabelSelector',
    3: 'template:PodTemplateSpec',
    4: 'strategy:DeploymentStrategy',
    5: 'minReadySeconds:i',
    6: 'revisionHistoryLimit:i?',
    7: 'paused:b',
    9: 'progressDeadlineSeconds:i?',
  },
  DeploymentStrategy: { 1: 'type', 2: 'rollingUpdate:RollingUpdate' },
  RollingUpdate: { 1: 'maxUnavailable:ios', 2: 'maxSurge:ios' },
  DaemonSet: withMeta({ 2: 'spec:DaemonSetSpec', 3: 'status:skip' }),
  DaemonSetSpec: {
    1: 'selector:LabelSelector',
    2: 'template:PodTemplateSpec',
    3: 'updateStrategy:DeploymentStrategy',
    4: 'minReadySeconds:i',
    6: 'revisionHistoryLimit:i?',
  },

  // rbac.authorization.k8s.io/v1
  Role: withMeta({ 2: '*rules:PolicyRule' }),
  ClusterRole: withMeta({ 2: '*rules:PolicyRule', 3: 'aggregationRule:AggregationRule' }),
  AggregationRule: { 1: '*clusterRoleSelectors:LabelSelector' },
  PolicyRule: {
    1: '*verbs',
    2: '*apiGroups',
    3: '*resources',
    4: '*resourceNames',
    5: '*nonResourceURLs',
  },
  RoleBinding: withMeta({ 2: '*subjects:Subject', 3: 'roleRef:RoleRef' }),
  ClusterRoleBinding: withMeta({ 2: '*subjects:Subject', 3: 'roleRef:RoleRef' }),
  Subject: { 1: 'kind', 2: 'apiGroup', 3: 'name', 4: 'namespace' },
  RoleRef: { 1: 'apiGroup', 2: 'kind', 3: 'name' },

  // authorization.k8s.io/v1 (kubectl auth can-i)
  SelfSubjectAccessReview: withMeta({ 2: 'spec:SelfSubjectAccessReviewSpec', 3: 'status:skip' }),
  SelfSubjectAccessReviewSpec: {
    1: 'resourceAttributes:ResourceAttributes',
    2: 'nonResourceAttributes:NonResourceAttributes',
  },
  ResourceAttributes: {
    1: 'namespace',
    2: 'verb',
    3: 'group',
    4: 'version',
    5: 'resource',
    6: 'subresource',
    7: 'name',
    8: 'fieldSelector:skip',
    9: 'labelSelector:skip',
  },
  NonResourceAttributes: { 1: 'path', 2: 'verb' },
  SelfSubjectRulesReview: withMeta({ 2: 'spec:SelfSubjectRulesReviewSpec', 3: 'status:skip' }),
  SelfSubjectRulesReviewSpec: { 1: 'namespace' },

  // authentication.k8s.io/v1
  TokenRequest: withMeta({ 2: 'spec:TokenRequestSpec', 3: 'status:skip' }),
  TokenRequestSpec: {
    1: '*audiences',
    3: 'boundObjectRef:BoundObjectReference',
    4: 'expirationSeconds:i?',
  },
  BoundObjectReference: { 1: 'kind', 2: 'apiVersion', 3: 'name', 4: 'uid' },
};
