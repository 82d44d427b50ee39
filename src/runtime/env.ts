/**
 * The environment every ambit proxy process (ztunnel, waypoint, ingress gateway) starts with,
 * set wherever one is launched: the lab's ztunnel pods (src/lab/mesh/install.ts), the DaemonSet
 * of `ambit manifest generate` (src/install/manifests.ts), the waypoint/gateway Deployment
 * (src/controlplane/gateway/objects.ts); the bench reports it. V8's defaults suit large heaps;
 * a proxy keeps a small live heap and a high rate of short-lived buffers, so:
 * - `--max-semi-space-size=2` (MiB): V8's young generation defaults to 3 × 16 MiB on 64-bit,
 *   most of a ztunnel's anonymous memory after bulk traffic (bench/tools/hbone-pair.ts, Node
 *   24.22: the receiving proxy's anonymous RSS after 300 MiB went from 85 to 35–40 MB with
 *   1 MiB); 1 MiB cost iperf-8 throughput on Node 20 (bench/README.md), 2 MiB halves the
 *   scavenges of that.
 * - `MALLOC_ARENA_MAX=2`: glibc gives every thread that mallocs (V8's platform workers, libuv's
 *   pool) its own arena of up to 64 MiB; two are plenty for one event loop (2–5 MB less), and
 *   fewer arenas leave less for the trimmer (src/runtime/memory.ts) to walk.
 * The trimmer's interval (`AMBIT_MALLOC_TRIM_MS`) is not set here: its default is in the code.
 * An operator overrides any of them in the pod's env.
 */
export const PROXY_NODE_OPTIONS = '--max-semi-space-size=2';

export function proxyRuntimeEnv(): { name: string; value: string }[] {
  return [
    { name: 'NODE_OPTIONS', value: PROXY_NODE_OPTIONS },
    { name: 'MALLOC_ARENA_MAX', value: '2' },
  ];
}
