/** Hand-built workload API resources for xDS tests. */
import type { Authorization, Service, Workload } from '../../src/api/workload.js';

export function workload(
  name: string,
  ip: string,
  node: string,
  over: Partial<Workload> = {},
): Workload {
  return {
    uid: `Kubernetes//Pod/default/${name}`,
    name,
    namespace: 'default',
    addresses: [ip],
    hostname: '',
    network: '',
    tunnelProtocol: 'HBONE',
    trustDomain: 'cluster.local',
    serviceAccount: name.split('-')[0]!,
    node,
    canonicalName: name.split('-')[0]!,
    canonicalRevision: 'v1',
    workloadType: 'deployment',
    workloadName: name.split('-')[0]!,
    nativeTunnel: false,
    services: {},
    authorizationPolicies: [],
    status: 'Healthy',
    clusterId: 'Kubernetes',
    ...over,
  };
}

export function service(name: string, vip: string, port: number, targetPort: number): Service {
  return {
    name,
    namespace: 'default',
    hostname: `${name}.default.svc.cluster.local`,
    addresses: [{ network: '', address: vip }],
    ports: [{ servicePort: port, targetPort }],
    subjectAltNames: [],
  };
}

export function denyPolicy(name: string, ns: string, port: number): Authorization {
  return {
    name,
    namespace: ns,
    scope: 'NAMESPACE',
    action: 'DENY',
    dryRun: false,
    rules: [
      {
        clauses: [
          {
            matches: [
              {
                namespaces: [{ exact: 'foo' }],
                notNamespaces: [],
                principals: [{ suffix: '/sa/sleep' }],
                notPrincipals: [],
                sourceIps: [{ address: '10.244.0.0', length: 16 }],
                notSourceIps: [],
                destinationIps: [],
                notDestinationIps: [],
                destinationPorts: [port],
                notDestinationPorts: [],
              },
            ],
          },
        ],
      },
    ],
  };
}
