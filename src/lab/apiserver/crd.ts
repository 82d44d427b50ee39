/**
 * CustomResourceDefinitions (apiextensions.k8s.io/v1): what a CRD must say to be accepted, the
 * kinds its served versions add to the catalog (with their schema, subresources, short names,
 * categories and printer columns), and the status the apiextensions controllers write
 * (NamesAccepted and Established, acceptedNames, storedVersions). Objects of every version share
 * one store key; versions convert with strategy None (only apiVersion changes), which is what
 * Gateway API's CRDs declare.
 */
import type { Kind, PrinterColumn } from './catalog.js';
import type { Cause } from './status.js';
import type { Obj } from './store.js';
import { kubeTime } from '../../k8s/time.js';

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
const strs = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [];

const rw = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** Kubernetes' version priority: GA > beta > alpha, higher numbers first (v1 > v1beta2 > v1beta1). */
export function versionPriority(a: string, b: string): number {
  const parse = (v: string): [number, number, number] | undefined => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return undefined;
    return [m[2] === 'alpha' ? 0 : m[2] === 'beta' ? 1 : 2, Number(m[1]), Number(m[3] ?? 0)];
  };
  const pa = parse(a);
  const pb = parse(b);
  if (!pa || !pb) return pa ? -1 : pb ? 1 : a.localeCompare(b);
  return pb[0] - pa[0] || pb[1] - pa[1] || pb[2] - pa[2];
}

/** 422 causes for a CRD that cannot be served. */
export function validateCrd(o: Obj): Cause[] {
  const out: Cause[] = [];
  const spec = isObj(o.spec) ? o.spec : {};
  const names = isObj(spec.names) ? spec.names : {};
  const group = spec.group;
  const req = (field: string): void => {
    out.push({ field, reason: 'FieldValueRequired', message: 'Required value' });
  };
  if (typeof group !== 'string' || !group.includes('.')) {
    out.push({
      field: 'spec.group',
      reason: 'FieldValueInvalid',
      message: `Invalid value: ${JSON.stringify(group ?? '')}: should be a domain with at least one dot`,
    });
  }
  if (typeof names.plural !== 'string' || !names.plural) req('spec.names.plural');
  if (typeof names.kind !== 'string' || !names.kind) req('spec.names.kind');
  if (
    typeof names.plural === 'string' &&
    typeof group === 'string' &&
    o.metadata.name !== `${names.plural}.${group}`
  )
    out.push({
      field: 'metadata.name',
      reason: 'FieldValueInvalid',
      message: `Invalid value: "${o.metadata.name}": must be spec.names.plural+"."+spec.group`,
    });
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster')
    out.push({
      field: 'spec.scope',
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: ${JSON.stringify(spec.scope ?? '')}: supported values: "Cluster", "Namespaced"`,
    });
  const versions = Array.isArray(spec.versions) ? spec.versions.filter(isObj) : [];
  if (versions.length === 0) req('spec.versions');
  if (versions.filter((v) => v.storage === true).length !== 1)
    out.push({
      field: 'spec.versions',
      reason: 'FieldValueInvalid',
      message: 'Invalid value: must have exactly one version marked as storage version',
    });
  versions.forEach((v, i) => {
    const schema = isObj(v.schema) ? v.schema.openAPIV3Schema : undefined;
    if (!isObj(schema)) req(`spec.versions[${i}].schema.openAPIV3Schema`);
    else if (schema.type !== 'object')
      out.push({
        field: `spec.versions[${i}].schema.openAPIV3Schema.type`,
        reason: 'FieldValueRequired',
        message: 'Required value: must be object at the root',
      });
  });
  return out;
}

/** The catalog kinds of a CRD's served versions, highest-priority version first. */
export function crdKinds(crd: Obj): Kind[] {
  const spec = isObj(crd.spec) ? crd.spec : {};
  const names = isObj(spec.names) ? spec.names : {};
  const versions = (Array.isArray(spec.versions) ? spec.versions.filter(isObj) : [])
    .filter((v) => v.served === true && typeof v.name === 'string')
    .sort((a, b) => versionPriority(String(a.name), String(b.name)));
  return versions.map((v) => {
    const subs = isObj(v.subresources) ? v.subresources : {};
    const schema =
      isObj(v.schema) && isObj(v.schema.openAPIV3Schema) ? v.schema.openAPIV3Schema : {};
    const cols = Array.isArray(v.additionalPrinterColumns)
      ? (v.additionalPrinterColumns.filter(isObj) as unknown as PrinterColumn[])
      : [];
    return {
      group: String(spec.group),
      version: String(v.name),
      plural: String(names.plural),
      kind: String(names.kind),
      namespaced: spec.scope === 'Namespaced',
      singular:
        typeof names.singular === 'string' && names.singular
          ? names.singular
          : String(names.kind).toLowerCase(),
      shortNames: strs(names.shortNames),
      categories: strs(names.categories),
      subresources: [
        ...(isObj(subs.status) ? ['status'] : []),
        ...(isObj(subs.scale) ? ['scale'] : []),
      ],
      verbs: rw,
      crd: crd.metadata.name,
      schema,
      printerColumns: cols,
    } satisfies Kind;
  });
}

/** The status apiextensions' controllers give an accepted, established CRD. */
export function crdStatus(crd: Obj, prev: unknown): Record<string, unknown> {
  const spec = isObj(crd.spec) ? crd.spec : {};
  const old = isObj(prev) ? prev : {};
  const oldConds = Array.isArray(old.conditions) ? old.conditions.filter(isObj) : [];
  const cond = (type: string, reason: string, message: string): Record<string, unknown> => ({
    type,
    status: 'True',
    lastTransitionTime:
      oldConds.find((c) => c.type === type && c.status === 'True')?.lastTransitionTime ??
      kubeTime(),
    reason,
    message,
  });
  const storage = (Array.isArray(spec.versions) ? spec.versions.filter(isObj) : []).find(
    (v) => v.storage === true,
  )?.name;
  const stored = new Set([
    ...strs(old.storedVersions),
    ...(typeof storage === 'string' ? [storage] : []),
  ]);
  return {
    conditions: [
      cond('NamesAccepted', 'NoConflicts', 'no conflicts found'),
      cond('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
    ],
    acceptedNames: spec.names,
    storedVersions: [...stored],
  };
}
