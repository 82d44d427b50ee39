/**
 * The built-in `sleep` app (Istio's samples/sleep): a process that idles, like `sleep infinity`,
 * so the pod has something to `exec` curl next to. Exits 0 on SIGTERM/SIGINT.
 */
export function runSleep(): Promise<number> {
  return new Promise((resolve) => {
    // A long interval keeps the event loop alive without waking up.
    const timer = setInterval(() => undefined, 1 << 30);
    const stop = () => {
      clearInterval(timer);
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
