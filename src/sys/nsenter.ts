/**
 * Runs a command inside a running container's namespaces (network, mount, UTS), as
 * `kubectl exec` does: `nsenter --target <pid>` with the container's environment, stdio piped.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { AmbitError } from '../errors.js';

export interface EnterSpec {
  /** A process of the container (its namespaces are joined). */
  pid: number;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
}

export function spawnInContainer(s: EnterSpec): ChildProcessWithoutNullStreams {
  if (!Number.isInteger(s.pid) || s.pid <= 1) {
    throw new AmbitError('SYS_BAD_PID', `not a container process: ${s.pid}`, { value: s.pid });
  }
  if (s.argv.length === 0) {
    throw new AmbitError('SYS_NO_COMMAND', 'no command to run in the container', {
      value: s.argv,
      hint: 'pass the command after --',
    });
  }
  return spawn(
    'nsenter',
    [`--target=${s.pid}`, '--net', '--mount', '--uts', `--wd=${s.cwd}`, '--', ...s.argv],
    { env: s.env, stdio: ['pipe', 'pipe', 'pipe'] },
  );
}
