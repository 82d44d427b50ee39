/**
 * The kinds this API server serves, with what discovery and kubectl need to know about each:
 * short names, singular name, verbs and subresources. Built-in kinds are fixed; the kinds of
 * CustomResourceDefinitions are added and removed as CRDs come and go (`registerCrd`).
 */
import { resources, type Resource } from '../../k8s/resources.js';

/** A CRD version's additionalPrinterColumns entry. */
export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  format?: string;
  description?: string;
  priority?: number;
}

export interface Kind extends Resource {
  singular: string;
  shortNames: string[];
  /** Subresources with their own handler: status, token. */
  subresources: string[];
  verbs: string[];
  /** Create-only virtual resources (TokenReview) are not stored. */
  virtual?: boolean;
  categories?: string[];
  /** The CustomResourceDefinition that defines this kind (custom resources only). */
  crd?: string;
  /** The CRD version's openAPIV3Schema. */
  schema?: Record<string, unknown>;
  printerColumns?: PrinterColumn[];
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
  // RBAC objects, enforced by rbac.ts when the server runs with `rbac` (the lab daemon does).
  kind(resources.clusterroles, []),
  kind(resources.clusterrolebindings, []),
  kind(resources.roles, []),
  kind(resources.rolebindings, []),
  kind(resources.authorizationpolicies, [], ['status']),
  kind(resources.peerauthentications, ['pa'], ['status']),
  kind(resources.customresourcedefinitions, ['crd', 'crds'], ['status']),
  kind(resources.tokenreviews, [], [], { verbs: ['create'], virtual: true }),
  kind(resources.subjectaccessreviews, [], [], { verbs: ['create'], virtual: true }),
  kind(resources.selfsubjectaccessreviews, [], [], { verbs: ['create'], virtual: true }),
  kind(resources.selfsubjectrulesreviews, [], [], { verbs: ['create'], virtual: true }),
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

/** Serves `crdKinds` (a CRD's served versions) in place of what that CRD served before. */
export function registerCrd(name: string, crdKinds: Kind[]): void {
  unregisterCrd(name);
  kinds.push(...crdKinds);
  catalogGeneration++;
}

export function unregisterCrd(name: string): void {
  for (let i = kinds.length - 1; i >= 0; i--) if (kinds[i]!.crd === name) kinds.splice(i, 1);
  catalogGeneration++;
}

/** Bumped on every CRD change, so caches of discovery and OpenAPI documents know to rebuild. */
export let catalogGeneration = 0;

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
