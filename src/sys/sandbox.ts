/**
 * A pod's own UTS and mount namespaces around its container process, as a container runtime
 * gives them: `ip netns exec <netns>` (network, and /etc/netns/<netns>/* over /etc), then
 * `unshare --uts --mount` and a short shell prologue that sets the hostname, bind-mounts the
 * pod's files at their Kubernetes paths, hides the lab's state (other pods' tokens and
 * volumes, the API server's keys, the admin kubeconfig) behind empty mounts and brings the
 * pod's own directory back at its usual path, then execs the container's command (the PID
 * stays the one the kubelet started, and its command line becomes the container's).
 * No PID namespace: /proc still lists every process of the machine (a lab shortcut).
 */
import { AmbitError } from '../errors.js';

export interface SandboxBind {
  src: string;
  dst: string;
  /** Create `dst` when missing (only for paths on tmpfs such as /var/run/secrets). */
  create: boolean;
  readOnly?: boolean;
}

export interface Sandbox {
  netns: string;
  hostname: string;
  /** The pod's own directory (cwd, logs, volumes): visible again after `hide`. */
  podDir: string;
  /** An empty directory outside `hide` where `podDir` is held while hiding. */
  stash: string;
  binds: SandboxBind[];
  /** Directories covered by an empty tmpfs, files by /dev/null. */
  hideDirs: string[];
  hideFiles: string[];
}

const HOSTNAME = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;

function q(s: string): string {
  if (s.includes('\0') || s.includes('\n')) {
    throw new AmbitError('SYS_BAD_PATH', `path contains a NUL or newline: ${JSON.stringify(s)}`, {
      value: s,
    });
  }
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The shell prologue run inside the new namespaces (exported for tests). */
export function sandboxScript(s: Sandbox): string {
  if (!HOSTNAME.test(s.hostname)) {
    throw new AmbitError(
      'SYS_BAD_HOSTNAME',
      `not a valid hostname: ${JSON.stringify(s.hostname)}`,
      {
        value: s.hostname,
        hint: 'pod names are DNS labels (lowercase letters, digits, -)',
      },
    );
  }
  const lines = ['set -e', `echo ${q(s.hostname)} > /proc/sys/kernel/hostname`];
  lines.push(`mount --bind ${q(s.podDir)} ${q(s.stash)}`);
  for (const b of s.binds) {
    if (b.create) lines.push(`mkdir -p ${q(b.dst)}`);
    lines.push(`mount --bind ${q(b.src)} ${q(b.dst)}`);
    if (b.readOnly) lines.push(`mount -o remount,bind,ro ${q(b.dst)}`);
  }
  for (const d of s.hideDirs) lines.push(`mount -t tmpfs -o size=64k,mode=0700 hidden ${q(d)}`);
  for (const f of s.hideFiles) lines.push(`mount --bind /dev/null ${q(f)}`);
  lines.push(`mkdir -p ${q(s.podDir)}`, `mount --move ${q(s.stash)} ${q(s.podDir)}`);
  lines.push('exec "$@"');
  return lines.join('\n');
}

/** The argv that runs `argv` inside the pod's network, UTS and mount namespaces. */
export function sandboxArgv(s: Sandbox, argv: string[]): string[] {
  return [
    'ip',
    'netns',
    'exec',
    s.netns,
    'unshare',
    '--uts',
    '--mount',
    // slave: the machine's later mounts (a new pod's /run/netns/<name>) still appear inside,
    // which the node agent needs; nothing mounted here leaks out.
    '--propagation',
    'slave',
    '--',
    'sh',
    '-c',
    sandboxScript(s),
    'sh',
    ...argv,
  ];
}
