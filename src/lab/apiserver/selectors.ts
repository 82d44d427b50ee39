/**
 * Label and field selectors as the Kubernetes API parses them:
 * labels `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, comma-separated (AND);
 * fields by dotted path (`metadata.name`, `spec.nodeName`, `status.phase`, …) with =, ==, !=.
 */
import { badRequest } from './status.js';

type Op = 'eq' | 'ne' | 'in' | 'notin' | 'exists' | 'notexists';

export interface Requirement {
  key: string;
  op: Op;
  values: string[];
}

const keyRe =
  /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;
const valueRe = /^([a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?)?$/;

/** Splits on commas that are not inside `( … )`. */
function splitTop(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function checkKey(key: string, sel: string): string {
  if (!keyRe.test(key))
    throw badRequest(
      `unable to parse requirement: invalid label key "${key}" in selector "${sel}"`,
    );
  return key;
}

function checkValue(v: string, sel: string): string {
  if (!valueRe.test(v) || v.length > 63)
    throw badRequest(
      `unable to parse requirement: invalid label value "${v}" in selector "${sel}"`,
    );
  return v;
}

export function parseLabelSelector(sel: string): Requirement[] {
  const out: Requirement[] = [];
  for (const part of splitTop(sel)) {
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^(\S+)\s+(in|notin)\s*\((.*)\)$/))) {
      const values = m[3]!.split(',').map((v) => checkValue(v.trim(), sel));
      out.push({ key: checkKey(m[1]!, sel), op: m[2] as Op, values });
    } else if ((m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/))) {
      out.push({
        key: checkKey(m[1]!, sel),
        op: m[2] === '!=' ? 'ne' : 'eq',
        values: [checkValue(m[3]!.trim(), sel)],
      });
    } else if ((m = part.match(/^!\s*(\S+)$/))) {
      out.push({ key: checkKey(m[1]!, sel), op: 'notexists', values: [] });
    } else if (/^\S+$/.test(part)) {
      out.push({ key: checkKey(part, sel), op: 'exists', values: [] });
    } else {
      throw badRequest(`unable to parse requirement: "${part}" in selector "${sel}"`);
    }
  }
  return out;
}

export function matchRequirements(
  reqs: Requirement[],
  labels: Record<string, string> | undefined,
): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'eq':
        return has && v === r.values[0];
      case 'ne':
        return !has || v !== r.values[0];
      case 'in':
        return has && r.values.includes(v!);
      case 'notin':
        return !has || !r.values.includes(v!);
      case 'exists':
        return has;
      case 'notexists':
        return !has;
    }
  });
}

/** Field selector terms; the value is read from the object by dotted path. */
export interface FieldTerm {
  path: string;
  neg: boolean;
  value: string;
}

/**
 * Kubernetes allows a few fields per kind (metadata.name, metadata.namespace, spec.nodeName,
 * status.phase, involvedObject.* for events …); this server accepts any dotted path of plain
 * field names, a superset.
 */
const fieldPath = /^[a-zA-Z][a-zA-Z0-9]*(\.[a-zA-Z][a-zA-Z0-9]*)*$/;

export function parseFieldSelector(sel: string): FieldTerm[] {
  const out: FieldTerm[] = [];
  for (const part of splitTop(sel)) {
    const m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw badRequest(`invalid selector: '${part}'; can't understand '${part}'`);
    const path = m[1]!;
    if (!fieldPath.test(path)) throw badRequest(`field label not supported: ${path}`);
    out.push({ path, neg: m[2] === '!=', value: m[3]!.trim() });
  }
  return out;
}

function readPath(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[p];
  }
  return typeof cur === 'string' ? cur : cur === undefined || cur === null ? '' : String(cur);
}

export function matchFields(terms: FieldTerm[], obj: unknown): boolean {
  return terms.every((t) => (readPath(obj, t.path) === t.value) !== t.neg);
}

/** A predicate for list and watch from the two query parameters. */
export function objectFilter(
  labelSelector: string | null,
  fieldSelector: string | null,
): (obj: { metadata: object }) => boolean {
  const reqs = labelSelector ? parseLabelSelector(labelSelector) : [];
  const terms = fieldSelector ? parseFieldSelector(fieldSelector) : [];
  return (obj) =>
    matchRequirements(reqs, (obj.metadata as { labels?: Record<string, string> }).labels) &&
    matchFields(terms, obj);
}
