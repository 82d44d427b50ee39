import { IptablesBackend } from '../../src/redirect/iptables/backend.js';
import { runCaptureConformance } from '../helpers/redirect-behaviour.js';
import { iptablesAfterRewire, iptablesListings } from '../helpers/redirect-iptables-listings.js';
import { buildLabTopology } from '../helpers/redirect-lab-topology.js';
import { labName } from '../helpers/root.js';

// The same suite on a real lab (kubelet-made pods, kube-proxy's DNAT); the host IP is found
// the way the agent finds it (the source address towards the ztunnel pod).
runCaptureConformance({
  name: 'iptables on a lab',
  backendFactory: (node, stateFile) => new IptablesBackend({ netns: node.netns, stateFile }),
  topologyFactory: () => buildLabTopology(labName('rl')),
  extra: iptablesListings,
  afterRewire: iptablesAfterRewire,
});
