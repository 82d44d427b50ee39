/**
 * `kubectl logs` on the kubelet side: a container's log file (the current instance's, or with
 * `previous` the one before its last restart), optionally only the last `tailLines` lines or
 * `limitBytes` bytes, and with `follow` kept open, sending what the container writes, until
 * the instance ends or the client goes away.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';

const FOLLOW_POLL_MS = 200;

export interface LogSource {
  file: string;
  /** True while this instance of the container may still write (follow keeps going). */
  running(): boolean;
}

export interface LogOptions {
  follow: boolean;
  tailLines?: number;
  limitBytes?: number;
}

function readRange(file: string, start: number, end: number): Buffer {
  if (end <= start) return Buffer.alloc(0);
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(end - start);
    const n = readSync(fd, b, 0, b.length, start);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Offset where the last `lines` lines of the first `size` bytes begin. */
export function tailOffset(file: string, size: number, lines: number): number {
  if (lines <= 0) return size;
  const chunk = 64 * 1024;
  let pos = size;
  let seen = 0;
  while (pos > 0) {
    const start = Math.max(0, pos - chunk);
    const b = readRange(file, start, pos);
    for (let i = b.length - 1; i >= 0; i--) {
      // A final newline ends the last line; it does not begin another.
      if (b[i] !== 0x0a || start + i === size - 1) continue;
      if (++seen === lines) return start + i + 1;
    }
    pos = start;
  }
  return 0;
}

export function serveLogs(res: ServerResponse, src: LogSource, o: LogOptions): void {
  const size = existsSync(src.file) ? statSync(src.file).size : 0;
  let pos = o.tailLines !== undefined ? tailOffset(src.file, size, o.tailLines) : 0;
  let budget = o.limitBytes ?? Infinity;
  res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-cache, private' });
  const pump = (): boolean => {
    const now = existsSync(src.file) ? statSync(src.file).size : 0;
    if (now < pos) pos = 0; // truncated
    const end = Math.min(now, pos + budget);
    const b = readRange(src.file, pos, end);
    pos += b.length;
    budget -= b.length;
    if (b.length > 0) res.write(b);
    return budget > 0;
  };
  if (!pump() || !o.follow) {
    res.end();
    return;
  }
  const timer = setInterval(() => {
    const more = pump();
    if (!more || !src.running()) {
      if (more) pump();
      clearInterval(timer);
      res.end();
    }
  }, FOLLOW_POLL_MS);
  res.on('close', () => clearInterval(timer));
}
