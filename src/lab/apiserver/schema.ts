/**
 * OpenAPI v3 structural-schema validation as kube-apiserver applies a CustomResourceDefinition's
 * `openAPIV3Schema`: defaults (`default`) are filled in, fields the schema does not know are
 * collected (the caller prunes them, warns or refuses, per `fieldValidation`) unless
 * `x-kubernetes-preserve-unknown-fields`, and values are checked against type, format-free
 * constraints (enum, pattern, lengths, bounds, items, required, nullable, int-or-string,
 * embedded resources). Messages follow apiextensions-apiserver's ("in body should be …").
 * **Lab shortcut:** `x-kubernetes-validations` (CEL rules) are not evaluated.
 */
import type { Cause } from './status.js';

export type Schema = Record<string, unknown>;

export interface SchemaResult {
  causes: Cause[];
  /** Dotted paths of fields the schema does not declare. */
  unknown: string[];
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

const show = (v: unknown): string => (typeof v === 'string' ? `"${v}"` : JSON.stringify(v));

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(t: string, v: unknown): boolean {
  const a = typeOf(v);
  if (t === 'number') return a === 'number' || a === 'integer';
  return a === t;
}

/** Walks `value` against `schema` at `path`, in place (defaults), collecting problems. */
function walk(
  schema: Schema,
  value: unknown,
  path: string,
  out: SchemaResult,
  root: boolean,
): void {
  const at = path || '<root>';
  if (value === null) {
    if (schema.nullable === true) return;
    if (schema.type !== undefined)
      out.causes.push({
        field: at,
        reason: 'FieldValueTypeInvalid',
        message: `Invalid value: "null": ${at} in body must be of type ${String(schema.type)}: "null"`,
      });
    return;
  }
  const intOrString = schema['x-kubernetes-int-or-string'] === true;
  const t = typeof schema.type === 'string' ? schema.type : undefined;
  if (intOrString) {
    if (typeOf(value) !== 'integer' && typeof value !== 'string')
      out.causes.push({
        field: at,
        reason: 'FieldValueTypeInvalid',
        message: `Invalid value: ${show(value)}: ${at} in body must be of type integer,string: ${show(typeOf(value))}`,
      });
  } else if (t && !typeMatches(t, value)) {
    out.causes.push({
      field: at,
      reason: 'FieldValueTypeInvalid',
      message: `Invalid value: ${show(value)}: ${at} in body must be of type ${t}: ${show(typeOf(value))}`,
    });
    return;
  }
  if (
    Array.isArray(schema.enum) &&
    !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))
  )
    out.causes.push({
      field: at,
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: ${show(value)}: supported values: ${schema.enum.map(show).join(', ')}`,
    });
  if (typeof value === 'string') {
    if (typeof schema.maxLength === 'number' && [...value].length > schema.maxLength)
      out.causes.push({
        field: at,
        reason: 'FieldValueTooLong',
        message: `Too long: may not be more than ${schema.maxLength} bytes`,
      });
    if (typeof schema.minLength === 'number' && [...value].length < schema.minLength)
      out.causes.push({
        field: at,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(value)}: ${at} in body should be at least ${schema.minLength} chars long`,
      });
    if (typeof schema.pattern === 'string') {
      let re: RegExp | undefined;
      try {
        re = new RegExp(schema.pattern, 'u');
      } catch {
        re = undefined; // an RE2 construct JavaScript lacks: not checked
      }
      if (re && !re.test(value))
        out.causes.push({
          field: at,
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${show(value)}: ${at} in body should match '${schema.pattern}'`,
        });
    }
  }
  if (typeof value === 'number') {
    if (typeof schema.maximum === 'number' && value > schema.maximum)
      out.causes.push({
        field: at,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${value}: ${at} in body should be less than or equal to ${schema.maximum}`,
      });
    if (typeof schema.minimum === 'number' && value < schema.minimum)
      out.causes.push({
        field: at,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${value}: ${at} in body should be greater than or equal to ${schema.minimum}`,
      });
  }
  if (Array.isArray(value)) {
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems)
      out.causes.push({
        field: at,
        reason: 'FieldValueTooMany',
        message: `Too many: ${value.length}: must have at most ${schema.maxItems} items`,
      });
    if (typeof schema.minItems === 'number' && value.length < schema.minItems)
      out.causes.push({
        field: at,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${value.length}: ${at} in body should have at least ${schema.minItems} items`,
      });
    const items = isObj(schema.items) ? schema.items : undefined;
    if (items) value.forEach((v, i) => walk(items, v, `${path}[${i}]`, out, false));
    return;
  }
  if (!isObj(value)) return;
  const props = isObj(schema.properties) ? schema.properties : undefined;
  const additional = isObj(schema.additionalProperties) ? schema.additionalProperties : undefined;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const embedded = schema['x-kubernetes-embedded-resource'] === true;
  // Defaults first, so `required` sees them (as the apiserver defaults before validating).
  if (props)
    for (const [k, s] of Object.entries(props))
      if (isObj(s) && s.default !== undefined && value[k] === undefined)
        value[k] = structuredClone(s.default);
  if (Array.isArray(schema.required))
    for (const r of schema.required)
      if (typeof r === 'string' && value[r] === undefined)
        out.causes.push({
          field: path ? `${path}.${r}` : r,
          reason: 'FieldValueRequired',
          message: 'Required value',
        });
  if (typeof schema.maxProperties === 'number' && Object.keys(value).length > schema.maxProperties)
    out.causes.push({
      field: at,
      reason: 'FieldValueTooMany',
      message: `Too many: ${Object.keys(value).length}: must have at most ${schema.maxProperties} items`,
    });
  for (const [k, v] of Object.entries(value)) {
    const p = path ? `${path}.${k}` : k;
    // apiVersion, kind and metadata of the object (and of embedded resources) are the server's.
    if ((root || embedded) && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
    const s = props && isObj(props[k]) ? props[k] : additional;
    if (s) walk(s, v, p, out, false);
    else if (!preserve && !(schema.additionalProperties === true)) out.unknown.push(p);
  }
}

export function validateSchema(schema: Schema, obj: Record<string, unknown>): SchemaResult {
  const out: SchemaResult = { causes: [], unknown: [] };
  walk(schema, obj, '', out, true);
  return out;
}

/** Removes the fields at the dotted / indexed `paths` (pruning, as for fieldValidation=Ignore). */
export function prune(obj: Record<string, unknown>, paths: string[]): void {
  for (const p of paths) {
    const parts = p.match(/[^.[\]]+|\[\d+\]/g) ?? [];
    let cur: unknown = obj;
    for (let i = 0; i < parts.length - 1 && cur !== undefined; i++) {
      const seg = parts[i]!;
      cur = seg.startsWith('[')
        ? (cur as unknown[])[Number(seg.slice(1, -1))]
        : (cur as Record<string, unknown>)[seg];
    }
    const last = parts[parts.length - 1];
    if (isObj(cur) && last !== undefined && !last.startsWith('[')) delete cur[last];
  }
}
