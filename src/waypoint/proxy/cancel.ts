/**
 * Cancellation of one request and of its attempts (client gone, timeouts). Node's
 * AbortController is an EventTarget: building one and each add/removeEventListener cost more
 * than the rest of the per-request bookkeeping (two controllers and five listeners per request,
 * ~2 % of the waypoint's CPU in a `--cpu-prof` of bench/l7-pair.ts); a request needs only a
 * flag, a reason and a few callbacks. `CancelSignal` is the part of AbortSignal the proxy
 * uses, so an AbortSignal (tests, `AbortSignal.timeout`) is accepted wherever a Cancel is.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export class Cancel implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  private listeners: (() => void)[] | undefined;

  /** The signal side (the object itself), named as AbortController's. */
  get signal(): CancelSignal {
    return this;
  }

  /** Runs every listener once, in order; later calls do nothing (as AbortController.abort). */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const ls = this.listeners;
    // Taken one at a time, so a listener removing a later one keeps it from running.
    while (ls && ls.length > 0) ls.shift()!();
    this.listeners = undefined;
  }

  /** Listeners run at most once; one added after the abort never runs (as AbortSignal's). */
  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted) (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const ls = this.listeners;
    const i = ls ? ls.indexOf(listener) : -1;
    if (i >= 0) ls!.splice(i, 1);
  }
}
