/**
 * A reader of a pinned BPF ring buffer (BPF_MAP_TYPE_RINGBUF) from Node, without libbpf: the
 * map's fd from its pin (bpf(BPF_OBJ_GET)), then the kernel's two mappings of it, as libbpf's
 * ringbuf.c does: the consumer page (read-write: we advance consumer_pos) and the producer page
 * followed by the data area mapped twice (read-only, so a record that wraps reads contiguously).
 * Each record is an 8-byte header {u32 len with BUSY/DISCARD bits, u32 page offset} and the
 * sample, padded to 8 bytes. Polled from a timer: the tracer drains it while traffic runs and
 * once more at the end; an overrun (the programs found no room) shows as lost records, never
 * as a blocked program.
 */
import { createRequire } from 'node:module';
import { AmbitError } from '../errors.js';
import { out } from './exec.js';

const SYS_BPF = 321; // x86_64 (unistd_64.h)
const BPF_OBJ_GET = 7;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const BUSY_BIT = 0x80000000;
const DISCARD_BIT = 0x40000000;
const HDR = 8;

type K = typeof import('koffi');
type Fn = (...args: unknown[]) => unknown;

interface Ffi {
  koffi: K;
  syscall: Fn;
  mmap: (addr: null, len: number, prot: number, flags: number, fd: number, off: number) => unknown;
  munmap: (p: unknown, len: number) => number;
  close: (fd: number) => number;
  pageSize: number;
}

let ffi: Ffi | undefined;

function load(): Ffi {
  if (ffi) return ffi;
  if (process.arch !== 'x64') {
    throw new AmbitError('BPF_RINGBUF_FAILED', `ring buffer reader: unsupported arch`, {
      value: process.arch,
      hint: 'the bpf() syscall number is x86_64-only here; use `ambit node rules` counters',
    });
  }
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as K;
  const lib = koffi.load('libc.so.6');
  koffi.struct('ambit_bpf_obj_get', {
    pathname: 'const char *',
    bpf_fd: 'uint32_t',
    file_flags: 'uint32_t',
    path_fd: 'int32_t',
    pad: 'uint32_t',
  });
  const sysconf = lib.func('long sysconf(int name)') as (n: number) => number;
  ffi = {
    koffi,
    syscall: lib.func('long syscall(long number, ...)') as Fn,
    mmap: lib.func(
      'void *mmap(void *addr, size_t len, int prot, int flags, int fd, intptr_t off)',
    ) as Ffi['mmap'],
    munmap: lib.func('int munmap(void *addr, size_t len)') as Ffi['munmap'],
    close: lib.func('int close(int fd)') as Ffi['close'],
    pageSize: sysconf(30), // _SC_PAGESIZE
  };
  return ffi;
}

function fail(call: string, pin: string, f: Ffi): never {
  const e = f.koffi.errno();
  throw new AmbitError('BPF_RINGBUF_FAILED', `${call} on ${pin} failed (errno ${e})`, {
    value: pin,
    hint: 'needs root and a pinned BPF_MAP_TYPE_RINGBUF map (is the eBPF backend installed?)',
  });
}

const MAP_FAILED = 0xffffffffffffffffn;

export class RingbufReader {
  private consumer: DataView;
  private producer: DataView;
  private data: Uint8Array;
  private closed = false;
  /** Records the reader skipped because the kernel discarded them. */
  discarded = 0;

  private constructor(
    readonly pin: string,
    private readonly f: Ffi,
    private readonly fd: number,
    private readonly size: number,
    private readonly cons: unknown,
    private readonly prod: unknown,
  ) {
    const ps = f.pageSize;
    this.consumer = new DataView(f.koffi.view(cons, ps));
    const pv = f.koffi.view(prod, ps + 2 * size);
    this.producer = new DataView(pv, 0, ps);
    this.data = new Uint8Array(pv, ps, 2 * size);
  }

  /** Opens the ring buffer pinned at `pin` (its size from `bpftool map show`). */
  static async open(pin: string): Promise<RingbufReader> {
    const info = JSON.parse(await out('bpftool', ['-j', 'map', 'show', 'pinned', pin])) as {
      type?: string;
      max_entries?: number;
    };
    const size = info.max_entries ?? 0;
    if (info.type !== 'ringbuf' || size <= 0 || (size & (size - 1)) !== 0) {
      throw new AmbitError('BPF_RINGBUF_FAILED', `${pin} is not a ring buffer map`, {
        value: info,
        hint: 'pass the pin of a BPF_MAP_TYPE_RINGBUF map',
      });
    }
    const f = load();
    const attr = { pathname: pin, bpf_fd: 0, file_flags: 0, path_fd: 0, pad: 0 };
    const fd = Number(
      f.syscall(SYS_BPF, 'int', BPF_OBJ_GET, 'ambit_bpf_obj_get *', attr, 'uint32_t', 24),
    );
    if (fd < 0) fail('bpf(BPF_OBJ_GET)', pin, f);
    const ps = f.pageSize;
    const cons = f.mmap(null, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (f.koffi.address(cons) === MAP_FAILED) {
      f.close(fd);
      fail('mmap(consumer)', pin, f);
    }
    const prod = f.mmap(null, ps + 2 * size, PROT_READ, MAP_SHARED, fd, ps);
    if (f.koffi.address(prod) === MAP_FAILED) {
      f.munmap(cons, ps);
      f.close(fd);
      fail('mmap(producer)', pin, f);
    }
    return new RingbufReader(pin, f, fd, size, cons, prod);
  }

  /** Hands every committed record to `onRecord` (a copy) and frees its room; returns how many. */
  drain(onRecord: (rec: Uint8Array) => void): number {
    if (this.closed) return 0;
    const mask = BigInt(this.size - 1);
    let cons = this.consumer.getBigUint64(0, true);
    const prod = this.producer.getBigUint64(0, true);
    let n = 0;
    while (cons < prod) {
      const off = Number(cons & mask);
      const hdr = new DataView(this.data.buffer, this.data.byteOffset + off, HDR);
      const len = hdr.getUint32(0, true);
      if (len & BUSY_BIT) break; // reserved, not yet submitted: stop here, in order
      const size = len & ~(BUSY_BIT | DISCARD_BIT);
      if (len & DISCARD_BIT) this.discarded++;
      else {
        onRecord(this.data.slice(off + HDR, off + HDR + size));
        n++;
      }
      cons += BigInt((size + HDR + 7) & ~7);
      this.consumer.setBigUint64(0, cons, true);
    }
    return n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.f.munmap(this.prod, this.f.pageSize + 2 * this.size);
    this.f.munmap(this.cons, this.f.pageSize);
    this.f.close(this.fd);
  }
}
