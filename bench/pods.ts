/** The processes behind a lab's pods, from the kubelet's pid records (for metering). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pod } from '../src/k8s/types.js';
import { labPaths } from '../src/lab/cluster/paths.js';

/** PIDs of a pod's containers in lab `lab`. */
export function podPids(lab: string, pod: Pod): number[] {
  const dir = labPaths(lab).pids;
  const prefix = `pod-${(pod.metadata.uid ?? '').slice(0, 8)}-`;
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(prefix)) : [];
  return files
    .map((f) => Number(readFileSync(join(dir, f), 'utf8').split('\n')[0]))
    .filter((p) => p > 0);
}
