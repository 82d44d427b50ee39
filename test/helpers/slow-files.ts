/**
 * The test files that take longest, longest first (paths relative to dist/, without `.js`), so
 * test/run.ts starts them first: a long lab file started last sets the wall time of the whole
 * run while the other slots sit idle. Order from `bash scripts/test.sh` on the 2-core machine (the
 * run prints its 15 slowest files at the end; update this list from that when a file gets
 * much slower or faster). Files not listed run after these, in path order. The first 15 are in
 * the order of CI's measured durations (guide 246 s … lab-up 77 s on the 2-core CI machine);
 * those after them took less than the 15th.
 */
export const slowFiles: readonly string[] = [
  'test/netns/guide.test',
  'test/netns/ztunnel-lab.test',
  'test/netns/gamma-faults.test',
  'test/netns/gamma-policy.test',
  'test/netns/demo.test',
  'test/netns/gamma-conformance.test',
  'test/netns/redirect-conformance-lab.test',
  'test/netns/security-faults.test',
  'test/netns/lab-custom-cluster.test',
  'test/netns/redirect-agent-lab.test',
  'test/netns/lab-install.test',
  'test/netns/redirect-ebpf-lab.test',
  'test/netns/controlplane-lab.test',
  'test/netns/ztunnel-capture.test',
  'test/netns/lab-up.test',
  'test/netns/demo-waypoint.test',
  'test/netns/security-lab.test',
  'test/netns/waypoint-lab.test',
  'test/netns/prometheus-lab.test',
  'test/netns/labsvc-kubeproxy.test',
  'test/netns/trace-lab.test',
  'test/netns/lab-down.test',
  'test/netns/lab-auth.test',
  'test/netns/lab-kubectl-streams.test',
  'test/netns/lab-pod-sandbox.test',
];
