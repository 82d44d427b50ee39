/**
 * A queue that runs async operations one after another: the redirect backends' operations
 * (informer events and CNI plugin calls may arrive together) and the control plane's status
 * passes (a pass reads what the previous one wrote) must never overlap.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` once every earlier operation has settled; a failed one does not stop the next. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/**
 * An operation that is asked for often and must run one at a time: the kubelet's pod status
 * PATCH, the node agent's reconcile pass. Requests within `delayMs` become one run. A request
 * during a run schedules one more run after it, never a second concurrent one: two PATCHes in
 * flight could land out of order and leave an older status over a newer one for good. A run
 * that returns a number is retried after that many ms.
 */
export class CoalescedRun {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Callers of now() waiting for a run that starts after their call. */
  private waiters: (() => void)[] = [];

  /** `fn` handles its own errors (a rejection would be unhandled). */
  constructor(
    private readonly fn: () => Promise<number | undefined>,
    private readonly delayMs: number,
  ) {}

  request(delayMs = this.delayMs): void {
    if (this.stopped) return;
    if (this.current) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.start();
    }, delayMs);
  }

  /**
   * Runs without the delay (after the run in flight, if any) and resolves once a run that
   * started after this call has finished: what the caller changed before calling is applied.
   */
  now(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    // During a run, the waiter makes the next run start as soon as this one ends.
    if (!this.current) this.start();
    return done;
  }

  /** Settles when no run is in flight. */
  async idle(): Promise<void> {
    while (this.current) await this.current;
  }

  /** No run starts after this; one in flight finishes; waiting callers of now() are released. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.waiters.splice(0)) w();
  }

  private start(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.again = false;
    const served = this.waiters.splice(0);
    this.current = (async () => {
      let retryMs: number | undefined;
      try {
        retryMs = await this.fn();
      } finally {
        this.current = undefined;
        for (const w of served) w();
      }
      if (this.stopped) return;
      if (this.waiters.length > 0) this.start();
      else if (retryMs !== undefined) this.request(retryMs);
      else if (this.again) this.request();
    })();
  }
}
