/**
 * Tracks proxied connections. Inbound ones (the side that enforces policy) are re-checked
 * against the current policies whenever policies change, and those now denied are closed
 * ("connection closed due to policy change"), as ztunnel's PolicyWatcher does.
 */
import type { Fields, Logger } from '../log.js';
import type { RbacConnection, RbacResult } from './rbac.js';
import { assertRbac } from './rbac.js';
import type { ZtunnelState } from '../state/store.js';

export interface TrackedConnection {
  id: number;
  direction: 'outbound' | 'inbound' | 'inbound_plaintext';
  rbac?: RbacConnection;
  /** uid of the local destination workload (inbound). */
  dstUid?: string;
  src: string;
  dst: string;
  srcIdentity?: string;
  dstIdentity?: string;
  /** Epoch ms (a number, not a `Date`: 96 B of heap per open connection less). */
  startedMs: number;
  /** Ends the connection (reset both sides). */
  close(reason: string): void;
}

export class ConnectionManager {
  private nextId = 1;
  private readonly conns = new Map<number, TrackedConnection>();
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly state: ZtunnelState,
    private readonly log: Logger,
  ) {
    state.on('policies', () => this.recheck());
    state.on('addresses', () => this.dropDeparted());
  }

  /**
   * Closes inbound connections whose destination workload left (a deleted pod: its address may
   * be given to a new pod with another identity, and a socket into a deleted netns never hears
   * a FIN, so it would stay in the table until TCP keepalive gave up).
   */
  dropDeparted(): number {
    return this.closeEach((c) =>
      !c.dstUid || this.state.workloadByUid(c.dstUid)
        ? undefined
        : {
            message: 'connection closed: its destination workload is gone',
            reason: 'destination workload removed',
          },
    );
  }

  /**
   * Closes (and forgets) every connection `why` gives a reason for, with one log line each
   * naming it; returns how many.
   */
  private closeEach(
    why: (c: TrackedConnection) => { message: string; reason: string; fields?: Fields } | undefined,
  ): number {
    let closed = 0;
    for (const c of [...this.conns.values()]) {
      const w = why(c);
      if (!w) continue;
      this.log.info(w.message, { src: c.src, dst: c.dst, identity: c.srcIdentity, ...w.fields });
      c.close(w.reason);
      this.conns.delete(c.id);
      closed++;
    }
    return closed;
  }

  track(c: Omit<TrackedConnection, 'id' | 'startedMs'>): () => void {
    const id = this.nextId++;
    this.conns.set(id, { ...c, id, startedMs: Date.now() });
    return () => {
      this.conns.delete(id);
      if (this.conns.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
  }

  get size(): number {
    return this.conns.size;
  }

  /** Re-runs authorization for every inbound connection; closes the ones now denied. */
  recheck(): number {
    return this.closeEach((c) => {
      if (!c.rbac || !c.dstUid) return undefined;
      const dst = this.state.workloadByUid(c.dstUid);
      const verdict: RbacResult = dst
        ? assertRbac(this.state, dst, c.rbac, this.log)
        : { allowed: false, reason: 'NotAllowed' };
      if (verdict.allowed) return undefined;
      return {
        message: 'connection closed due to policy change',
        reason: 'policy change',
        fields: { reason: verdict.reason, policy: verdict.policy },
      };
    });
  }

  /** Resolves when no connection is open, or after `ms`, whichever comes first. */
  waitIdle(ms: number): Promise<boolean> {
    if (this.conns.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  closeAll(reason: string): void {
    for (const c of [...this.conns.values()]) c.close(reason);
  }

  dump(): object[] {
    return [...this.conns.values()].map((c) => ({
      id: c.id,
      direction: c.direction,
      src: c.src,
      dst: c.dst,
      srcIdentity: c.srcIdentity,
      dstIdentity: c.dstIdentity,
      startedAt: new Date(c.startedMs).toISOString(),
    }));
  }
}
