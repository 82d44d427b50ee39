/**
 * What a previous kubelet of this node left: per-pod records and container PID files. A
 * restarted kubelet adopts the pods that still exist and removes the rest.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../../errors.js';
import { netnsExists } from '../../sys/ip.js';
import { isOurs, readPidFile, stopProcess, type PidRecord } from '../../sys/process.js';
import { destroyPodNet } from '../net/pod-net.js';
import { invokeCni } from './cni.js';
import type { KubeletContext } from './context.js';

/** What a kubelet writes per pod so that a restarted kubelet can adopt or clean it up. */
export interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  netns?: string;
  hostVeth?: string;
  podIP?: string;
  /** Set once setup finished (network, files, CNI ADD) and containers were started. */
  complete?: boolean;
  cniDone?: boolean;
}

export interface Leftover {
  rec: PodRecord;
  /** container name → PID file contents */
  pids: Map<string, PidRecord>;
}

export function pidFileName(uid: string, container: string): string {
  return `pod-${uid.slice(0, 8)}-${container}.pid`;
}

export function loadLeftovers(ctx: KubeletContext): Map<string, Leftover> {
  const out = new Map<string, Leftover>();
  let files: string[] = [];
  try {
    files = readdirSync(ctx.recordDir).filter((f) => f.endsWith('.json'));
  } catch {
    return out;
  }
  const pidFiles = readdirSync(ctx.paths.pids);
  for (const f of files) {
    let rec: PodRecord;
    try {
      rec = JSON.parse(readFileSync(join(ctx.recordDir, f), 'utf8')) as PodRecord;
    } catch {
      rmSync(join(ctx.recordDir, f), { force: true });
      continue;
    }
    const pids = new Map<string, PidRecord>();
    const prefix = `pod-${rec.uid.slice(0, 8)}-`;
    for (const pf of pidFiles.filter((p) => p.startsWith(prefix))) {
      const pr = readPidFile(join(ctx.paths.pids, pf));
      if (pr) pids.set(pf.slice(prefix.length, -'.pid'.length), pr);
    }
    out.set(rec.uid, { rec, pids });
  }
  return out;
}

/** Stops a leftover pod's processes and removes its network, files and record. */
export async function removeLeftover(ctx: KubeletContext, l: Leftover): Promise<void> {
  const { rec } = l;
  for (const [container, pr] of l.pids) {
    if (isOurs(pr)) await stopProcess(pr.pid, 3000, true);
    rmSync(join(ctx.paths.pids, pidFileName(rec.uid, container)), { force: true });
  }
  if (rec.netns && rec.hostVeth && netnsExists(rec.netns)) {
    if (rec.podIP && rec.cniDone) {
      await invokeCni(ctx.cniDir, 'DEL', {
        uid: rec.uid,
        name: rec.name,
        namespace: rec.namespace,
        netns: rec.netns,
        hostVeth: rec.hostVeth,
        podIP: rec.podIP,
        gateway: ctx.ipam.gateway(),
      }).catch((err: unknown) =>
        ctx.log.warn('CNI DEL of a leftover pod failed', { error: errorMessage(err) }),
      );
    }
    await destroyPodNet({ nodeNetns: ctx.nodeNetns, podNetns: rec.netns, hostVeth: rec.hostVeth });
  }
  rmSync(join(ctx.recordDir, `${rec.uid}.json`), { force: true });
  ctx.log.info('removed a pod left by a previous kubelet', { pod: `${rec.namespace}/${rec.name}` });
}
