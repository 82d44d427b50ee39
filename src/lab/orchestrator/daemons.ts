/**
 * The lab's daemons (apiserver, controller-manager, kubelet, kube-proxy): each its own
 * detached OS process with a log file and a PID file under the lab's state directory.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError } from '../../errors.js';
import { netnsPath } from '../../sys/ip.js';
import { alive, isOurs, readPidFile, spawnDetached, writePidFile } from '../../sys/process.js';
import { ambitArgv, repoRoot, type LabPaths } from '../cluster/paths.js';

export interface DaemonSpec {
  /** File name stem: apiserver, controller-manager, kubelet-worker, … */
  name: string;
  /** `ambit` arguments, e.g. ['lab', 'kubelet', '--lab', 'ambit', '--node', 'worker']. */
  args: string[];
  /** Run inside this network namespace (only the netns is entered, not a mount namespace). */
  netns?: string;
  env: NodeJS.ProcessEnv;
}

export interface Daemon {
  name: string;
  pid: number;
  log: string;
}

export function pidFile(paths: LabPaths, name: string): string {
  return join(paths.pids, `${name}.pid`);
}

export function logFile(paths: LabPaths, name: string): string {
  return join(paths.logs, `${name}.log`);
}

export function startDaemon(paths: LabPaths, spec: DaemonSpec): Daemon {
  // nsenter --net rather than `ip netns exec`: the latter also unshares the mount namespace,
  // and a kubelet there would create pod netns mounts that nobody else can see.
  const argv = spec.netns
    ? ['nsenter', `--net=${netnsPath(spec.netns)}`, '--', ...ambitArgv(), ...spec.args]
    : [...ambitArgv(), ...spec.args];
  const log = logFile(paths, spec.name);
  const child = spawnDetached({ argv, logFile: log, env: spec.env, cwd: repoRoot() });
  if (child.pid === undefined) {
    throw new AmbitError('LAB_DAEMON_START', `cannot start ${spec.name}`, {
      value: argv.join(' '),
      hint: `see ${log}`,
    });
  }
  child.unref();
  writePidFile(pidFile(paths, spec.name), { pid: child.pid, marker: spec.args.join(' ') });
  return { name: spec.name, pid: child.pid, log };
}

/** True when the daemon's PID file names a live process that is still that daemon. */
export function daemonRunning(paths: LabPaths, name: string): boolean {
  const rec = readPidFile(pidFile(paths, name));
  return rec !== undefined && isOurs(rec);
}

export function checkAlive(d: Daemon): void {
  if (!alive(d.pid)) {
    throw new AmbitError('LAB_DAEMON_DIED', `${d.name} exited`, {
      value: d.pid,
      hint: `see its log ${d.log}`,
    });
  }
}

/** Whether the entry module of an optional daemon exists in this checkout (built or source). */
export function entryExists(rel: string): boolean {
  const root = repoRoot();
  return (
    existsSync(join(root, 'src', 'lab', `${rel}.ts`)) ||
    existsSync(join(root, 'dist', 'src', 'lab', `${rel}.js`))
  );
}

export function listPidFiles(paths: LabPaths): string[] {
  try {
    return readdirSync(paths.pids).filter((f) => f.endsWith('.pid'));
  } catch {
    return [];
  }
}
