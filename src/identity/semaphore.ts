/**
 * A counting semaphore whose waiters are served by priority, then arrival: certificate fetches
 * for a connection waiting now go before prefetches, which go before background refreshes.
 */
export enum FetchPriority {
  RealTime = 0,
  Warmup = 1,
  Background = 2,
}

interface Waiter {
  priority: FetchPriority;
  seq: number;
  start: () => void;
}

export class PrioritySemaphore {
  private running = 0;
  private seq = 0;
  private readonly waiting: Waiter[] = [];

  constructor(private readonly limit: number) {}

  /** Runs `fn` once a slot is free. `handle.raise()` moves a queued task ahead. */
  run<T>(
    priority: FetchPriority,
    fn: () => Promise<T>,
  ): { result: Promise<T>; raise: (p: FetchPriority) => void } {
    let waiter: Waiter | undefined;
    const result = new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running++;
        fn()
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.pump();
          });
      };
      if (this.running < this.limit && this.waiting.length === 0) start();
      else {
        waiter = { priority, seq: this.seq++, start };
        this.waiting.push(waiter);
      }
    });
    return {
      result,
      raise: (p) => {
        if (waiter && p < waiter.priority) waiter.priority = p;
      },
    };
  }

  active(): number {
    return this.running;
  }

  queued(): number {
    return this.waiting.length;
  }

  private pump(): void {
    while (this.running < this.limit && this.waiting.length > 0) {
      let best = 0;
      for (let i = 1; i < this.waiting.length; i++) {
        const w = this.waiting[i]!;
        const b = this.waiting[best]!;
        if (w.priority < b.priority || (w.priority === b.priority && w.seq < b.seq)) best = i;
      }
      const [w] = this.waiting.splice(best, 1);
      w?.start();
    }
  }
}
