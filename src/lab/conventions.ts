/**
 * The lab's own conventions, one home each: the `lab.ambit.dev/*` annotations its kubelet and
 * controllers write, and the lab name used when none is given. Mesh code (ztunnel, the control
 * plane, the node agent) must not depend on these; a real node gives the same facts through CNI.
 */
import type { Pod } from '../k8s/types.js';

export const LabAnnotation = {
  /** Pod: the named network namespace (under /run/netns) the kubelet made for it. */
  netns: 'lab.ambit.dev/netns',
  /** Pod: the node-side veth of the pod's network. */
  hostVeth: 'lab.ambit.dev/host-veth',
  /** Pod: pins the pod's address (the kubelet's IPAM honours it). */
  ip: 'lab.ambit.dev/ip',
  /**
   * DaemonSet pod template: the host number inside each node's pod CIDR, so every node's pod
   * gets `<podCIDR base + offset>` (ztunnel at 10.244.N.3 is offset 3).
   */
  ipOffset: 'lab.ambit.dev/ip-offset',
  /**
   * DaemonSet pod template, value `node`: the pods are named `<daemonset>-<node>` instead of
   * `<daemonset>-<5 random>`, so the lab's tools, demo and tests name a node's ztunnel or agent
   * (`ztunnel-worker2`) whichever controller made it. A real cluster ignores it.
   */
  podName: 'lab.ambit.dev/pod-name',
} as const;

/** The lab's name when neither a flag nor AMBIT_LAB gives one. */
export const DEFAULT_LAB = 'ambit';

/** The lab a command acts on: its flag, else AMBIT_LAB, else `ambit`. */
export function labOrDefault(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.AMBIT_LAB ?? DEFAULT_LAB;
}

/** The named netns the lab kubelet made for `pod`, once it runs. */
export function podNetns(pod: Pod): string | undefined {
  return pod.metadata.annotations?.[LabAnnotation.netns];
}
