import { IptablesBackend } from '../../src/redirect/iptables/backend.js';
import { runCaptureConformance } from '../helpers/redirect-behaviour.js';
import { iptablesAfterRewire, iptablesListings } from '../helpers/redirect-iptables-listings.js';
import { buildFixtureTopology } from '../helpers/redirect-topology.js';

runCaptureConformance({
  name: 'iptables on the ip-command fixture',
  backendFactory: (node, stateFile) =>
    new IptablesBackend({ netns: node.netns, stateFile, hostIp: node.hostIp }),
  topologyFactory: buildFixtureTopology,
  extra: iptablesListings,
  afterRewire: iptablesAfterRewire,
});
