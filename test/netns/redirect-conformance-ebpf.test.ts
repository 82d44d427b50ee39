import { EbpfBackend } from '../../src/redirect/ebpf/backend.js';
import { runCaptureConformance } from '../helpers/redirect-behaviour.js';
import {
  ebpfAfterRewire,
  ebpfAfterUninstall,
  ebpfListings,
  pinDirOf,
} from '../helpers/redirect-ebpf-listings.js';
import { buildFixtureTopology } from '../helpers/redirect-topology.js';

// The same behaviour half as iptables, on the same ip-command fixture: once with
// bpf_sk_assign (what this kernel picks), once with the mark+TPROXY fallback forced.
for (const tproxy of ['sk_assign', 'mark'] as const) {
  runCaptureConformance({
    name: `ebpf (${tproxy}) on the ip-command fixture`,
    backendFactory: (node, stateFile) =>
      new EbpfBackend({
        netns: node.netns,
        stateFile,
        hostIp: node.hostIp,
        pinDir: pinDirOf(node),
        tproxy,
      }),
    topologyFactory: buildFixtureTopology,
    extra: ebpfListings(tproxy),
    afterRewire: ebpfAfterRewire,
    afterUninstall: ebpfAfterUninstall,
  });
}
