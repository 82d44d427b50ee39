/**
 * The one set of manifests `ambit install` applies and `ambit manifest generate` prints (the
 * counterpart of `istioctl install --set profile=ambient`): namespace, Istio's security CRD,
 * service accounts and RBAC, istiod (Deployment + Service), the node agent as the istio-cni
 * DaemonSet (host network, privileged: it writes iptables/ipset/routes in the node and pod
 * namespaces and chains the CNI plugin) and ztunnel as a DaemonSet. One image,
 * `<hub>/ambit:<tag>`, whose entrypoint is `ambit`; each container's args name the component.
 * The lab runs the same objects: its kubelet knows the image, and reads `lab.ambit.dev/*`
 * annotations that a real cluster ignores (ztunnel at .3 of each node's pod CIDR).
 */
import { scrapeAnnotations } from '../api/labels.js';
import type { KubeObject } from '../k8s/types.js';
import type { InstallValues } from './values.js';
import { proxyRuntimeEnv } from '../runtime/env.js';

type Obj = KubeObject & Record<string, unknown>;

const rule = (apiGroups: string[], resources: string[], verbs: string[]) => ({
  apiGroups,
  resources,
  verbs,
});
const READ = ['get', 'list', 'watch'];

function authorizationPolicyCrd(): Obj {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'authorizationpolicies.security.istio.io', labels: { app: 'istio-pilot' } },
    spec: {
      group: 'security.istio.io',
      names: {
        kind: 'AuthorizationPolicy',
        listKind: 'AuthorizationPolicyList',
        plural: 'authorizationpolicies',
        singular: 'authorizationpolicy',
        categories: ['istio-io', 'security-istio-io'],
      },
      scope: 'Namespaced',
      versions: ['v1', 'v1beta1'].map((name) => ({
        name,
        served: true,
        storage: name === 'v1',
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      })),
    },
  };
}

export function generateManifests(v: InstallValues): Obj[] {
  const ns = v.namespace;
  const image = `${v.hub}/ambit:${v.tag}`;
  const labels = (app: string) => ({ app, 'app.kubernetes.io/part-of': 'ambit' });
  const sa = (name: string): Obj => ({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name, namespace: ns, labels: labels(name) },
  });
  const clusterRole = (name: string, rules: unknown[]): Obj[] => [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: `${name}-${ns}`, labels: labels(name) },
      rules,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `${name}-${ns}`, labels: labels(name) },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: `${name}-${ns}`,
      },
      subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
    },
  ];
  const nodeEnv = [
    { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'INSTANCE_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
  ];
  const everywhere = [{ operator: 'Exists' }];

  const istiodAnnotations = v.lab.istiodIP ? { 'lab.ambit.dev/ip': v.lab.istiodIP } : undefined;
  const objs: Obj[] = [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, labels: { 'istio-injection': 'disabled' } },
    },
    ...(v.crds ? [authorizationPolicyCrd()] : []),
    sa('istiod'),
    sa('istio-cni'),
    sa('ztunnel'),
    ...clusterRole('istiod', [
      rule([''], ['pods', 'services', 'endpoints', 'namespaces', 'nodes', 'serviceaccounts'], READ),
      rule(['discovery.k8s.io'], ['endpointslices'], READ),
      rule([''], ['configmaps'], [...READ, 'create', 'update', 'patch']),
      // Ingress Gateways' HTTPS listeners name kubernetes.io/tls Secrets (certificateRefs).
      rule([''], ['secrets'], READ),
      rule([''], ['services', 'serviceaccounts'], ['create', 'update', 'patch', 'delete']),
      rule(['apps'], ['deployments'], [...READ, 'create', 'update', 'patch', 'delete']),
      rule([''], ['events'], ['create', 'patch']),
      rule(['authentication.k8s.io'], ['tokenreviews'], ['create']),
      rule(['security.istio.io'], ['authorizationpolicies', 'peerauthentications'], READ),
      rule(['security.istio.io'], ['authorizationpolicies/status'], ['update', 'patch']),
      rule(
        ['gateway.networking.k8s.io'],
        ['gateways', 'httproutes', 'grpcroutes', 'tcproutes', 'referencegrants', 'gatewayclasses'],
        READ,
      ),
      rule(
        ['gateway.networking.k8s.io'],
        [
          'gateways/status',
          'httproutes/status',
          'grpcroutes/status',
          'tcproutes/status',
          'gatewayclasses/status',
        ],
        ['update', 'patch'],
      ),
    ]),
    // The agent annotates the pods it captures, and on stop checks whether its DaemonSet is gone.
    ...clusterRole('istio-cni', [
      rule([''], ['pods', 'namespaces', 'nodes'], READ),
      rule([''], ['pods'], ['patch']),
      rule(['apps'], ['daemonsets'], ['get']),
    ]),
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'istio', namespace: ns, labels: labels('istiod') },
      data: { mesh: 'trustDomain: cluster.local\ndefaultConfig: {}\n' },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'istiod', namespace: ns, labels: { ...labels('istiod'), istio: 'pilot' } },
      spec: {
        selector: { app: 'istiod' },
        ports: [
          { name: 'grpc-xds', port: 15012, targetPort: 15012, protocol: 'TCP' },
          { name: 'http-monitoring', port: 15014, targetPort: 15014, protocol: 'TCP' },
        ],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'istiod', namespace: ns, labels: { ...labels('istiod'), istio: 'pilot' } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'istiod' } },
        template: {
          metadata: {
            labels: { app: 'istiod', istio: 'pilot', 'sidecar.istio.io/inject': 'false' },
            ...(istiodAnnotations ? { annotations: istiodAnnotations } : {}),
          },
          spec: {
            serviceAccountName: 'istiod',
            ...(v.lab.istiodNode
              ? { nodeSelector: { 'kubernetes.io/hostname': v.lab.istiodNode } }
              : {}),
            tolerations: [
              {
                key: 'node-role.kubernetes.io/control-plane',
                operator: 'Exists',
                effect: 'NoSchedule',
              },
            ],
            containers: [
              {
                name: 'discovery',
                image,
                args: ['controlplane'],
                env: nodeEnv,
                ports: [{ containerPort: 15012 }, { containerPort: 15014 }],
                readinessProbe: { tcpSocket: { port: 15012 } },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: {
        name: 'istio-cni-node',
        namespace: ns,
        labels: { ...labels('istio-cni-node'), 'k8s-app': 'istio-cni-node' },
      },
      spec: {
        selector: { matchLabels: { 'k8s-app': 'istio-cni-node' } },
        // Said explicitly (Kubernetes' default), so `kubectl rollout status` can follow it.
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
        template: {
          metadata: {
            labels: { 'k8s-app': 'istio-cni-node', 'sidecar.istio.io/inject': 'false' },
            annotations: {
              'ambient.istio.io/redirection': 'disabled',
              // Read by the ambit lab only: pods named after their node (istio-cni-node-worker2).
              'lab.ambit.dev/pod-name': 'node',
            },
          },
          spec: {
            hostNetwork: true,
            serviceAccountName: 'istio-cni',
            priorityClassName: 'system-node-critical',
            terminationGracePeriodSeconds: 10,
            tolerations: everywhere,
            containers: [
              {
                name: 'install-cni',
                image,
                args: ['cni', 'run', ...(v.ebpfTproxy ? ['--ebpf-tproxy', v.ebpfTproxy] : [])],
                env: [
                  ...nodeEnv,
                  ...(v.redirect ? [{ name: 'AMBIT_REDIRECT_MODE', value: v.redirect }] : []),
                ],
                // iptables, ipset, routes and links in the node's and pods' network
                // namespaces (setns needs SYS_ADMIN), and the CNI plugin binary and config.
                securityContext: { privileged: true },
                volumeMounts: [
                  { name: 'cni-bin-dir', mountPath: '/host/opt/cni/bin' },
                  { name: 'cni-net-dir', mountPath: '/host/etc/cni/net.d' },
                  {
                    name: 'netns',
                    mountPath: '/var/run/netns',
                    mountPropagation: 'HostToContainer',
                  },
                  { name: 'ambit-run', mountPath: '/var/run/ambit' },
                ],
              },
            ],
            volumes: [
              { name: 'cni-bin-dir', hostPath: { path: '/opt/cni/bin' } },
              { name: 'cni-net-dir', hostPath: { path: '/etc/cni/net.d' } },
              { name: 'netns', hostPath: { path: '/var/run/netns' } },
              {
                name: 'ambit-run',
                hostPath: { path: '/var/run/ambit', type: 'DirectoryOrCreate' },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'ztunnel', namespace: ns, labels: labels('ztunnel') },
      spec: {
        selector: { matchLabels: { app: 'ztunnel' } },
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
        template: {
          metadata: {
            labels: { app: 'ztunnel', 'sidecar.istio.io/inject': 'false' },
            annotations: {
              'ambient.istio.io/redirection': 'disabled',
              ...scrapeAnnotations(15020),
              // Read by the ambit lab only: the seeds' address, .3 of each node's pod CIDR.
              'lab.ambit.dev/ip-offset': '3',
              'lab.ambit.dev/pod-name': 'node',
            },
          },
          spec: {
            serviceAccountName: 'ztunnel',
            priorityClassName: 'system-node-critical',
            terminationGracePeriodSeconds: 10,
            tolerations: everywhere,
            containers: [
              {
                name: 'istio-proxy',
                image,
                args: ['ztunnel'],
                env: [
                  ...nodeEnv,
                  { name: 'DNS_CAPTURE', value: String(v.dnsCapture) },
                  { name: 'XDS_ADDRESS', value: `istiod.${ns}.svc:15012` },
                  { name: 'CA_ROOT_CA', value: '/var/run/secrets/istio/root-cert.pem' },
                  ...proxyRuntimeEnv(),
                ],
                ports: [
                  { containerPort: 15008, name: 'hbone' },
                  { containerPort: 15020, name: 'metrics' },
                ],
                readinessProbe: { httpGet: { path: '/healthz/ready', port: 15021 } },
                // TPROXY listeners (IP_TRANSPARENT), spoofed-source connects, the DNS proxy.
                securityContext: {
                  capabilities: { add: ['NET_ADMIN', 'SYS_ADMIN', 'NET_RAW'], drop: ['ALL'] },
                  runAsUser: 0,
                },
                volumeMounts: [{ name: 'istio-ca-root-cert', mountPath: '/var/run/secrets/istio' }],
              },
            ],
            volumes: [{ name: 'istio-ca-root-cert', configMap: { name: 'istio-ca-root-cert' } }],
          },
        },
      },
    },
  ];
  return objs;
}
