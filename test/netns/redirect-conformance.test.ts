import { IptablesBackend } from '../../src/redirect/iptables/backend.js';
import { runCaptureConformance } from '../helpers/redirect-conformance.js';
import { buildFixtureTopology } from '../helpers/redirect-topology.js';

runCaptureConformance(
  'iptables on the ip-command fixture',
  (node, stateFile) => new IptablesBackend({ netns: node.netns, stateFile, hostIp: node.hostIp }),
  buildFixtureTopology,
);
