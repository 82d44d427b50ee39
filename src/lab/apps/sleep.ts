/**
 * The built-in `sleep` app (Istio's samples/sleep): a process that idles, like `sleep infinity`,
 * so the pod has something to `exec` curl next to. Exits 0 on SIGTERM/SIGINT.
 */
import { stopSignal } from '../../daemon.js';

export async function runSleep(): Promise<number> {
  // A long interval keeps the event loop alive without waking up.
  const timer = setInterval(() => undefined, 1 << 30);
  await stopSignal();
  clearInterval(timer);
  return 0;
}
