/**
 * glibc's `malloc_trim(0)` through koffi. After a burst of traffic a proxy's freed buffers sit in
 * glibc's arenas: the allocator keeps them for reuse and the kernel still counts them as RSS
 * (ztunnel 113 → 84.5 MB after one manual trim, issue 10). `malloc_trim` gives the free pages
 * of every arena back with `madvise(MADV_DONTNEED)`; Node never calls it.
 *
 * Off glibc (musl, another libc) there is no such allocator state to give back and the call does
 * not exist: `mallocTrim` is then a no-op that says so. On glibc a libc or symbol that cannot be
 * loaded is an error, not a silent no-op: the trimmer would look alive and do nothing.
 */
import { loadKoffi } from './libc.js';
import { AmbitError } from '../errors.js';

type TrimFn = (pad: number) => number;

/** What one call did: `released` is glibc's answer (1 = some memory was given back). */
export interface TrimResult {
  supported: boolean;
  released: boolean;
}

let cached: TrimFn | null | undefined;

/** The runtime's glibc version, or undefined when Node does not run on glibc. */
export function glibcVersion(): string | undefined {
  // Node's diagnostic report names the glibc it runs on (header.glibcVersionRuntime); absent on
  // musl. Only the header is read, once, where the trimmer starts.
  const report = process.report?.getReport() as
    { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime;
}

function load(): TrimFn | null {
  if (cached !== undefined) return cached;
  if (process.platform !== 'linux' || glibcVersion() === undefined) return (cached = null);
  const koffi = loadKoffi();
  try {
    const lib = koffi.load('libc.so.6');
    cached = lib.func('int malloc_trim(size_t pad)') as TrimFn;
  } catch (err) {
    throw new AmbitError('SYS_MALLOC_TRIM_UNAVAILABLE', 'cannot load malloc_trim from libc.so.6', {
      hint: 'Node reports glibc but its malloc_trim is missing; set AMBIT_MALLOC_TRIM_MS=0 to turn trimming off',
      cause: err,
    });
  }
  return cached;
}

/** True when this process can trim (glibc); throws when it should and cannot. */
export function mallocTrimSupported(): boolean {
  return load() !== null;
}

/** `malloc_trim(0)`: every arena's free memory back to the kernel, keeping no padding. */
export function mallocTrim(): TrimResult {
  const fn = load();
  if (!fn) return { supported: false, released: false };
  return { supported: true, released: fn(0) === 1 };
}
