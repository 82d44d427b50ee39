/**
 * kubectl as the transport of `ambit install|uninstall`: it already speaks every way a real
 * cluster authenticates (client certificates, tokens, exec plugins) from a kubeconfig.
 */
import { AmbitError } from '../errors.js';
import { run, type RunResult } from './exec.js';

export async function kubectl(
  args: string[],
  opts: { kubeconfig?: string; context?: string; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const argv = [
    ...(opts.kubeconfig ? ['--kubeconfig', opts.kubeconfig] : []),
    ...(opts.context ? ['--context', opts.context] : []),
    ...args,
  ];
  const r = await run('kubectl', argv, {
    allowFail: true,
    input: opts.input,
    timeoutMs: opts.timeoutMs ?? 120_000,
  });
  if (r.code !== 0) {
    throw new AmbitError(
      'INSTALL_KUBECTL_FAILED',
      `kubectl ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr.trim() || r.stdout.trim()}`,
      { value: args.join(' '), hint: 'check --kubeconfig/--context and that the cluster answers' },
    );
  }
  return r;
}
