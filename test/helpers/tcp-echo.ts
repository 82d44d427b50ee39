/**
 * Istio's samples/tcp-echo/tcp-echo-services.yaml (not in test/external/istio: written out here
 * in its shape): Deployments and Services tcp-echo-v1 and tcp-echo-v2 (docker.io/istio/tcp-echo-server,
 * v1 prefixes its echo with `one`, v2 with `two`) and the Service tcp-echo (ports 9000, 9001)
 * over both, in namespace `ns`.
 */
export function tcpEchoManifests(ns: string): string {
  return ['v1:one', 'v2:two']
    .map((vp) => {
      const [v, prefix] = vp.split(':') as [string, string];
      return `apiVersion: v1
kind: Service
metadata: {name: tcp-echo-${v}, namespace: ${ns}, labels: {app: tcp-echo, version: ${v}}}
spec: {ports: [{name: tcp, port: 9000}], selector: {app: tcp-echo, version: ${v}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: tcp-echo-${v}, namespace: ${ns}, labels: {app: tcp-echo, version: ${v}}}
spec:
  replicas: 1
  selector: {matchLabels: {app: tcp-echo, version: ${v}}}
  template:
    metadata: {labels: {app: tcp-echo, version: ${v}}}
    spec:
      containers:
      - name: tcp-echo
        image: docker.io/istio/tcp-echo-server:1.3
        imagePullPolicy: IfNotPresent
        args: ["9000,9001,9002", "${prefix}"]
        ports: [{containerPort: 9000}]
---
`;
    })
    .join('').concat(`apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: ${ns}, labels: {app: tcp-echo, service: tcp-echo}}
spec: {ports: [{name: tcp, port: 9000}, {name: tcp-other, port: 9001}], selector: {app: tcp-echo}}
`);
}

/** A TCPRoute sending tcp-echo connections to v1 and v2 by weight, from `parent` (a parentRef, flow YAML). */
export function tcpEchoRoute(ns: string, parent: string, v1: number, v2: number): string {
  return `apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: tcp-echo, namespace: ${ns}}
spec:
  parentRefs: [${parent}]
  rules:
  - backendRefs:
    - {name: tcp-echo-v1, port: 9000, weight: ${v1}}
    - {name: tcp-echo-v2, port: 9000, weight: ${v2}}
`;
}
