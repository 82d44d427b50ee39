/**
 * The environment ztunnel's process starts with, set wherever ztunnel is launched (the lab's
 * per-node pods, the DaemonSet of `ambit manifest generate`). V8's defaults suit large heaps;
 * a proxy keeps a small live heap and a high rate of short-lived buffers, so:
 * - `--max-semi-space-size=2` (MiB): V8's young generation defaults to 3 × 16 MiB on 64-bit,
 *   most of a ztunnel's anonymous memory after bulk traffic (bench/tools/hbone-pair.ts, Node
 *   24.22: the receiving proxy's anonymous RSS after 300 MiB went from 85 to 35–40 MB with
 *   1 MiB); 1 MiB cost iperf-8 throughput on Node 20 (bench/README.md), 2 MiB halves the
 *   scavenges of that.
 * - `MALLOC_ARENA_MAX=2`: glibc gives every thread that mallocs (V8's platform workers, libuv's
 *   pool) its own arena of up to 64 MiB; two are plenty for one event loop (2–5 MB less).
 * An operator overrides them in the pod's env.
 */
export const ZTUNNEL_NODE_OPTIONS = '--max-semi-space-size=2';

export function ztunnelRuntimeEnv(): { name: string; value: string }[] {
  return [
    { name: 'NODE_OPTIONS', value: ZTUNNEL_NODE_OPTIONS },
    { name: 'MALLOC_ARENA_MAX', value: '2' },
  ];
}
