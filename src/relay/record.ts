/**
 * The one connection record of every hop (Istio ztunnel's `ConnectionResult`): opened when the
 * proxy knows who is talking to whom, closed exactly once with the bytes each way, the duration
 * and why it ended (a refusal's response flag, a socket error, a stream the peer reset). What
 * "opened" and "closed" emit — metrics, the access-log line — is the proxy's sink.
 */
import type { Duplex } from 'node:stream';
import { errorMessage } from '../errors.js';
import { splice, type SpliceResult } from './splice.js';

export interface ConnectionOutcome {
  /** Bytes sent toward the destination (downstream → upstream). */
  bytesSent: number;
  /** Bytes received from the destination. */
  bytesRecv: number;
  durationMs: number;
  /** Why it ended badly, if it did. */
  error?: string;
  /** Istio response flag of a refused or failed connection, e.g. AuthorizationPolicyDenied. */
  responseFlags?: string;
}

export interface ConnectionSink<O> {
  opened(open: O): void;
  closed(open: O, outcome: ConnectionOutcome): void;
}

export class ConnectionRecord<O> {
  private done = false;
  private readonly onClosed: (() => void)[] = [];

  constructor(
    private readonly sink: ConnectionSink<O>,
    readonly open: O,
    /** When the connection was accepted (durations count from here). */
    readonly startedMs = Date.now(),
  ) {
    sink.opened(open);
  }

  get closed(): boolean {
    return this.done;
  }

  /** Runs `fn` when the record closes (e.g. to untrack the connection). */
  whenClosed(fn: () => void): void {
    if (this.done) fn();
    else this.onClosed.push(fn);
  }

  /** Refused or failed before any byte was copied. */
  fail(responseFlags: string, error: unknown): void {
    this.close({ bytesSent: 0, bytesRecv: 0, error: errorMessage(error), responseFlags });
  }

  /** Closes with a copy loop's result. */
  finish(r: SpliceResult): void {
    this.close({
      bytesSent: r.up,
      bytesRecv: r.down,
      error: r.error ? errorMessage(r.error) : undefined,
    });
  }

  /** Copies between `down` (the client side) and `up` to the end, then closes. */
  async splice(down: Duplex, up: Duplex): Promise<SpliceResult> {
    const r = await splice(down, up);
    this.finish(r);
    return r;
  }

  /** Idempotent: the first close wins. */
  close(o: Omit<ConnectionOutcome, 'durationMs'>): void {
    if (this.done) return;
    this.done = true;
    this.sink.closed(this.open, { ...o, durationMs: Date.now() - this.startedMs });
    for (const fn of this.onClosed.splice(0)) fn();
  }
}
