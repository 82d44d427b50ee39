/**
 * The runner's per-file bound. node:test's `timeout` fails a test that overruns, but a file
 * whose process an open handle keeps alive (a server a failed test never closed) stays running,
 * and the run with it: CI once waited 24 minutes on one. Every `everyMs` this looks at the
 * runner's own child processes (by parent PID in /proc, so nothing another run started) and
 * SIGKILLs one that has lived longer than `limitMs`, naming the file; the runner then reports
 * that file as failed, as for a crash.
 */
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS = 100; // USER_HZ on Linux

interface Child {
  pid: number;
  ageMs: number;
  file: string;
}

function uptimeMs(): number {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;
}

/** This process's children that run a test file, with their age. */
function testChildren(testFile: RegExp): Child[] {
  const out: Child[] = [];
  const now = uptimeMs();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the command (which may hold spaces) start after the last ')'.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) !== process.pid) continue;
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const file = argv.find((a) => testFile.test(a));
      if (!file) continue;
      const ageMs = now - (Number(f[19]) / CLOCK_TICKS) * 1000;
      out.push({ pid: Number(name), ageMs, file });
    } catch {
      // Gone between the listing and the read.
    }
  }
  return out;
}

/** Looks every 30 s, or sooner for a short limit (the watchdog's own test uses 1 s). */
export function startWatchdog(
  limitMs: number,
  everyMs = Math.min(30_000, Math.max(250, limitMs / 4)),
): () => void {
  const timer = setInterval(() => {
    for (const c of testChildren(/\.test\.js$/)) {
      if (c.ageMs <= limitMs) continue;
      console.error(
        `watchdog: ${c.file} still running after ${Math.round(c.ageMs / 1000)} s (limit ${limitMs / 1000} s): killing its process ${c.pid}`,
      );
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
