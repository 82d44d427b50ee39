/**
 * `ambit cni`: the node agent (istio-cni).
 *   run        the agent (a hostNetwork pod per node; env NODE_NAME, AMBIT_LAB, AMBIT_KUBE_SERVER)
 *   plugin     the CNI plugin the kubelet calls on pod ADD/DEL
 *   uninstall  remove every capture object of a node and the chained plugin (explicit: the
 *              agent's exit leaves capture in place, so a restart never lets plaintext out)
 */
import { parseArgs } from 'node:util';
import { stopSignal } from '../daemon.js';
import { AmbitError, errorMessage } from '../errors.js';
import { KubeClient } from '../k8s/client.js';
import { createLogger, type Logger } from '../log.js';
import { resources } from '../k8s/resources.js';
import type { KubeObject } from '../k8s/types.js';
import { CNI_DAEMONSET } from '../install/names.js';
import { NodeAgent } from '../redirect/agent.js';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import {
  createBackend,
  parseRedirectMode,
  REDIRECT_MODES,
  stateFileOf,
} from '../redirect/backends.js';
import { unchainPlugin } from '../redirect/cni-config.js';
import { agentPaths, BACKEND_SWITCHED, nodeNetns } from '../redirect/paths.js';
import { runPlugin } from '../redirect/plugin.js';
import { parseTproxySetting } from '../redirect/ebpf/tproxy-mode.js';

export const USAGE = `usage: ambit cni <command>
  run [--node X] [--lab N] [--netns NS] [--redirect iptables|ebpf]   the node agent
      [--ebpf-tproxy auto|sk_assign|mark]  eBPF: bpf_sk_assign, or the mark+TPROXY fallback
  plugin                                                        CNI plugin (stdin: config, env: CNI_*)
  uninstall --node X [--lab N]                                  remove the node's capture state`;

function need(v: string | undefined, what: string, hint: string): string {
  if (!v) throw new AmbitError('CNI_MISSING_ARG', `missing ${what}`, { hint });
  return v;
}

async function runAgent(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      node: { type: 'string' },
      lab: { type: 'string' },
      netns: { type: 'string' },
      redirect: { type: 'string' },
      'ebpf-tproxy': { type: 'string' },
    },
  });
  const node = need(values.node ?? process.env.NODE_NAME, 'node name', 'set NODE_NAME or --node');
  const lab = values.lab ?? process.env.AMBIT_LAB ?? 'ambit';
  const mode = parseRedirectMode(values.redirect ?? process.env.AMBIT_REDIRECT_MODE);
  const ebpfTproxy = parseTproxySetting(values['ebpf-tproxy'] ?? process.env.AMBIT_EBPF_TPROXY);
  const paths = agentPaths(lab, node);
  const log = createLogger(`cni/${node}`);
  const backend = createBackend(mode, { netns: values.netns, paths, lab, node, log, ebpfTproxy });
  const client = KubeClient.fromEnv();
  const agent = new NodeAgent({
    client,
    node,
    backend,
    cniDir: paths.cniDir,
    socketPath: paths.socket,
    podRecordFile: paths.podRecordFile,
    netns: values.netns,
    log,
  });
  await agent.start();
  // Switching a node's backend with pods running: the new one captures first, then what the
  // other left is removed, then the new one converges again (both use rule 20000/table 100
  // in the ztunnel netns).
  for (const other of REDIRECT_MODES) {
    if (other === mode || !existsSync(stateFileOf(other, paths))) continue;
    log.info('removing the previous redirection backend', { previous: other, now: mode });
    await createBackend(other, { netns: values.netns, paths, lab, node, log }).uninstall();
    await agent.resync();
    // The mesh install waits for this line before it reports the switch done.
    log.info(BACKEND_SWITCHED, { previous: other, now: mode });
  }
  const signal = await stopSignal();
  await agent.stop();
  // As istio-cni does: stopped because its DaemonSet is gone (`ambit uninstall`), it removes
  // what it installed; any other stop (restart, upgrade) leaves capture in place, fail closed.
  if (await daemonSetGone(client, log)) {
    log.info('DaemonSet removed: uninstalling capture from this node', { signal });
    unchainPlugin(paths.cniDir);
    for (const m of REDIRECT_MODES) {
      await createBackend(m, { netns: values.netns, paths, lab, node, log }).uninstall();
    }
    return 0;
  }
  log.info('stopping; capture stays in place', { signal });
  return 0;
}

/** True when this agent runs as a pod of the istio-cni-node DaemonSet and that is deleted. */
async function daemonSetGone(client: KubeClient, log: Logger): Promise<boolean> {
  const ns = process.env.POD_NAMESPACE;
  const name = process.env.POD_NAME;
  if (!ns || !name) return false;
  try {
    // Only a pod the DaemonSet owns may read its absence as "uninstalled": a bare agent pod (the
    // lab's default install) stopped for a restart must keep capture in place.
    const self = await client.tryGet<KubeObject>(resources.pods, name, ns);
    const owned = self?.metadata.ownerReferences?.some(
      (o) => o.kind === 'DaemonSet' && o.name === CNI_DAEMONSET,
    );
    if (!owned) return false;
    const ds = await client.tryGet<KubeObject>(resources.daemonsets, CNI_DAEMONSET, ns);
    return !ds || ds.metadata.deletionTimestamp !== undefined;
  } catch (err) {
    log.warn('cannot tell whether the DaemonSet is gone; capture stays', {
      error: errorMessage(err),
    });
    return false;
  }
}

async function uninstall(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { node: { type: 'string' }, lab: { type: 'string' } },
  });
  const node = need(values.node, '--node', 'ambit cni uninstall --lab N --node X');
  const lab = values.lab ?? process.env.AMBIT_LAB ?? 'ambit';
  const paths = agentPaths(lab, node);
  // A running agent reconciles its pods again and re-creates what this removed (an ipset, a
  // program): removing capture under it would leave the node half-captured.
  if (await agentAnswers(paths.socket)) {
    throw new AmbitError('CNI_AGENT_RUNNING', `node ${node}'s agent is running (${paths.socket})`, {
      hint: `stop it first: kubectl delete pod -n istio-system istio-cni-node-${node} (a DaemonSet's pods: ambit uninstall)`,
    });
  }
  unchainPlugin(paths.cniDir);
  for (const mode of REDIRECT_MODES) {
    await createBackend(mode, { netns: nodeNetns(lab, node), paths, lab, node }).uninstall();
  }
  console.log(`removed capture state of node ${node} (lab ${lab})`);
  return 0;
}

/** True when something accepts connections on the agent's socket (a stale file does not). */
function agentAnswers(socket: string): Promise<boolean> {
  if (!existsSync(socket)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const s = connect(socket);
    const done = (up: boolean) => {
      s.destroy();
      resolve(up);
    };
    s.setTimeout(2000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function readStdin(): Promise<string> {
  let s = '';
  for await (const chunk of process.stdin) s += String(chunk);
  return s;
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'run':
      return runAgent(rest);
    case 'plugin':
      return runPlugin(await readStdin(), process.env);
    case 'uninstall':
      return uninstall(rest);
    default:
      console.error(USAGE);
      return sub === undefined || sub === '-h' || sub === '--help' ? 0 : 2;
  }
}
