/**
 * Server-side apply (`PATCH` with `application/apply-patch+yaml`, `kubectl apply
 * --server-side`): the request is the manager's whole intent for the object. Its fields are
 * merged into the live object; a field another manager owns with a different value is a
 * conflict (409 with one cause per field, as kube-apiserver answers) unless `force=true`,
 * which takes it over; fields the manager applied before and no longer applies are removed
 * when no one else owns them. A missing object is created.
 */
import { isDeepStrictEqual } from 'node:util';
import { apiVersionOf, type Kind } from './catalog.js';
import {
  atomicFields,
  fieldSetOf,
  isAssociative,
  keyElement,
  pathString,
  removeAt,
  splitPath,
  valueAt,
  within,
  type PathKey,
} from './fieldset.js';
import { kubeTime } from '../../k8s/time.js';
import {
  decodeManaged,
  encodeManaged,
  partOf,
  printManager,
  sameManager,
  type ManagedEntry,
} from './managed-fields.js';
import { primitiveMergeLists } from './patch.js';
import type { Registry, WriteOptions } from './registry.js';
import { ApiError, badRequest } from './status.js';
import type { Obj } from './store.js';

export interface ApplyOptions extends WriteOptions {
  fieldManager: string;
  force?: boolean;
  subresource?: string;
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** The applied configuration merged into the live value: maps by key, keyed lists by key. */
function mergeValue(live: unknown, applied: unknown, field: string): unknown {
  if (isObj(applied) && isObj(live) && !atomicFields.has(field)) {
    const out: Record<string, unknown> = { ...live };
    for (const [k, v] of Object.entries(applied)) out[k] = mergeValue(live[k], v, k);
    return out;
  }
  if (Array.isArray(applied) && Array.isArray(live)) {
    if (primitiveMergeLists.has(field))
      return [...live, ...applied.filter((e) => !live.some((l) => isDeepStrictEqual(l, e)))];
    if (isAssociative(field, applied) && (live.length === 0 || isAssociative(field, live))) {
      const out = [...live];
      for (const e of applied) {
        const key = keyElement(field, applied, e)!;
        const i = out.findIndex((l) => keyElement(field, live, l) === key);
        if (i >= 0) out[i] = mergeValue(out[i], e, '');
        else out.push(structuredClone(e));
      }
      return out;
    }
  }
  return structuredClone(applied);
}

interface Conflict {
  owner: ManagedEntry;
  path: PathKey;
}

/** kube-apiserver's apply conflict: 409 Conflict, a cause per field naming its manager. */
export function applyConflict(conflicts: Conflict[]): ApiError {
  const causes = conflicts.map((c) => ({
    reason: 'FieldManagerConflict',
    message: `conflict with ${printManager(c.owner)}`,
    field: pathString(c.path),
  }));
  let message: string;
  if (conflicts.length === 1) {
    const c = conflicts[0]!;
    message = `Apply failed with 1 conflict: conflict with ${printManager(c.owner)}: ${pathString(c.path)}`;
  } else {
    const by = new Map<string, string[]>();
    for (const c of conflicts) {
      const m = printManager(c.owner);
      by.set(m, [...(by.get(m) ?? []), pathString(c.path)]);
    }
    const lines: string[] = [];
    for (const m of [...by.keys()].sort()) {
      lines.push(`conflicts with ${m}:`);
      for (const p of by.get(m)!) lines.push(`- ${p}`);
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
  }
  return new ApiError(409, 'Conflict', message, { causes });
}

/** Applies `body` as `opts.fieldManager`; the stored (or dry-run) object and 200 or 201. */
export function serverSideApply(
  registry: Registry,
  k: Kind,
  ns: string | undefined,
  name: string,
  body: unknown,
  opts: ApplyOptions,
): { code: number; object: Obj } {
  if (!isObj(body)) throw badRequest('the apply configuration must be an object');
  if (body.apiVersion === undefined || body.kind === undefined)
    throw badRequest('apiVersion and kind are required in an apply configuration');
  const applied = structuredClone(body) as Obj;
  if (!isObj(applied.metadata)) applied.metadata = { name };
  if (applied.metadata.name !== undefined && applied.metadata.name !== name)
    throw badRequest(
      `the name of the object (${String(applied.metadata.name)}) does not match the name on the URL (${name})`,
    );
  applied.metadata.name = name;
  if (Array.isArray(applied.metadata.managedFields))
    throw badRequest('metadata.managedFields must be nil in an apply configuration');
  const part = partOf(opts.subresource, k.subresources.includes('status'));
  const me: ManagedEntry = {
    manager: opts.fieldManager,
    operation: 'Apply',
    apiVersion: apiVersionOf(k),
    subresource: opts.subresource,
    fields: new Set(fieldSetOf(applied, part).keys()),
    time: kubeTime(),
  };
  const live = registry.find(k, ns, name);
  if (!live) {
    if (opts.subresource) throw registry.notFoundError(k, name);
    applied.metadata.managedFields = encodeManaged([me]);
    return {
      code: 201,
      object: registry.create(k, ns, applied, { ...opts, managedFieldsFinal: true }),
    };
  }

  const entries = decodeManaged(live.metadata.managedFields);
  const appliedSet = fieldSetOf(applied, part);
  const conflicts: Conflict[] = [];
  for (const owner of entries) {
    if (sameManager(owner, me)) continue;
    for (const p of owner.fields) {
      if (appliedSet.get(p) !== true) continue;
      if (!isDeepStrictEqual(valueAt(live, p), valueAt(applied, p)))
        conflicts.push({ owner, path: p });
    }
  }
  conflicts.sort((a, b) => (pathString(a.path) < pathString(b.path) ? -1 : 1));
  if (conflicts.length && !opts.force) throw applyConflict(conflicts);
  for (const c of conflicts) c.owner.fields.delete(c.path);

  const merged = mergeValue(live, applied, '') as Obj;
  const previous = entries.find((e) => sameManager(e, me));
  const others = entries.filter((e) => e !== previous);
  const dropped = [...(previous?.fields ?? [])]
    .filter((p) => !me.fields.has(p))
    .filter((p) => !others.some((e) => [...e.fields].some((q) => within(q, p))))
    .sort((a, b) => splitPath(b).length - splitPath(a).length);
  for (const p of dropped) removeAt(merged, p);

  const unchanged =
    previous !== undefined &&
    isDeepStrictEqual([...previous.fields].sort(), [...me.fields].sort()) &&
    isDeepStrictEqual({ ...merged, metadata: {} }, { ...live, metadata: {} }) &&
    isDeepStrictEqual(merged.metadata, live.metadata);
  if (unchanged) me.time = previous.time;
  const next = previous ? entries.map((e) => (e === previous ? me : e)) : [...entries, me];
  merged.metadata.managedFields = encodeManaged(next);
  const object = registry.update(k, ns, name, merged, { ...opts, managedFieldsFinal: true });
  return { code: 200, object };
}
