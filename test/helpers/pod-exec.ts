/**
 * A command in a lab pod's network namespace, as `ambit lab exec` runs it (the same lookup,
 * podExecNetns: the pod by name or unique `<name>-` prefix, a hostNetwork pod's node), but from
 * this process: a CLI start per command is a Node start and module load, which tests that send
 * hundreds of requests paid in minutes of CPU. lab-up.test.ts covers `ambit lab exec` itself.
 */
import { KubeClient } from '../../src/k8s/client.js';
import { errorMessage } from '../../src/errors.js';
import { labPaths } from '../../src/lab/cluster/paths.js';
import { podExecNetns } from '../../src/lab/orchestrator/status.js';
import { run, type RunResult } from '../../src/sys/exec.js';

export async function podExec(
  lab: string,
  namespace: string,
  pod: string,
  cmd: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  let netns: string;
  try {
    // Read each time: a lab brought up again under the same name has a new CA.
    const client = KubeClient.fromKubeconfig(labPaths(lab).kubeconfig);
    netns = await podExecNetns(client, lab, namespace, pod);
  } catch (err) {
    // As `ambit lab exec` fails: a non-zero exit, the reason on stderr.
    return { code: 1, stdout: '', stderr: errorMessage(err) };
  }
  return run(cmd[0]!, cmd.slice(1), {
    netns,
    allowFail: true,
    timeoutMs: opts.timeoutMs ?? 120_000,
    env: opts.env,
  });
}
