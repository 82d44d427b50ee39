import { EbpfBackend } from '../../src/redirect/ebpf/backend.js';
import { runCaptureConformance } from '../helpers/redirect-behaviour.js';
import {
  ebpfAfterRewire,
  ebpfAfterUninstall,
  ebpfListings,
  pinDirOf,
} from '../helpers/redirect-ebpf-listings.js';
import { buildFixtureTopology } from '../helpers/redirect-topology.js';

// The same behaviour half as iptables, on the same ip-command fixture.
runCaptureConformance({
  name: 'ebpf on the ip-command fixture',
  backendFactory: (node, stateFile) =>
    new EbpfBackend({ netns: node.netns, stateFile, hostIp: node.hostIp, pinDir: pinDirOf(node) }),
  topologyFactory: buildFixtureTopology,
  extra: ebpfListings,
  afterRewire: ebpfAfterRewire,
  afterUninstall: ebpfAfterUninstall,
});
