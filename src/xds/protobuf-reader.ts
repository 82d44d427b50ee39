/**
 * The one protobuf wire reader of the hand-written decoders (istio.workload.Address in
 * `address-reader.ts`, DeltaDiscoveryResponse in `wire.ts`): a message is read by a table of its
 * fields, number → wire type and what to do with the value; fields not in the table, or of
 * another wire type, are skipped. Sub-messages are read by a reader bounded to their bytes, so a
 * length that overruns its message is an error, not a read into the parent. Errors are
 * RangeErrors; the callers turn them into XDS_DECODE_FAILED.
 */

export const VARINT = 0;
export const LEN = 2;

export class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  /** A varint as an unsigned 32-bit number (higher bits dropped, as protobufjs's uint32). */
  uint32(): number {
    let v = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RangeError('varint past the end');
      const b = this.buf[this.pos++]!;
      if (shift < 32) v |= (b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) return v >>> 0;
    }
    throw new RangeError('varint longer than 10 bytes');
  }

  /** The [start, end) of a length-delimited field's payload. */
  span(): [number, number] {
    const len = this.uint32();
    const start = this.pos;
    if (len > this.end - start) throw new RangeError('length past the end');
    this.pos = start + len;
    return [start, this.pos];
  }

  string(): string {
    const [s, e] = this.span();
    return this.buf.toString('utf8', s, e);
  }

  bytes(): Buffer {
    const [s, e] = this.span();
    return this.buf.subarray(s, e);
  }

  sub(): Reader {
    const [s, e] = this.span();
    return new Reader(this.buf, s, e);
  }

  skip(wireType: number): void {
    if (wireType === VARINT) this.uint32();
    else if (wireType === 1) this.advance(8);
    else if (wireType === LEN) this.span();
    else if (wireType === 5) this.advance(4);
    else throw new RangeError(`unsupported wire type ${wireType}`);
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new RangeError('field past the end');
    this.pos += n;
  }
}

/** One field of a message: its wire type and how its value goes into the message's object. */
export type FieldRead<T> = readonly [wireType: number, read: (r: Reader, into: T) => void];
/** A message's fields by number. */
export type FieldTable<T> = Readonly<Record<number, FieldRead<T>>>;

/** Reads the fields of `r` into `into` by `table`; returns `into`. */
export function readFields<T>(r: Reader, table: FieldTable<T>, into: T): T {
  while (r.pos < r.end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 0) throw new RangeError('field number 0');
    const f = table[field];
    if (f !== undefined && f[0] === wt) f[1](r, into);
    else r.skip(wt);
  }
  return into;
}

/** A whole buffer as a Reader (a Uint8Array is viewed, not copied). */
export function readerOf(bytes: Uint8Array): Reader {
  const buf = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return new Reader(buf);
}

type Obj = Record<string, unknown>;

/** Field readers for plain objects, by the key the value goes to. */
export const field = {
  string: (k: string): FieldRead<Obj> => [LEN, (r, o) => void (o[k] = r.string())],
  bytes: (k: string): FieldRead<Obj> => [LEN, (r, o) => void (o[k] = r.bytes())],
  uint32: (k: string): FieldRead<Obj> => [VARINT, (r, o) => void (o[k] = r.uint32())],
  bool: (k: string): FieldRead<Obj> => [VARINT, (r, o) => void (o[k] = r.uint32() !== 0)],
  /** An enum as its name (an unknown number stays a number, as protobufjs's toObject). */
  enumeration: (k: string, names: readonly string[]): FieldRead<Obj> => [
    VARINT,
    (r, o) => {
      const v = r.uint32();
      o[k] = names[v] ?? v;
    },
  ],
  /** A sub-message; one seen twice on the wire is merged into the first (protobuf's rule). */
  message: (k: string, read: (r: Reader, prev: unknown) => Obj): FieldRead<Obj> => [
    LEN,
    (r, o) => void (o[k] = read(r.sub(), o[k])),
  ],
  repeatedString: (k: string): FieldRead<Obj> => [
    LEN,
    (r, o) => void (o[k] as string[]).push(r.string()),
  ],
  repeatedBytes: (k: string): FieldRead<Obj> => [
    LEN,
    (r, o) => void (o[k] as Buffer[]).push(r.bytes()),
  ],
  repeatedMessage: (k: string, read: (r: Reader) => Obj): FieldRead<Obj> => [
    LEN,
    (r, o) => void (o[k] as Obj[]).push(read(r.sub())),
  ],
};

/**
 * Names a oneof as protobufjs's toObject does: `o[name]` is the last of `members` (declaration
 * order) that is set.
 */
export function oneof(o: Obj, name: string, members: readonly string[]): Obj {
  for (const m of members) if (o[m]) o[name] = m;
  return o;
}
