/**
 * `ambit lab kubelet --lab N --node X`: the kubelet daemon of one lab node. Started by
 * `ambit lab up` inside the node's network namespace (netns only, same mount namespace).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AmbitError, errorMessage } from '../../errors.js';
import { stopSignal } from '../../daemon.js';
import { KubeClient } from '../../k8s/client.js';
import { createLogger } from '../../log.js';
import { findNode, inLabServer, netnsNames, type Cluster } from '../cluster/cluster.js';
import { labPaths, stateBase } from '../cluster/paths.js';
import { EventRecorder } from './events.js';
import { Ipam } from './ipam.js';
import { Kubelet } from './kubelet.js';
import { labOrDefault } from '../conventions.js';

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

export async function run(args: string[]): Promise<number> {
  const lab = labOrDefault(flag(args, '--lab'));
  const nodeName = flag(args, '--node');
  if (!nodeName) {
    throw new AmbitError('CLI_USAGE', 'usage: ambit lab kubelet --lab N --node X');
  }
  const paths = labPaths(lab);
  let cluster: Cluster;
  try {
    cluster = JSON.parse(readFileSync(paths.cluster, 'utf8')) as Cluster;
  } catch (err) {
    throw new AmbitError('LAB_NOT_RUNNING', `cannot read ${paths.cluster}`, {
      value: paths.cluster,
      hint: 'start the lab with `ambit lab up`',
      cause: err,
    });
  }
  const node = findNode(cluster, nodeName);
  const log = createLogger(`kubelet/${nodeName}`);
  // AMBIT_KUBECONFIG: this kubelet's own identity (system:node:<node>), written by the API server.
  const client = process.env.AMBIT_KUBECONFIG
    ? KubeClient.fromEnv()
    : new KubeClient({ server: process.env.AMBIT_KUBE_SERVER || inLabServer(cluster) });
  const nodeDir = join(paths.nodes, nodeName);
  const kubelet = new Kubelet({
    lab,
    cluster,
    node,
    paths,
    stateBase: stateBase(),
    nodeNetns: netnsNames.node(lab, nodeName),
    cniDir: join(nodeDir, 'cni', 'net.d'),
    recordDir: join(nodeDir, 'pods'),
    inLabServer: inLabServer(cluster),
    client,
    ipam: new Ipam(node.podCIDR),
    events: new EventRecorder(client, nodeName, log),
    log,
    takenIps: () => new Set(),
  });
  process.on('unhandledRejection', (err) => log.error('unhandled', { error: errorMessage(err) }));
  // The API server may still be starting: retry the first list until it answers.
  for (let attempt = 0; ; attempt++) {
    try {
      await kubelet.start();
      break;
    } catch (err) {
      if (attempt >= 100) throw err;
      log.warn('start failed, retrying', { error: errorMessage(err) });
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  await stopSignal();
  // Pods keep running (as with a real kubelet); `ambit lab down` stops them.
  await kubelet.stop();
  log.info('kubelet stopped');
  // Restart timers and handles of detached container processes would keep the loop alive.
  process.exit(0);
}
