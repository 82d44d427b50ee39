/**
 * Builders for workload-API objects, for tests and static local configs (ztunnel's
 * workload_builder / service_builder). Not used on any production path.
 */
import type { Authorization, Match, Rule, Service, Workload } from '../api/workload.js';
import { emptyMatch } from '../api/workload.js';

export function workload(
  name: string,
  ip: string,
  node: string,
  o: Partial<Workload> = {},
): Workload {
  const namespace = o.namespace ?? 'default';
  return {
    uid: `Kubernetes//Pod/${namespace}/${name}`,
    name,
    namespace,
    addresses: [ip],
    hostname: '',
    network: '',
    tunnelProtocol: 'HBONE',
    trustDomain: 'cluster.local',
    serviceAccount: name,
    node,
    canonicalName: name,
    canonicalRevision: 'v1',
    workloadType: 'pod',
    workloadName: name,
    nativeTunnel: false,
    services: {},
    authorizationPolicies: [],
    status: 'Healthy',
    clusterId: 'Kubernetes',
    ...o,
  };
}

export function service(
  name: string,
  vip: string,
  ports: [number, number][],
  o: Partial<Service> = {},
): Service {
  const namespace = o.namespace ?? 'default';
  return {
    name,
    namespace,
    hostname: `${name}.${namespace}.svc.cluster.local`,
    addresses: [{ network: '', address: vip }],
    ports: ports.map(([servicePort, targetPort]) => ({ servicePort, targetPort })),
    subjectAltNames: [],
    ...o,
  };
}

/** Marks `w` as an endpoint of `svc` (with the service's own port map). */
export function selectedBy(w: Workload, svc: Service): Workload {
  return {
    ...w,
    services: {
      ...w.services,
      [`${svc.namespace}/${svc.hostname}`]: {
        ports: svc.ports.map((p) => ({ servicePort: p.servicePort, targetPort: p.targetPort })),
      },
    },
  };
}

export function match(m: Partial<Match>): Match {
  return emptyMatch(m);
}

/** A rule from clauses given as lists of matches (clauses AND-ed, matches OR-ed). */
export function rule(...clauses: Partial<Match>[][]): Rule {
  return { clauses: clauses.map((ms) => ({ matches: ms.map(match) })) };
}

export function policy(
  name: string,
  action: 'ALLOW' | 'DENY',
  rules: Rule[],
  o: Partial<Authorization> = {},
): Authorization {
  return {
    name,
    namespace: 'default',
    scope: 'NAMESPACE',
    action,
    rules,
    dryRun: false,
    ...o,
  };
}
