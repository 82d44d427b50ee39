/**
 * The Gateway API mesh conformance base manifests (docs/istio/gamma-conformance.md §2, v1.6.1):
 * namespace gateway-conformance-mesh with Deployments echo-v1/echo-v2 and Services echo, echo-v1,
 * echo-v2 (ports http 80, http-alt 8080, https 443, tcp 9090, grpc 7070), and namespace
 * gateway-conformance-mesh-consumer with a lone echo-v1. Both are enrolled the way Istio's ambient
 * run does it (`istio.io/dataplane-mode=ambient`); the waypoint is added by the test.
 */
export const MESH_NS = 'gateway-conformance-mesh';
export const CONSUMER_NS = 'gateway-conformance-mesh-consumer';
export const ECHO_IMAGE = 'registry.k8s.io/gateway-api/echo-advanced:v1.5.1';

const ARGS =
  '["--tcp=9090", "--port=8080", "--grpc=7070", "--port=8443", "--tls=8443", "--crt=/cert.crt", "--key=/cert.key"]';

function namespace(name: string, label: string): string {
  return `apiVersion: v1
kind: Namespace
metadata:
  name: ${name}
  labels: {gateway-conformance: ${label}, istio.io/dataplane-mode: ambient}
`;
}

function deployment(ns: string, version: string, args: string | undefined): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: {name: echo-${version}, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: echo, version: ${version}}}
  template:
    metadata: {labels: {app: echo, version: ${version}}}
    spec:
      containers:
      - name: echo
        image: ${ECHO_IMAGE}
        imagePullPolicy: IfNotPresent${args ? `\n        args: ${args}` : ''}
`;
}

function service(name: string, selector: string): string {
  return `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${MESH_NS}}
spec:
  selector: {${selector}}
  ports:
  - {name: http, port: 80, targetPort: 8080, appProtocol: http}
  - {name: http-alt, port: 8080, targetPort: 8080, appProtocol: http}
  - {name: https, port: 443, targetPort: 8443}
  - {name: tcp, port: 9090, targetPort: 9090}
  - {name: grpc, port: 7070, targetPort: 7070, appProtocol: grpc}
`;
}

export const baseManifests = [
  namespace(MESH_NS, 'mesh'),
  namespace(CONSUMER_NS, 'mesh-consumer'),
  deployment(MESH_NS, 'v1', ARGS),
  deployment(MESH_NS, 'v2', ARGS),
  service('echo', 'app: echo'),
  service('echo-v1', 'app: echo, version: v1'),
  service('echo-v2', 'app: echo, version: v2'),
  deployment(CONSUMER_NS, 'v1', undefined),
].join('---\n');
