import { IptablesBackend } from '../../src/redirect/iptables/backend.js';
import { runCaptureConformance } from '../helpers/redirect-conformance.js';
import { buildLabTopology } from '../helpers/redirect-lab-topology.js';
import { labName } from '../helpers/root.js';

// The same suite on a real lab (kubelet-made pods, kube-proxy's DNAT); the host IP is found
// the way the agent finds it (the source address towards the ztunnel pod).
runCaptureConformance(
  'iptables on a lab',
  (node, stateFile) => new IptablesBackend({ netns: node.netns, stateFile }),
  () => buildLabTopology(labName('rl')),
);
