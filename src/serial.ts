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
