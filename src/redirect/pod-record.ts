/**
 * The agent's own record of pod networks it learned from CNI ADD (uid → ip, host veth,
 * netns path), persisted so a restarted agent still knows where each pod lives without
 * reading anything a lab or a backend wrote.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PodTarget } from './types.js';

export class PodRecord {
  private readonly byUid = new Map<string, PodTarget>();

  constructor(private readonly file: string) {
    try {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, PodTarget>;
      for (const [uid, p] of Object.entries(saved)) this.byUid.set(uid, p);
    } catch {
      /* first start */
    }
  }

  get(uid: string): PodTarget | undefined {
    return this.byUid.get(uid);
  }

  set(p: PodTarget): void {
    const had = this.byUid.get(p.uid);
    if (had && JSON.stringify(had) === JSON.stringify(p)) return;
    this.byUid.set(p.uid, p);
    this.save();
  }

  /** Forgets every uid not in `live` (pods that are gone). */
  prune(live: Set<string>): void {
    let changed = false;
    for (const uid of this.byUid.keys()) {
      if (!live.has(uid)) changed = this.byUid.delete(uid) || changed;
    }
    if (changed) this.save();
  }

  delete(uid: string): void {
    if (this.byUid.delete(uid)) this.save();
  }

  private save(): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.byUid), null, 2) + '\n');
    renameSync(tmp, this.file);
  }
}
