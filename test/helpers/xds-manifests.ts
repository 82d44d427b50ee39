/** Hand-written Kubernetes manifests (the seeds' cluster) for control-plane model tests. */
import { parseAllDocuments } from 'yaml';
import type { Snapshot } from '../../src/controlplane/model/index.js';
import type { KubeObject } from '../../src/k8s/types.js';

export const clusterYaml = `
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Pod
metadata:
  name: httpbin-5984865fdc-qh894
  namespace: default
  uid: uid-httpbin
  annotations: {ambient.istio.io/redirection: enabled}
  labels: {app: httpbin, version: v1, pod-template-hash: 5984865fdc}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: httpbin-5984865fdc, uid: rs1, controller: true}]
spec:
  nodeName: worker
  serviceAccountName: httpbin
  containers: [{name: httpbin, image: ambit/httpbin, ports: [{containerPort: 80, name: http}]}]
status:
  phase: Running
  podIP: 10.244.1.7
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: sleep-7b8d6b5c9f-abcde
  namespace: default
  uid: uid-sleep
  annotations: {ambient.istio.io/redirection: enabled}
  labels: {app: sleep, pod-template-hash: 7b8d6b5c9f}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: sleep-7b8d6b5c9f, uid: rs2, controller: true}]
spec:
  nodeName: worker2
  serviceAccountName: sleep
  containers: [{name: sleep, image: ambit/sleep}]
status:
  phase: Running
  podIP: 10.244.2.8
  conditions: [{type: Ready, status: "False"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: ztunnel-x1
  namespace: istio-system
  uid: uid-zt
  labels: {app: ztunnel}
  annotations: {ambient.istio.io/redirection: disabled}
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: ztunnel, uid: ds1, controller: true}]
spec: {nodeName: worker2, serviceAccountName: ztunnel, containers: [{name: z, image: ambit/ztunnel}]}
status: {phase: Running, podIP: 10.244.2.3, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: old-app, namespace: legacy, uid: uid-old, labels: {app.kubernetes.io/name: oldie, app.kubernetes.io/version: "3"}}
spec: {nodeName: worker, containers: [{name: o, image: nginx}]}
status: {phase: Running, podIP: 10.244.1.9, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: pending, namespace: default, uid: uid-pending}
spec: {nodeName: worker, containers: [{name: p, image: nginx}]}
status: {phase: Pending}
---
apiVersion: v1
kind: Pod
metadata:
  name: nightly-28012345-xyz12
  namespace: default
  uid: uid-cron
  labels: {service.istio.io/canonical-name: nightly-report, service.istio.io/canonical-revision: r7, istio.io/dataplane-mode: none}
  ownerReferences: [{apiVersion: batch/v1, kind: Job, name: nightly-28012345, uid: j1, controller: true}]
spec: {nodeName: worker, containers: [{name: n, image: nginx}]}
status: {phase: Running, podIP: 10.244.1.20, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default}
spec:
  clusterIP: 10.96.0.105
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: http}, {name: tcp-admin, port: 9000, targetPort: 9090}]
---
apiVersion: v1
kind: Service
metadata: {name: external-db, namespace: default}
spec:
  clusterIP: 10.96.0.200
  ports: [{name: db, port: 5432}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: external-db-x7k2p
  namespace: default
  labels: {kubernetes.io/service-name: external-db, endpointslice.kubernetes.io/managed-by: endpointslicemirroring-controller.k8s.io}
addressType: IPv4
endpoints:
- addresses: [10.244.2.8]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: sleep-7b8d6b5c9f-abcde, namespace: default, uid: uid-sleep}
ports: [{name: db, port: 15432, protocol: TCP}]
`;

export function objects(yamlText: string): KubeObject[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => Boolean(o));
}

export function snapshotOf(...yamlTexts: string[]): Snapshot {
  const all = yamlTexts.flatMap(objects);
  const of = <T>(kind: string) => all.filter((o) => o.kind === kind) as T[];
  return {
    namespaces: of('Namespace'),
    pods: of('Pod'),
    services: of('Service'),
    endpointSlices: of('EndpointSlice'),
    serviceAccounts: of('ServiceAccount'),
    policies: of('AuthorizationPolicy'),
    gateways: of('Gateway'),
    deployments: of('Deployment'),
    httpRoutes: of('HTTPRoute'),
    grpcRoutes: of('GRPCRoute'),
    tcpRoutes: of('TCPRoute'),
    referenceGrants: of('ReferenceGrant'),
    secrets: of('Secret'),
    peerAuthentications: of('PeerAuthentication'),
  };
}
