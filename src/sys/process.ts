/**
 * Detached processes and their PID files: start a daemon that outlives its starter, and stop
 * a recorded process only when `/proc/<pid>/cmdline` still shows it is ours (a PID may have
 * been reused by the time we stop it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PidRecord {
  pid: number;
  /** A substring of the process's command line (NULs shown as spaces) proving it is ours. */
  marker: string;
}

export function writePidFile(path: string, rec: PidRecord): void {
  writeFileSync(path, `${rec.pid}\n${rec.marker}\n`);
}

export function readPidFile(path: string): PidRecord | undefined {
  try {
    const [pid, marker] = readFileSync(path, 'utf8').split('\n');
    const n = Number(pid);
    if (!Number.isInteger(n) || n <= 1) return undefined;
    return { pid: n, marker: marker ?? '' };
  } catch {
    return undefined;
  }
}

export function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return undefined;
  }
}

/** True when the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** True when `rec` names a live process whose command line still carries its marker. */
export function isOurs(rec: PidRecord): boolean {
  const c = cmdline(rec.pid);
  return c !== undefined && c.includes(rec.marker) && alive(rec.pid);
}

function signal(pid: number, sig: NodeJS.Signals, group: boolean): void {
  try {
    process.kill(group ? -pid : pid, sig);
  } catch {
    if (group) {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  }
}

/**
 * SIGTERM, then SIGKILL after `graceMs`. With `group`, signals the process group the process
 * leads (a container and the children it forked). Resolves once the process is gone (or
 * after the SIGKILL wait), true when it was running.
 */
export async function stopProcess(pid: number, graceMs: number, group = false): Promise<boolean> {
  if (!alive(pid)) return false;
  signal(pid, 'SIGTERM', group);
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    signal(pid, 'SIGKILL', group);
    for (let i = 0; i < 40 && alive(pid); i++) await sleep(50);
  } else if (group) {
    signal(pid, 'SIGKILL', true); // stragglers of the group
  }
  return true;
}

export interface DetachedOptions {
  argv: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Starts a process in its own session with stdout/stderr appended to `logFile`, not tied to
 * the caller's lifetime. Returns the child (callers that stay alive can watch 'exit').
 */
export function spawnDetached(opts: DetachedOptions): ChildProcess {
  const fd = openSync(opts.logFile, 'a');
  try {
    const child = spawn(opts.argv[0]!, opts.argv.slice(1), {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    return child;
  } finally {
    closeSync(fd);
  }
}
