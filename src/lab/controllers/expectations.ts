/**
 * What a controller has just asked the API server for but its informer has not shown yet (the
 * "expectations" of kube-controller-manager): without them, a reconcile that runs before the
 * watch delivers our own create would create the same replica twice.
 */
import type { LabPod } from './types.js';

const TTL_MS = 30_000;

export class Expectations {
  private readonly creates = new Map<string, Map<string, { pod: LabPod; until: number }>>();
  private readonly deletes = new Map<string, Map<string, number>>();

  expectCreate(owner: string, pod: LabPod): void {
    let m = this.creates.get(owner);
    if (!m) this.creates.set(owner, (m = new Map()));
    m.set(pod.metadata.name, { pod, until: Date.now() + TTL_MS });
  }

  expectDelete(owner: string, name: string): void {
    let m = this.deletes.get(owner);
    if (!m) this.deletes.set(owner, (m = new Map()));
    m.set(name, Date.now() + TTL_MS);
  }

  cancelCreate(owner: string, name: string): void {
    this.creates.get(owner)?.delete(name);
  }

  forget(owner: string): void {
    this.creates.delete(owner);
    this.deletes.delete(owner);
  }

  /**
   * The owner's pods as they will be: cached pods, plus created ones not seen yet, with
   * deleted ones marked terminating until the cache shows it.
   */
  view(owner: string, cached: readonly LabPod[]): LabPod[] {
    const now = Date.now();
    const names = new Set(cached.map((p) => p.metadata.name));
    const out: LabPod[] = [];
    const dels = this.deletes.get(owner);
    for (const p of cached) {
      const until = dels?.get(p.metadata.name);
      if (until !== undefined && until > now && !p.metadata.deletionTimestamp) {
        out.push({
          ...p,
          metadata: { ...p.metadata, deletionTimestamp: new Date(now).toISOString() },
        });
      } else {
        dels?.delete(p.metadata.name);
        out.push(p);
      }
    }
    for (const name of [...(dels?.keys() ?? [])]) if (!names.has(name)) dels?.delete(name);
    const creates = this.creates.get(owner);
    for (const [name, e] of [...(creates ?? [])]) {
      if (names.has(name) || e.until <= now) creates?.delete(name);
      else out.push(e.pod);
    }
    return out;
  }
}
