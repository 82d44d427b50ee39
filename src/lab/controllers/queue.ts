/**
 * A de-duplicating work queue with one worker, like client-go's workqueue: a key queued many
 * times before it is processed runs once; a failing key is retried with capped backoff; a key
 * is never processed twice at the same time.
 */
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';

export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  private wake: (() => void) | undefined;
  private busy = false;
  private stopped = false;
  private done: Promise<void> | undefined;

  constructor(
    private readonly handler: (key: string) => Promise<void>,
    private readonly log?: Logger,
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    this.pending.add(key);
    this.wake?.();
  }

  /** Queues `key` after `ms` (a later call replaces an earlier, not-yet-fired one). */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.delayed.get(key));
    this.delayed.set(
      key,
      setTimeout(() => {
        this.delayed.delete(key);
        this.add(key);
      }, ms),
    );
  }

  start(): void {
    this.done ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.delayed.values()) clearTimeout(t);
    this.delayed.clear();
    this.wake?.();
    await this.done;
  }

  /** Resolves when nothing is queued (delayed keys are not waited for); for tests. */
  async idle(timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((this.pending.size > 0 || this.busy) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const key = this.pending.values().next().value;
      if (key === undefined) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      this.pending.delete(key);
      this.busy = true;
      try {
        await this.handler(key);
        this.failures.delete(key);
      } catch (err) {
        const n = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, n);
        const backoff = Math.min(100 * 2 ** (n - 1), 10_000);
        this.log?.warn('sync failed, will retry', {
          key,
          error: errorMessage(err),
          backoffMs: backoff,
        });
        this.addAfter(key, backoff);
      } finally {
        this.busy = false;
      }
    }
  }
}
