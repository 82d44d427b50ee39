/**
 * Protobuf request bodies: kubectl's typed commands (`kubectl create namespace|deployment|
 * service|configmap|serviceaccount|secret|role|rolebinding|…|token`) always send
 * `application/vnd.kubernetes.protobuf`: the `k8s\0` magic, then a runtime.Unknown whose
 * TypeMeta names the kind and whose raw bytes are the object. This decodes those objects into
 * their JSON shape from the field tables in `protobuf-schema.ts`; a kind or field missing there
 * is refused (415 / 400 naming it) rather than silently dropped. Answers stay JSON, which kubectl
 * accepts.
 */
import { messages } from './protobuf-schema.js';
import { badRequest, unsupportedMediaType } from './status.js';
import { kubeTime } from '../../k8s/time.js';

type Fields = Map<number, (Buffer | bigint)[]>;

function varint(buf: Buffer, pos: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw badRequest('truncated protobuf varint');
    const b = buf[pos++]!;
    v |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [v, pos];
    shift += 7n;
    if (shift > 63n) throw badRequest('protobuf varint too long');
  }
}

/** Fields by number: length-delimited ones as Buffers, varints as bigints. */
function fields(buf: Buffer): Fields {
  const out: Fields = new Map();
  let pos = 0;
  while (pos < buf.length) {
    let tag: bigint;
    [tag, pos] = varint(buf, pos);
    const num = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    let val: Buffer | bigint;
    if (wire === 0) [val, pos] = varint(buf, pos);
    else if (wire === 2) {
      let len: bigint;
      [len, pos] = varint(buf, pos);
      val = buf.subarray(pos, pos + Number(len));
      pos += Number(len);
      if (pos > buf.length) throw badRequest('truncated protobuf field');
    } else if (wire === 1) {
      val = buf.subarray(pos, pos + 8);
      pos += 8;
    } else if (wire === 5) {
      val = buf.subarray(pos, pos + 4);
      pos += 4;
    } else throw badRequest(`unsupported protobuf wire type ${wire}`);
    const list = out.get(num) ?? [];
    list.push(val);
    out.set(num, list);
  }
  return out;
}

const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

const str = (f: Fields, n: number): string | undefined => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
};

/** A uint64 varint as the signed int64 Go wrote (negative numbers are 10-byte varints). */
const signed = (v: bigint): number => Number(BigInt.asIntN(64, v));

const isoOf = (seconds: number): string => kubeTime(seconds * 1000);

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

function mapOf(
  entries: (Buffer | bigint)[],
  value: (v: Buffer | bigint | undefined) => Json,
  where: string,
): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const e of entries) {
    if (!Buffer.isBuffer(e)) throw badRequest(`protobuf ${where}: a map entry is not a message`);
    const f = fields(e);
    out[str(f, 1) ?? ''] = value(f.get(2)?.[0]);
  }
  return out;
}

const asBuf = (v: Buffer | bigint | undefined, where: string): Buffer => {
  if (v === undefined) return Buffer.alloc(0);
  if (!Buffer.isBuffer(v)) throw badRequest(`protobuf ${where}: expected a length-delimited field`);
  return v;
};
const asInt = (v: Buffer | bigint | undefined, where: string): number => {
  if (v === undefined) return 0;
  if (typeof v !== 'bigint') throw badRequest(`protobuf ${where}: expected a varint`);
  return signed(v);
};

/** One value of type `t` (see protobuf-schema.ts); undefined when omitempty drops it. */
function value(t: string, v: Buffer | bigint, where: string, depth: number): Json | undefined {
  switch (t) {
    case 's':
      return asBuf(v, where).toString('utf8');
    case 'i':
      return asInt(v, where);
    case 'b':
      return asInt(v, where) !== 0;
    case 'y':
      return asBuf(v, where).toString('base64');
    case 'q':
      return str(fields(asBuf(v, where)), 1) ?? '';
    case 't': {
      const f = fields(asBuf(v, where));
      const sec = f.get(1)?.[0];
      return typeof sec === 'bigint' && sec !== 0n ? isoOf(signed(sec)) : undefined;
    }
    case 'ios': {
      const f = fields(asBuf(v, where));
      if (asInt(f.get(1)?.[0], where) === 1) return str(f, 3) ?? '';
      const n = asInt(f.get(2)?.[0], where);
      return n === 0 ? undefined : n;
    }
    case 'skip':
      return undefined;
    default:
      return decodeMessage(t, asBuf(v, where), depth + 1);
  }
}

const isEmpty = (v: Json | undefined): boolean =>
  v === undefined ||
  v === '' ||
  v === 0 ||
  v === false ||
  v === null ||
  (Array.isArray(v) && v.length === 0) ||
  (typeof v === 'object' && !Array.isArray(v) && v !== null && Object.keys(v).length === 0);

function decodeMessage(name: string, buf: Buffer, depth = 0): Record<string, Json> {
  const schema = messages[name];
  if (!schema) throw badRequest(`protobuf message ${name} is not known to this server`);
  if (depth > 32) throw badRequest('protobuf message nested too deeply');
  const out: Record<string, Json> = {};
  for (const [num, vals] of fields(buf)) {
    const spec = schema[num];
    if (spec === undefined)
      throw badRequest(
        `protobuf field ${num} of ${name} is not known to this server; send the object as JSON (kubectl apply -f, or --output json | kubectl create -f -)`,
      );
    const repeated = spec.startsWith('*');
    const pointer = spec.endsWith('?');
    const [field, type = 's'] = spec.replace(/^\*/, '').replace(/\?$/, '').split(':') as [
      string,
      string?,
    ];
    const where = `${name}.${field}`;
    let v: Json | undefined;
    if (type === 'map' || type === 'mapy' || type === 'mapq') {
      const t = type === 'map' ? 's' : type === 'mapy' ? 'y' : 'q';
      v = mapOf(vals, (x) => (x === undefined ? '' : (value(t, x, where, depth) ?? '')), where);
    } else if (repeated) {
      // Repeated elements are kept as they are, empty strings too (apiGroups: [""]).
      v = vals.map((x) => value(type, x, where, depth) ?? (type === 's' ? '' : {}));
    } else v = value(type, vals[vals.length - 1]!, where, depth);
    if (v === undefined) continue;
    if (pointer || !isEmpty(v)) out[field] = v;
  }
  return out;
}

/**
 * Decodes a `k8s\0`-enveloped object (runtime.Unknown: typeMeta = 1 {apiVersion = 1,
 * kind = 2}, raw = 2) into its JSON form with apiVersion and kind.
 */
export function decodeObject(body: Buffer, contentType: string): Record<string, unknown> {
  if (!body.subarray(0, 4).equals(magic))
    throw badRequest('the protobuf body lacks the Kubernetes "k8s\\0" prefix');
  const unknown = fields(body.subarray(4));
  const tm = unknown.get(1)?.[0];
  const typeMeta = Buffer.isBuffer(tm) ? fields(tm) : new Map<number, (Buffer | bigint)[]>();
  const apiVersion = str(typeMeta, 1) ?? '';
  const kind = str(typeMeta, 2) ?? '';
  if (!messages[kind] || kind === 'ObjectMeta')
    throw unsupportedMediaType(`${contentType} (for a ${kind || 'nameless kind'})`);
  const raw = unknown.get(2)?.[0];
  const obj = decodeMessage(kind, Buffer.isBuffer(raw) ? raw : Buffer.alloc(0));
  return { apiVersion, kind, ...obj };
}
