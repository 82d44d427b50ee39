import { after } from 'node:test';
import { EbpfBackend } from '../../src/redirect/ebpf/backend.js';
import { IptablesBackend } from '../../src/redirect/iptables/backend.js';
import { runCaptureConformance } from '../helpers/redirect-behaviour.js';
import {
  ebpfAfterRewire,
  ebpfAfterUninstall,
  ebpfListings,
  pinDirOf,
} from '../helpers/redirect-ebpf-listings.js';
import { iptablesAfterRewire, iptablesListings } from '../helpers/redirect-iptables-listings.js';
import { buildLabTopology } from '../helpers/redirect-lab-topology.js';
import type { CaptureTopology, TopoPod } from '../helpers/redirect-topology.js';
import { labName } from '../helpers/root.js';

// The same suite on a real lab (kubelet-made pods, kube-proxy's DNAT), once per backend on one
// lab: the first backend's uninstall must leave the nodes exactly as they were, so the second
// starts from the same kernel state (switching a node's backend). The host IP is found the way
// the agent finds it (the source address towards the ztunnel pod).
let lab: Promise<CaptureTopology> | undefined;

/** The shared lab for one suite: what the suite adds (the rewire's ztunnel) goes with it. */
async function labTopology(): Promise<CaptureTopology> {
  const t = await (lab ??= buildLabTopology(labName('rl')));
  const added: TopoPod[] = [];
  return {
    ...t,
    addPod: async (name, node, ip) => {
      const p = await t.addPod(name, node, ip);
      added.push(p);
      return p;
    },
    destroy: async () => {
      for (const p of added.splice(0)) await t.removePod(p);
    },
  };
}

after(async () => {
  if (lab) await (await lab.catch(() => undefined))?.destroy();
});

runCaptureConformance({
  name: 'iptables on a lab',
  backendFactory: (node, stateFile) => new IptablesBackend({ netns: node.netns, stateFile }),
  topologyFactory: labTopology,
  extra: iptablesListings,
  afterRewire: iptablesAfterRewire,
});

runCaptureConformance({
  name: 'ebpf on a lab',
  backendFactory: (node, stateFile) =>
    new EbpfBackend({ netns: node.netns, stateFile, pinDir: pinDirOf(node), tproxy: 'auto' }),
  topologyFactory: labTopology,
  extra: ebpfListings('sk_assign'),
  afterRewire: ebpfAfterRewire,
  afterUninstall: ebpfAfterUninstall,
});
