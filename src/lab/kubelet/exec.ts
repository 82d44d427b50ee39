/**
 * `kubectl exec` on the kubelet side, over the WebSocket channel protocol kubectl 1.30+
 * speaks (v5.channel.k8s.io, and v4): every binary message starts with a channel byte,
 * 0 stdin, 1 stdout, 2 stderr, 3 error (a metav1.Status as JSON when the command ends),
 * 4 resize; v5 adds 255 <channel> to half-close a channel (stdin's end). The command runs in
 * the container's namespaces with its environment.
 */
import type { WebSocket } from 'ws';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { spawnInContainer } from '../../sys/nsenter.js';

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const CLOSE = 255;

export interface ExecTarget {
  pid: number;
  env: Record<string, string>;
  cwd: string;
}

export function exitStatus(code: number | null, signal: NodeJS.Signals | null): object {
  if (code === 0) return { metadata: {}, status: 'Success' };
  const exit = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: exit status ${exit}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exit) }] },
  };
}

export function serveExec(
  ws: WebSocket,
  t: ExecTarget,
  argv: string[],
  opts: { stdin: boolean; stdout: boolean; stderr: boolean },
  log: Logger,
): void {
  const send = (ch: number, data: Buffer | string): void => {
    if (ws.readyState !== ws.OPEN) return;
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    ws.send(Buffer.concat([Buffer.from([ch]), b]));
  };
  let child;
  try {
    child = spawnInContainer({ pid: t.pid, argv, env: t.env, cwd: t.cwd });
  } catch (err) {
    send(ERROR, JSON.stringify({ metadata: {}, status: 'Failure', message: errorMessage(err) }));
    ws.close(1000);
    return;
  }
  const proc = child;
  if (!opts.stdin) proc.stdin.end();
  proc.stdin.on('error', () => undefined); // the command may exit without reading its input
  proc.stdout.on('data', (b: Buffer) => opts.stdout && send(STDOUT, b));
  proc.stderr.on('data', (b: Buffer) => opts.stderr && send(STDERR, b));
  proc.on('error', (err) => {
    send(ERROR, JSON.stringify({ metadata: {}, status: 'Failure', message: err.message }));
    ws.close(1000);
  });
  proc.on('close', (code, signal) => {
    send(ERROR, JSON.stringify(exitStatus(code, signal)));
    ws.close(1000);
  });
  ws.on('message', (raw: Buffer, isBinary: boolean) => {
    const b = isBinary ? raw : Buffer.from(raw);
    if (b.length === 0) return;
    if (b[0] === STDIN) {
      if (opts.stdin && b.length > 1) proc.stdin.write(b.subarray(1));
    } else if (b[0] === CLOSE && b[1] === STDIN) {
      proc.stdin.end();
    }
  });
  ws.on('close', () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      log.debug('exec client went away, stopping the command', { argv: argv.join(' ') });
      proc.kill('SIGKILL');
    }
  });
}
