/**
 * The one protobuf body kubectl sends here: `kubectl create token` posts a TokenRequest as
 * `application/vnd.kubernetes.protobuf` (the `k8s\0` envelope around runtime.Unknown). This
 * decodes just that into its JSON shape; answers stay JSON, which kubectl also accepts.
 */
import { badRequest } from './status.js';

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

const str = (f: Fields, n: number): string | undefined => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
};
const msg = (f: Fields, n: number): Fields | undefined => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? fields(v) : undefined;
};

const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decodes a protobuf-encoded authentication.k8s.io/v1 TokenRequest. */
export function decodeTokenRequest(body: Buffer): Record<string, unknown> {
  if (!body.subarray(0, 4).equals(magic)) throw badRequest('not a Kubernetes protobuf message');
  const unknown = fields(body.subarray(4));
  const typeMeta = msg(unknown, 1);
  const kind = typeMeta && str(typeMeta, 2);
  if (kind !== 'TokenRequest')
    throw badRequest(`protobuf bodies are accepted only for TokenRequest, not ${String(kind)}`);
  const raw = unknown.get(2)?.[0];
  const tr: Fields = Buffer.isBuffer(raw) ? fields(raw) : new Map();
  const spec: Fields = msg(tr, 2) ?? new Map();
  const out: Record<string, unknown> = {
    audiences: (spec.get(1) ?? []).map((b) => (Buffer.isBuffer(b) ? b.toString('utf8') : '')),
  };
  const exp = spec.get(4)?.[0];
  if (typeof exp === 'bigint') out.expirationSeconds = Number(exp);
  const ref = msg(spec, 3);
  if (ref)
    out.boundObjectRef = {
      kind: str(ref, 1),
      apiVersion: str(ref, 2),
      name: str(ref, 3),
      uid: str(ref, 4),
    };
  return { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: out };
}
