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
 * An operation that is asked for often and must run one at a time, e.g. the kubelet's pod
 * status PATCH. Requests within `delayMs` become one run. A request during a run schedules
 * one more run after it, never a second concurrent one: two PATCHes in flight could land out
 * of order and leave an older status over a newer one for good. A run that returns a number
 * is retried after that many ms.
 */
export class CoalescedRun {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private stopped = false;

  /** `fn` handles its own errors (a rejection would be unhandled). */
  constructor(
    private readonly fn: () => Promise<number | undefined>,
    private readonly delayMs: number,
  ) {}

  request(delayMs = this.delayMs): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runOnce();
    }, delayMs);
  }

  /** No run starts after this; one in flight finishes. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async runOnce(): Promise<void> {
    this.running = true;
    this.again = false;
    let retryMs: number | undefined;
    try {
      retryMs = await this.fn();
    } finally {
      this.running = false;
    }
    if (retryMs !== undefined) this.request(retryMs);
    else if (this.again) this.request();
  }
}
