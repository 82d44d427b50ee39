/**
 * `metadata.managedFields`: who set which field. Every write records it as the real API
 * server's field manager does: a create, update or patch (operation `Update`) gives its
 * manager the fields it changed and takes them from the others; a server-side apply
 * (operation `Apply`, `apply.ts`) owns exactly the fields of its configuration. Managers are
 * told apart by name, operation, subresource and (for `Update`) API version.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  fieldSetOf,
  fromFieldsV1,
  toFieldsV1,
  valueAt,
  type FieldSet,
  type PathKey,
} from './fieldset.js';
import { kubeTime } from '../../k8s/time.js';

export interface ManagedEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  subresource?: string;
  fields: Set<PathKey>;
}

/** The writer of one request. */
export interface Writer {
  manager: string;
  apiVersion: string;
  subresource?: string;
}

type Obj = { metadata: Record<string, unknown> } & Record<string, unknown>;

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

export function decodeManaged(v: unknown): ManagedEntry[] {
  if (!Array.isArray(v)) return [];
  const out: ManagedEntry[] = [];
  for (const e of v) {
    if (!isObj(e) || typeof e.manager !== 'string' || e.manager === '') continue;
    out.push({
      manager: e.manager,
      operation: e.operation === 'Apply' ? 'Apply' : 'Update',
      apiVersion: typeof e.apiVersion === 'string' ? e.apiVersion : '',
      time: typeof e.time === 'string' ? e.time : undefined,
      subresource: typeof e.subresource === 'string' && e.subresource ? e.subresource : undefined,
      fields: fromFieldsV1(e.fieldsV1),
    });
  }
  return out;
}

export function encodeManaged(entries: ManagedEntry[]): Record<string, unknown>[] {
  return entries
    .filter((e) => e.fields.size > 0)
    .map((e) => ({
      manager: e.manager,
      operation: e.operation,
      apiVersion: e.apiVersion,
      ...(e.time ? { time: e.time } : {}),
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(e.fields),
      ...(e.subresource ? { subresource: e.subresource } : {}),
    }));
}

/** Whether two entries are the same manager (appliers are one whatever version they use). */
export function sameManager(
  a: Pick<ManagedEntry, 'manager' | 'operation' | 'apiVersion' | 'subresource'>,
  b: Pick<ManagedEntry, 'manager' | 'operation' | 'apiVersion' | 'subresource'>,
): boolean {
  return (
    a.manager === b.manager &&
    a.operation === b.operation &&
    (a.operation === 'Apply' || a.apiVersion === b.apiVersion) &&
    (a.subresource ?? '') === (b.subresource ?? '')
  );
}

/** `"kubectl"`, `"kubectl-edit" using apps/v1`: a manager as conflict messages name it. */
export function printManager(e: ManagedEntry): string {
  let s = JSON.stringify(e.manager);
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  return e.operation === 'Update' ? `${s} using ${e.apiVersion}` : s;
}

/** The part of an object a write to `subresource` of a kind can change. */
export function partOf(
  subresource: string | undefined,
  hasStatus: boolean,
): 'main' | 'status' | 'all' {
  if (subresource === 'status') return 'status';
  return hasStatus ? 'main' : 'all';
}

/**
 * The entries a write starts from: the ones the request carries when it sets any (clients may
 * edit managedFields; `[{}]` clears them), else the stored ones (so that clients unaware of
 * managedFields do not drop them).
 */
export function baseEntries(next: Obj, cur: Obj | undefined): ManagedEntry[] {
  const incoming = next.metadata.managedFields;
  if (Array.isArray(incoming) && incoming.length > 0) return decodeManaged(incoming);
  return decodeManaged(cur?.metadata.managedFields);
}

function changedPaths(
  before: FieldSet,
  after: FieldSet,
  cur: unknown,
  next: unknown,
): Set<PathKey> {
  const out = new Set<PathKey>();
  for (const [p, leaf] of after)
    if (!before.has(p) || (leaf && !isDeepStrictEqual(valueAt(cur, p), valueAt(next, p))))
      out.add(p);
  for (const p of before.keys()) if (!after.has(p)) out.add(p);
  return out;
}

/**
 * An `Update` (create, update, patch): `writer` owns the fields this write set or changed,
 * which the other managers lose; fields it removed are no one's. Writes `next`'s managedFields.
 */
export function recordUpdate(
  cur: Obj | undefined,
  next: Obj,
  writer: Writer,
  part: 'main' | 'status' | 'all',
): void {
  const entries = baseEntries(next, cur);
  const after = fieldSetOf(next, part);
  const before = cur ? fieldSetOf(cur, part) : new Map<PathKey, boolean>();
  const changed = changedPaths(before, after, cur, next);
  if (changed.size > 0) {
    const me: ManagedEntry = { ...writer, operation: 'Update', fields: new Set() };
    let mine = entries.find((e) => sameManager(e, me));
    if (!mine) entries.push((mine = me));
    for (const e of entries) if (e !== mine) for (const p of changed) e.fields.delete(p);
    for (const p of changed) {
      if (after.has(p)) mine.fields.add(p);
      else mine.fields.delete(p);
    }
    mine.time = kubeTime();
  }
  const encoded = encodeManaged(entries);
  if (encoded.length) next.metadata.managedFields = encoded;
  else delete next.metadata.managedFields;
}
