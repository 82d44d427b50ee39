/**
 * The kinds this API server serves, with what discovery and kubectl need to know about each:
 * short names, singular name, verbs and subresources.
 */
import { resources, type Resource } from '../../k8s/resources.js';

export interface Kind extends Resource {
  singular: string;
  shortNames: string[];
  /** Subresources with their own handler: status, token. */
  subresources: string[];
  verbs: string[];
  /** Create-only virtual resources (TokenReview) are not stored. */
  virtual?: boolean;
}

const rw = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function kind(
  res: Resource,
  shortNames: string[],
  subresources: string[] = [],
  extra: Partial<Kind> = {},
): Kind {
  return {
    ...res,
    singular: res.kind.toLowerCase(),
    shortNames,
    subresources,
    verbs: rw,
    ...extra,
  };
}

export const kinds: Kind[] = [
  kind(resources.namespaces, ['ns'], ['status']),
  kind(resources.nodes, ['no'], ['status']),
  kind(resources.pods, ['po'], ['status', 'binding', 'log', 'exec', 'attach', 'portforward']),
  kind(resources.services, ['svc'], ['status']),
  kind(resources.endpoints, ['ep']),
  kind(resources.endpointslices, []),
  kind(resources.serviceaccounts, ['sa'], ['token']),
  kind(resources.configmaps, ['cm']),
  kind(resources.secrets, []),
  kind(resources.events, ['ev']),
  kind(resources.deployments, ['deploy'], ['status', 'scale']),
  kind(resources.daemonsets, ['ds'], ['status']),
  kind(resources.authorizationpolicies, [], ['status']),
  kind(resources.peerauthentications, ['pa'], ['status']),
  kind(resources.gateways, ['gtw'], ['status']),
  kind(resources.httproutes, [], ['status']),
  kind(resources.grpcroutes, [], ['status']),
  kind(resources.tokenreviews, [], [], { verbs: ['create'], virtual: true }),
];

export function apiVersionOf(k: Resource): string {
  return k.group ? `${k.group}/${k.version}` : k.version;
}

/** The store's key for a kind: `<group>/<plural>`, group '' for core. */
export function kindKey(k: Resource): string {
  return `${k.group}/${k.plural}`;
}

export function findKind(group: string, version: string, plural: string): Kind | undefined {
  return kinds.find((k) => k.group === group && k.version === version && k.plural === plural);
}

export function kindByKey(key: string): Kind | undefined {
  return kinds.find((k) => kindKey(k) === key);
}

/** Group → versions, in discovery order. */
export function groups(): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const k of kinds) {
    if (!k.group) continue;
    const v = m.get(k.group) ?? [];
    if (!v.includes(k.version)) v.push(k.version);
    m.set(k.group, v);
  }
  return m;
}
