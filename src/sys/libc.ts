/**
 * FFI to libc through koffi: the few system calls Node does not expose (setns, IP_TRANSPARENT,
 * binding a socket before connect). Loaded lazily so that code which never needs privilege
 * never loads the native module.
 */
import { createRequire } from 'node:module';
import { AmbitError } from '../errors.js';

type Fn = (...args: unknown[]) => number;

export interface Libc {
  socket: Fn;
  setsockopt: Fn;
  bind: Fn;
  listen: Fn;
  close: Fn;
  setns: Fn;
  /** syscall(2) with up to three int arguments (pidfd_open, pidfd_getfd). */
  syscall3: Fn;
  errno(): number;
  strerror(errno: number): string;
}

let cached: Libc | undefined;

/** koffi (FFI), or SYS_FFI_UNAVAILABLE saying how to get it; shared by every libc binding here. */
export function loadKoffi(): typeof import('koffi') {
  const require = createRequire(import.meta.url);
  try {
    return require('koffi') as typeof import('koffi');
  } catch (err) {
    throw new AmbitError('SYS_FFI_UNAVAILABLE', 'cannot load koffi (FFI to libc)', {
      hint: 'run `npm ci`; package.json must list koffi under allowScripts',
      cause: err,
    });
  }
}

export function libc(): Libc {
  if (cached) return cached;
  const koffi = loadKoffi();
  const lib = koffi.load('libc.so.6');
  const strerror = lib.func('const char *strerror(int errnum)') as (e: number) => string;
  cached = {
    socket: lib.func('int socket(int domain, int type, int protocol)') as Fn,
    setsockopt: lib.func(
      'int setsockopt(int fd, int level, int name, const void *val, uint32_t len)',
    ) as Fn,
    bind: lib.func('int bind(int fd, const void *addr, uint32_t len)') as Fn,
    listen: lib.func('int listen(int fd, int backlog)') as Fn,
    close: lib.func('int close(int fd)') as Fn,
    setns: lib.func('int setns(int fd, int nstype)') as Fn,
    // glibc's syscall() is variadic; on x86_64 integer arguments pass in the same registers.
    syscall3: lib.func('long syscall(long number, int a, int b, unsigned int c)') as Fn,
    errno: () => koffi.errno(),
    strerror,
  };
  return cached;
}

/** Throws an AmbitError naming the call and errno when `rc` is negative. */
export function check(rc: number, call: string, value: unknown): number {
  if (rc >= 0) return rc;
  const c = libc();
  const e = c.errno();
  throw new AmbitError('SYS_CALL_FAILED', `${call} failed: ${c.strerror(e)} (errno ${e})`, {
    value,
  });
}
