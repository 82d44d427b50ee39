/**
 * Field sets, as server-side apply tracks ownership: the set of field paths an object sets,
 * in the `FieldsV1` form of `metadata.managedFields` (`f:<field>`, `k:{"<key>":…}` for an
 * element of a list merged by key, `v:<json>` for an element of a set of scalars, `.` for the
 * node itself). Without the per-type schema of the real server, the shape comes from the same
 * merge keys strategic merge patch uses (`patch.ts`): such lists are associative, scalar
 * sets (finalizers) are sets, every other list and `selector` are atomic (owned whole).
 * String-to-string maps (labels, annotations, data, …) and list elements are owned as a node
 * besides their entries, as in the real server's managed fields.
 */
import { isDeepStrictEqual } from 'node:util';
import { mergeKeyFor, primitiveMergeLists } from './patch.js';

/** One path, its elements joined by SEP. */
export type PathKey = string;
const SEP = '\u0000';

/** Path → whether it is a leaf (a value compared for conflicts) or a node (a map or list element). */
export type FieldSet = Map<PathKey, boolean>;

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Owned whole: a new value replaces the old one (as `x-kubernetes-map-type: atomic`). */
export const atomicFields = new Set(['selector']);
/** Maps of free keys whose node is owned along with its entries. */
const granularMaps = new Set([
  'labels',
  'annotations',
  'data',
  'binaryData',
  'nodeSelector',
  'matchLabels',
  'limits',
  'requests',
]);
/** The metadata fields a manager can own; the rest (name, uid, …) are the server's. */
const ownedMetadata = ['labels', 'annotations', 'ownerReferences', 'finalizers'];

export const splitPath = (p: PathKey): string[] => p.split(SEP);
export const joinPath = (els: string[]): PathKey => els.join(SEP);

/** The key element of a list element, or undefined for lists that are not associative. */
export function keyElement(
  field: string,
  list: readonly unknown[],
  el: unknown,
): string | undefined {
  const key = mergeKeyFor(field, list, []);
  if (!key || !isObj(el) || el[key] === undefined) return undefined;
  return `k:${JSON.stringify({ [key]: el[key] })}`;
}

export function isAssociative(field: string, list: readonly unknown[]): boolean {
  return list.length > 0 && list.every((e) => keyElement(field, list, e) !== undefined);
}

function walk(v: unknown, path: string[], field: string, item: boolean, out: FieldSet): void {
  if (isObj(v)) {
    const keys = Object.keys(v);
    const node = item || granularMaps.has(field);
    // An empty map of entries is a node (its entries may be others'); an empty struct a value.
    if (atomicFields.has(field) || (keys.length === 0 && !node)) {
      out.set(joinPath(path), true);
      return;
    }
    if (node) out.set(joinPath(path), false);
    for (const k of keys) walk(v[k], [...path, `f:${k}`], k, false, out);
    return;
  }
  if (Array.isArray(v)) {
    if (primitiveMergeLists.has(field) && v.length > 0) {
      for (const e of v) out.set(joinPath([...path, `v:${JSON.stringify(e)}`]), true);
      return;
    }
    if (isAssociative(field, v)) {
      for (const e of v) walk(e, [...path, keyElement(field, v, e)!], '', true, out);
      return;
    }
  }
  out.set(joinPath(path), true);
}

/**
 * The fields `o` sets. `part` 'main' leaves out `status` (the kinds with a status subresource
 * write it only there), 'status' takes only `status`, 'all' both.
 */
export function fieldSetOf(o: Record<string, unknown>, part: 'main' | 'status' | 'all'): FieldSet {
  const out: FieldSet = new Map();
  const meta = isObj(o.metadata) ? o.metadata : {};
  if (part !== 'status')
    for (const f of ownedMetadata)
      if (meta[f] !== undefined) walk(meta[f], ['f:metadata', `f:${f}`], f, false, out);
  for (const [k, v] of Object.entries(o)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'metadata') continue;
    if ((part === 'main' && k === 'status') || (part === 'status' && k !== 'status')) continue;
    walk(v, [`f:${k}`], k, false, out);
  }
  return out;
}

/** The value at `path` in `o`, or undefined. */
export function valueAt(o: unknown, path: PathKey): unknown {
  let cur: unknown = o;
  for (const el of splitPath(path)) {
    if (cur === undefined) return undefined;
    if (el.startsWith('f:')) cur = isObj(cur) ? cur[el.slice(2)] : undefined;
    else if (el.startsWith('k:')) {
      const want = JSON.parse(el.slice(2)) as Record<string, unknown>;
      cur = Array.isArray(cur)
        ? cur.find((e) => isObj(e) && Object.entries(want).every(([a, b]) => e[a] === b))
        : undefined;
    } else if (el.startsWith('v:')) {
      const want = JSON.parse(el.slice(2)) as unknown;
      cur = Array.isArray(cur) ? cur.find((e) => isDeepStrictEqual(e, want)) : undefined;
    } else return undefined;
  }
  return cur;
}

/** Removes the field or list element at `path` from `o` (in place), if there. */
export function removeAt(o: Record<string, unknown>, path: PathKey): void {
  const els = splitPath(path);
  const last = els.pop()!;
  const parent = els.length ? valueAt(o, joinPath(els)) : o;
  if (last.startsWith('f:')) {
    if (isObj(parent)) delete parent[last.slice(2)];
    return;
  }
  const target = valueAt(o, path);
  if (!Array.isArray(parent) || target === undefined) return;
  const i = parent.indexOf(target);
  if (i >= 0) parent.splice(i, 1);
}

/** `.spec.template.spec.containers[name="web"].image`: a path as Kubernetes prints it. */
export function pathString(path: PathKey): string {
  return splitPath(path)
    .map((el) => {
      const body = el.slice(2);
      if (el.startsWith('f:')) return `.${body}`;
      if (el.startsWith('v:')) return `[=${body}]`;
      const keys = JSON.parse(body) as Record<string, unknown>;
      return `[${Object.entries(keys)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(',')}]`;
    })
    .join('');
}

type Tree = { [k: string]: Tree };

/** The `fieldsV1` tree of a set of paths (keys sorted, `.` for a node that is itself a member). */
export function toFieldsV1(paths: Iterable<PathKey>): Tree {
  const root: Tree = {};
  const members = new Set<Tree>();
  for (const p of paths) {
    let node = root;
    for (const el of splitPath(p)) node = node[el] ??= {};
    members.add(node);
  }
  const emit = (node: Tree): Tree => {
    const keys = Object.keys(node).sort();
    if (keys.length === 0) return {};
    const out: Tree = {};
    if (members.has(node)) out['.'] = {};
    for (const k of keys) out[k] = emit(node[k]!);
    return out;
  };
  return emit(root);
}

/** The paths of a `fieldsV1` tree. */
export function fromFieldsV1(tree: unknown): Set<PathKey> {
  const out = new Set<PathKey>();
  const visit = (node: unknown, path: string[]): void => {
    if (!isObj(node)) return;
    const keys = Object.keys(node);
    if (keys.length === 0 && path.length) out.add(joinPath(path));
    for (const k of keys) {
      if (k === '.') out.add(joinPath(path));
      else visit(node[k], [...path, k]);
    }
  };
  visit(tree, []);
  return out;
}

/** Whether `p` is `q` or lies under it. */
export const within = (p: PathKey, q: PathKey): boolean => p === q || p.startsWith(q + SEP);
