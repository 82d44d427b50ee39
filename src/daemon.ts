/**
 * How every ambit daemon stops (ztunnel, waypoint, control plane, node agent, the lab's API
 * server, controllers, kubelet, kube-proxy, DNS and apps): on the first SIGTERM (what the
 * kubelet and `ambit lab down` send) or SIGINT (Ctrl-C). Both listeners go once one fired, so a
 * second signal takes its default action and ends the process at once.
 */
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';

export type StopSignal = 'SIGTERM' | 'SIGINT';

const STOP_SIGNALS: readonly StopSignal[] = ['SIGTERM', 'SIGINT'];

/** Calls `handler` on the first stop signal; returns what removes the listeners unfired. */
export function onStopSignal(handler: (signal: StopSignal) => void): () => void {
  const listeners = STOP_SIGNALS.map((s) => [s, () => fire(s)] as const);
  const off = () => {
    for (const [s, l] of listeners) process.off(s, l);
  };
  const fire = (s: StopSignal) => {
    off();
    handler(s);
  };
  for (const [s, l] of listeners) process.on(s, l);
  return off;
}

/** Resolves with the first stop signal. */
export function stopSignal(): Promise<StopSignal> {
  return new Promise((resolve) => onStopSignal(resolve));
}

/**
 * A proxy's end (ztunnel, waypoint): a stop signal drains it; `quit()` (the admin endpoint's
 * /quitquitquit, which drained by itself) ends it without.
 */
export class Shutdown {
  private quitNow: () => void = () => undefined;
  private readonly quitted = new Promise<void>((r) => (this.quitNow = r));

  constructor(
    private readonly log: Logger,
    private readonly exit: (code: number) => void = (code) => process.exit(code),
  ) {}

  /** Ends `serve` without a drain. */
  readonly quit = (): void => this.quitNow();

  /**
   * Waits for a stop signal or `quit()`. On a signal, logs `signal received; draining`, awaits
   * `drain` (a failure is logged as `drain failed`, not thrown), then calls `close`. Resolves
   * 0, and the process exits 100 ms later: timers (keepalive, certificate refresh) must not
   * keep a drained proxy alive.
   */
  async serve(drain: () => Promise<unknown>, close: () => void = () => undefined): Promise<number> {
    let off: () => void = () => undefined;
    const signalled = new Promise<StopSignal>((resolve) => (off = onStopSignal(resolve)));
    const first = await Promise.race([signalled, this.quitted.then(() => undefined)]);
    off();
    if (first !== undefined) {
      this.log.info('signal received; draining', { signal: first });
      try {
        await drain();
      } catch (e) {
        this.log.error('drain failed', { error: errorMessage(e) });
      } finally {
        close();
      }
    }
    setTimeout(() => this.exit(0), 100).unref();
    return 0;
  }
}
