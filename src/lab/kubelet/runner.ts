/**
 * Container processes: what to run for a container (built-in `ambit/<x>` images or the
 * spec's command), checked before starting so a missing program is a clear pod error, then
 * started inside the pod's namespaces (`../../sys/sandbox.ts`: netns with its resolv.conf and
 * hosts, own hostname, own mounts) in its own process group, output appended to
 * `<podDir>/<container>.log`.
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError } from '../../errors.js';
import type { Container } from '../../k8s/types.js';
import { spawnDetached, writePidFile } from '../../sys/process.js';
import { sandboxArgv, type Sandbox } from '../../sys/sandbox.js';
import { ambitArgv } from '../cluster/paths.js';
import { imageName, knownImages } from './images.js';
import type { ImageContext } from './prometheus.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `ambit/<image>` with no command runs this `ambit` subcommand. */
const builtins: Record<string, string[]> = {
  'ambit/httpbin': ['lab', 'app', 'httpbin'],
  'ambit/sleep': ['lab', 'app', 'sleep'],
  'ambit/dns': ['lab', 'app', 'dns'],
  'ambit/ztunnel': ['ztunnel'],
  'ambit/controlplane': ['controlplane'],
  'ambit/cni': ['cni', 'run'],
  'ambit/waypoint': ['waypoint', 'run'],
};

/** Every image this kubelet can run without a command, for error messages. */
export function knownImageNames(): string[] {
  return [...Object.keys(builtins), ...Object.keys(knownImages)];
}

/**
 * The argv of a container: its command, else what its image runs (built-in `ambit/<x>`
 * images, the samples' images in images.ts); throws KUBELET_UNKNOWN_IMAGE (shown as
 * ErrImagePull) when neither says. With `podDir` (when the kubelet starts it), images that
 * need to know where the pod's volumes are get it.
 */
export function containerArgv(c: Container, podDir?: string): string[] {
  const args = c.args ?? [];
  if (c.command && c.command.length > 0) return [...c.command, ...args];
  const name = imageName(c.image);
  const builtin = builtins[name];
  if (builtin) return [...ambitArgv(), ...builtin, ...args];
  const known = knownImages[name];
  const mounts = (c as { volumeMounts?: { name: string; mountPath: string }[] }).volumeMounts ?? [];
  const ctx: ImageContext | undefined = podDir ? { podDir, mounts } : undefined;
  if (known) return known.app ? [...ambitArgv(), ...known.argv(args, ctx)] : known.argv(args, ctx);
  throw new AmbitError(
    'KUBELET_UNKNOWN_IMAGE',
    `Failed to pull image ${JSON.stringify(c.image ?? '')}: the lab kubelet has no such image and the container has no command; known images: ${knownImageNames().join(', ')}`,
    { value: c.image, hint: 'use one of the known images, or give the container a command' },
  );
}

/** Resolves a program like execvp would; undefined when it cannot be run. */
export function findExecutable(cmd: string, path = DEFAULT_PATH): string | undefined {
  // access(X_OK) succeeds for root on files without any x bit; execve does not.
  const ok = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      const st = statSync(p);
      return st.isFile() && (st.mode & 0o111) !== 0;
    } catch {
      return false;
    }
  };
  if (cmd.includes('/')) return ok(cmd) ? cmd : undefined;
  for (const dir of path.split(':')) {
    if (dir && ok(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

export interface StartSpec {
  /** The pod's namespaces: network (the pod's, or the node's for hostNetwork pods), UTS, mount. */
  sandbox: Sandbox;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  logFile: string;
  pidFile: string;
}

/** Starts the container process; throws KUBELET_NO_EXECUTABLE when the program is missing. */
export function startContainer(s: StartSpec): ChildProcess {
  const prog = s.argv[0] ?? '';
  if (!findExecutable(prog, s.env.PATH ?? DEFAULT_PATH)) {
    throw new AmbitError(
      'KUBELET_NO_EXECUTABLE',
      `exec: ${JSON.stringify(prog)}: executable file not found in $PATH`,
      { value: prog },
    );
  }
  const child = spawnDetached({
    argv: sandboxArgv(s.sandbox, s.argv),
    logFile: s.logFile,
    env: s.env,
    cwd: s.cwd,
  });
  if (child.pid !== undefined) {
    // `ip netns exec`, `unshare` and the prologue's shell each exec the next, so the PID and
    // the command line become the container's.
    writePidFile(s.pidFile, { pid: child.pid, marker: s.argv.join(' ') });
  }
  return child;
}
