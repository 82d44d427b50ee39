/**
 * Runs system commands (ip, iptables, ipset, tc, ...), optionally inside a named network
 * namespace. The only way non-sys code reaches the kernel's tools: through this module or a
 * backend built on it.
 */
import { spawn } from 'node:child_process';
import { AmbitError } from '../errors.js';

export interface RunOptions {
  /**
   * Run inside this network namespace: a name under /run/netns (`ip netns exec`), or a path to
   * a namespace file such as `/proc/<pid>/ns/net` or a CNI runtime's `/var/run/netns/cni-…`
   * (`nsenter --net=<path>`, which, unlike `ip netns exec`, leaves the mount namespace alone).
   */
  netns?: string;
  /** Written to the command's standard input. */
  input?: string;
  /** Resolve instead of rejecting on a non-zero exit. */
  allowFail?: boolean;
  /** Kill the command after this long (default 30 s). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function commandLine(cmd: string, args: readonly string[], netns?: string): string[] {
  if (!netns) return [cmd, ...args];
  if (netns.startsWith('/')) return ['nsenter', `--net=${netns}`, '--', cmd, ...args];
  return ['ip', 'netns', 'exec', netns, cmd, ...args];
}

/** A network namespace reference (a /run/netns name or a path) as a file path. */
export function netnsRefPath(netns: string): string {
  return netns.startsWith('/') ? netns : `/run/netns/${netns}`;
}

export function run(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const argv = commandLine(cmd, args, opts.netns);
  const shown = argv.join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      timeout: opts.timeoutMs ?? 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        new AmbitError('SYS_EXEC_MISSING', `cannot run ${argv[0]}: ${err.message}`, {
          value: shown,
          hint: err.code === 'ENOENT' ? `install it (bash scripts/install.sh)` : undefined,
          cause: err,
        }),
      );
    });
    child.on('close', (code, signal) => {
      const rc = code ?? (signal ? 128 : 1);
      if (rc !== 0 && !opts.allowFail) {
        reject(
          new AmbitError(
            'SYS_EXEC_FAILED',
            `command failed (exit ${rc}${signal ? `, ${signal}` : ''}): ${shown}: ${stderr.trim() || stdout.trim()}`,
            { value: shown },
          ),
        );
        return;
      }
      resolve({ code: rc, stdout, stderr });
    });
    child.stdin.on('error', () => {
      /* the command may exit before reading its input; its exit code tells the story */
    });
    child.stdin.end(opts.input ?? '');
  });
}

export interface Started {
  pid: number | undefined;
  /** The exit code (128 after a signal); rejects only when the command cannot be started. */
  exited: Promise<number>;
}

/**
 * Starts a command whose output is not captured: the terminal's (`inherit`, for `ambit lab
 * exec`) or none (`ignore`, a request kept in flight while something else is observed).
 */
export function start(
  cmd: string,
  args: readonly string[],
  opts: { netns?: string; stdio: 'inherit' | 'ignore' },
): Started {
  const argv = commandLine(cmd, args, opts.netns);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: opts.stdio });
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (err) =>
      reject(
        new AmbitError('SYS_EXEC_MISSING', `cannot run ${argv[0]}: ${err.message}`, {
          value: argv.join(' '),
          cause: err,
        }),
      ),
    );
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  return { pid: child.pid, exited };
}

/** Runs a command and returns its standard output; rejects on failure. */
export async function out(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<string> {
  return (await run(cmd, args, opts)).stdout;
}
