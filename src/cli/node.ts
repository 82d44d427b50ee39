/**
 * `ambit node rules <node> [--lab N]`: the node's and its ztunnel pod's live capture state, for
 * whichever backend the node runs (iptables rules, or eBPF programs, maps and counters).
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AmbitError } from '../errors.js';
import { labPaths } from '../lab/cluster/paths.js';
import { labOrDefault } from '../lab/conventions.js';
import { createBackend, ebpfPinDir } from '../redirect/backends.js';
import { ebpfRulesReport } from '../redirect/ebpf/rules-view.js';
import { agentPaths, nodeNetns } from '../redirect/paths.js';
import { nodeRulesReport } from '../redirect/rules-view.js';

export const USAGE = 'usage: ambit node rules <node> [--lab N]';

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'rules') {
    console.error(USAGE);
    return sub === undefined || sub === '-h' || sub === '--help' ? 0 : 2;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    options: { lab: { type: 'string' } },
    allowPositionals: true,
  });
  const node = positionals[0];
  if (!node) {
    console.error(USAGE);
    return 2;
  }
  const lab = labOrDefault(values.lab);
  const paths = agentPaths(lab, node);
  if (!existsSync(labPaths(lab).kubeconfig)) {
    throw new AmbitError(
      'NODE_NO_LAB',
      `lab ${lab} is not running (no ${labPaths(lab).kubeconfig})`,
      {
        value: lab,
        hint: 'start it with `ambit lab up` (or `ambit demo`), or name another with --lab',
      },
    );
  }
  if (!existsSync(`/run/netns/${nodeNetns(lab, node)}`)) {
    throw new AmbitError('NODE_NOT_FOUND', `no node ${node} in lab ${lab}`, {
      value: nodeNetns(lab, node),
      hint: 'see `ambit lab status --name <lab>` for its nodes',
    });
  }
  const ns = nodeNetns(lab, node);
  // Only to learn the backend and the ztunnel's netns; every line printed is read from the kernel.
  if (existsSync(paths.ebpfStateFile)) {
    const b = createBackend('ebpf', { netns: ns, paths, lab, node });
    process.stdout.write(
      await ebpfRulesReport(ns, ebpfPinDir(lab, node), b.status().ztunnel?.netns),
    );
    return 0;
  }
  const z = createBackend('iptables', { netns: ns, paths, lab, node }).status().ztunnel;
  process.stdout.write(await nodeRulesReport(ns, z?.netns));
  return 0;
}
