/**
 * The three PATCH flavours of the Kubernetes API:
 * - JSON merge patch (RFC 7386): maps merge, null deletes, lists replace;
 * - strategic merge patch: like merge, but lists of named things (containers, ports, env,
 *   volumes, conditions …) merge by their key, plus the directives kubectl sends
 *   (`$patch`, `$setElementOrder/…`, `$retainKeys`, `$deleteFromPrimitiveList/…`);
 * - JSON patch (RFC 6902): add, remove, replace, move, copy, test.
 */
import { badRequest, ApiError } from './status.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

const clone = <T>(v: T): T => structuredClone(v);

export function mergePatch(target: unknown, patch: unknown): Json {
  if (!isObj(patch)) return clone(patch as Json);
  const out: Obj = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Field name → merge key, as in the Kubernetes types' `patchMergeKey` tags. */
const mergeKeys: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  ownerReferences: 'uid',
  conditions: 'type',
  addresses: 'type',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  containerStatuses: 'name',
};

/** Lists of scalars that merge as sets. */
export const primitiveMergeLists = new Set(['finalizers']);

/** The merge key of the list `field` (its `patchMergeKey`), from its elements when it depends on them. */
export function mergeKeyFor(
  field: string,
  a: readonly unknown[] | undefined,
  b: readonly unknown[],
): string | undefined {
  if (field === 'ports') {
    const all = [...(a ?? []), ...b];
    return all.some((e) => isObj(e) && 'containerPort' in e) ? 'containerPort' : 'port';
  }
  return mergeKeys[field];
}

export function strategicMergePatch(target: unknown, patch: unknown): Json {
  if (!isObj(patch)) return clone(patch as Json);
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return clone(rest);
  }
  if (patch.$patch === 'delete') return null;
  const out: Obj = isObj(target) ? clone(target) : {};
  const orders: [string, Json[]][] = [];
  let retain: string[] | undefined;
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch') continue;
    if (k === '$retainKeys') {
      retain = Array.isArray(v) ? v.map(String) : undefined;
      continue;
    }
    if (k.startsWith('$setElementOrder/')) {
      if (Array.isArray(v)) orders.push([k.slice('$setElementOrder/'.length), v]);
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const f = k.slice('$deleteFromPrimitiveList/'.length);
      const cur = out[f];
      if (Array.isArray(cur) && Array.isArray(v))
        out[f] = cur.filter((x) => !v.some((d) => d === x));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const cur = out[k];
    if (Array.isArray(v)) out[k] = mergeList(k, Array.isArray(cur) ? cur : undefined, v);
    else if (isObj(v)) {
      const merged = strategicMergePatch(cur, v);
      if (merged === null) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  for (const [field, order] of orders) {
    const list = out[field];
    if (Array.isArray(list)) out[field] = applyOrder(field, list, order);
  }
  if (retain) for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  return out;
}

function mergeList(field: string, cur: Json[] | undefined, patch: Json[]): Json[] {
  if (patch.some((e) => isObj(e) && e.$patch === 'replace' && Object.keys(e).length === 1)) {
    return clone(patch.filter((e) => !(isObj(e) && e.$patch === 'replace')));
  }
  if (primitiveMergeLists.has(field)) {
    const out = [...(cur ?? [])];
    for (const e of patch) if (!out.includes(e)) out.push(e);
    return out;
  }
  const key = mergeKeyFor(field, cur, patch);
  if (!key || !patch.every(isObj)) return clone(patch);
  const out = clone(cur ?? []);
  for (const e of patch as Obj[]) {
    const idx = out.findIndex((o) => isObj(o) && o[key] === e[key]);
    if (e.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMergePatch(out[idx], e);
    else out.push(strategicMergePatch({}, e));
  }
  return out;
}

/** `$setElementOrder`: the listed elements first in that order, any others after. */
function applyOrder(field: string, list: Json[], order: Json[]): Json[] {
  const key = mergeKeyFor(field, list, []) ?? (primitiveMergeLists.has(field) ? '' : undefined);
  if (key === undefined) return list;
  const keyOf = (e: Json): Json => (key === '' ? e : isObj(e) ? (e[key] ?? null) : e);
  const rest = [...list];
  const out: Json[] = [];
  for (const o of order) {
    const want = keyOf(o);
    const i = rest.findIndex((e) => keyOf(e) === want);
    if (i >= 0) out.push(...rest.splice(i, 1));
  }
  return [...out, ...rest];
}

interface Op {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw badRequest(`json patch: invalid path "${path}"`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, parts: string[], path: string): [Json, string] {
  let cur = doc;
  for (const p of parts.slice(0, -1)) {
    const next: Json | undefined = Array.isArray(cur)
      ? cur[Number(p)]
      : isObj(cur)
        ? cur[p]
        : undefined;
    if (next === undefined) throw badRequest(`json patch: path "${path}" does not exist`);
    cur = next;
  }
  return [cur, parts[parts.length - 1]!];
}

function getAt(doc: Json, path: string): Json {
  const parts = pointer(path);
  if (parts.length === 0) return doc;
  const [parent, last] = parentOf(doc, parts, path);
  const v = Array.isArray(parent) ? parent[Number(last)] : isObj(parent) ? parent[last] : undefined;
  if (v === undefined) throw badRequest(`json patch: path "${path}" does not exist`);
  return v;
}

function removeAt(doc: Json, path: string): Json {
  const parts = pointer(path);
  const [parent, last] = parentOf(doc, parts, path);
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (!Number.isInteger(i) || i < 0 || i >= parent.length)
      throw badRequest(`json patch: no element at "${path}"`);
    return parent.splice(i, 1)[0]!;
  }
  if (!isObj(parent) || !(last in parent))
    throw badRequest(`json patch: path "${path}" does not exist`);
  const v = parent[last]!;
  delete parent[last];
  return v;
}

function addAt(doc: Json, path: string, value: Json, replace: boolean): Json {
  const parts = pointer(path);
  if (parts.length === 0) return value;
  const [parent, last] = parentOf(doc, parts, path);
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : Number(last);
    if (!Number.isInteger(i) || i < 0 || i > parent.length || (replace && i >= parent.length))
      throw badRequest(`json patch: bad array index in "${path}"`);
    parent.splice(i, replace ? 1 : 0, value);
  } else if (isObj(parent)) {
    if (replace && !(last in parent)) throw badRequest(`json patch: path "${path}" does not exist`);
    parent[last] = value;
  } else throw badRequest(`json patch: parent of "${path}" is not a container`);
  return doc;
}

export function jsonPatch(target: unknown, ops: unknown): Json {
  if (!Array.isArray(ops)) throw badRequest('json patch: body must be a JSON array of operations');
  let doc = clone(target as Json);
  for (const raw of ops as Op[]) {
    if (!isObj(raw as unknown) || typeof raw.path !== 'string')
      throw badRequest('json patch: each operation needs "op" and "path"');
    switch (raw.op) {
      case 'add':
        doc = addAt(doc, raw.path, clone(raw.value ?? null), false);
        break;
      case 'replace':
        doc = addAt(doc, raw.path, clone(raw.value ?? null), true);
        break;
      case 'remove':
        removeAt(doc, raw.path);
        break;
      case 'move': {
        const v = removeAt(doc, raw.from ?? '');
        doc = addAt(doc, raw.path, v, false);
        break;
      }
      case 'copy':
        doc = addAt(doc, raw.path, clone(getAt(doc, raw.from ?? '')), false);
        break;
      case 'test':
        if (JSON.stringify(getAt(doc, raw.path)) !== JSON.stringify(raw.value))
          throw new ApiError(422, 'Invalid', `json patch: test failed at "${raw.path}"`);
        break;
      default:
        throw badRequest(`json patch: unknown operation "${String(raw.op)}"`);
    }
  }
  return doc;
}

export type PatchKind = 'merge' | 'strategic' | 'json';

export function patchKindOf(contentType: string | undefined): PatchKind | undefined {
  const t = (contentType ?? '').split(';')[0]!.trim();
  if (t === 'application/merge-patch+json') return 'merge';
  if (t === 'application/strategic-merge-patch+json') return 'strategic';
  if (t === 'application/json-patch+json') return 'json';
  return undefined;
}

export function applyPatch(kind: PatchKind, target: unknown, patch: unknown): Json {
  if (kind === 'json') return jsonPatch(target, patch);
  if (!isObj(patch)) throw badRequest('patch body must be a JSON object');
  return kind === 'merge' ? mergePatch(target, patch) : strategicMergePatch(target, patch);
}
