/** What every pod worker of one kubelet shares. */
import type { KubeClient } from '../../k8s/client.js';
import type { Logger } from '../../log.js';
import type { Cluster, ClusterNode } from '../cluster/cluster.js';
import type { LabPaths } from '../cluster/paths.js';
import type { EventRecorder } from './events.js';
import type { Ipam } from './ipam.js';

export interface KubeletContext {
  lab: string;
  cluster: Cluster;
  node: ClusterNode;
  paths: LabPaths;
  /** AMBIT_STATE_DIR as pods see it (the directory holding labs/). */
  stateBase: string;
  nodeNetns: string;
  /** `<state>/nodes/<node>/cni/net.d` */
  cniDir: string;
  /** `<state>/nodes/<node>/pods`: one record per pod this kubelet set up. */
  recordDir: string;
  inLabServer: string;
  client: KubeClient;
  ipam: Ipam;
  events: EventRecorder;
  log: Logger;
  /** Addresses other pods on this node report, so a new pod never takes one. */
  takenIps(exceptUid: string): Set<string>;
}
