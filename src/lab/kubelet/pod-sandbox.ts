/**
 * The namespaces one container of a pod runs in (src/sys/sandbox.ts makes them): the pod's
 * network namespace, its hostname, its files at the Kubernetes paths, the lab's state hidden.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Container, Pod } from '../../k8s/types.js';
import type { Sandbox, SandboxBind } from '../../sys/sandbox.js';
import type { LabPaths } from '../cluster/paths.js';
import { podVolumes, SERVICE_ACCOUNT_DIR, serviceAccountDir } from './volumes.js';

export interface PodSandboxInput {
  pod: Pod;
  container: Container;
  netns: string;
  hostname: string;
  podDir: string;
  /** Where the sandbox holds the pod's directory while it hides the lab's state. */
  stash: string;
  paths: LabPaths;
}

/**
 * The service-account volume, ConfigMap and Secret volumes at their mountPath. A mountPath is
 * created only under /var/run or /run (tmpfs); elsewhere it must already exist on the machine,
 * or the volume stays reachable through AMBIT_VOLUME_* only.
 */
export function podSandbox(i: PodSandboxInput): Sandbox {
  const binds: SandboxBind[] = [
    {
      src: serviceAccountDir(i.podDir),
      dst: SERVICE_ACCOUNT_DIR,
      create: true,
      readOnly: true,
    },
  ];
  const volumes = new Set(podVolumes(i.pod).map((v) => v.name));
  const mounts =
    (i.container as { volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] })
      .volumeMounts ?? [];
  for (const m of mounts) {
    if (!volumes.has(m.name) || !m.mountPath.startsWith('/')) continue;
    const onTmpfs = /^\/(var\/)?run\//.test(m.mountPath);
    if (!onTmpfs && !existsSync(m.mountPath)) continue;
    binds.push({
      src: join(i.podDir, 'volumes', m.name),
      dst: m.mountPath,
      create: onTmpfs,
      readOnly: m.readOnly,
    });
  }
  const p = i.paths;
  return {
    netns: i.netns,
    hostname: i.hostname,
    podDir: i.podDir,
    stash: i.stash,
    binds,
    hideDirs: [p.pods, p.pki, join(p.dir, 'apiserver'), join(p.dir, 'kubelet')].filter((d) =>
      existsSync(d),
    ),
    hideFiles: [p.kubeconfig].filter((f) => existsSync(f)),
  };
}
