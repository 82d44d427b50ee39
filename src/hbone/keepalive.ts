/**
 * HTTP/2 PING keepalive, as ztunnel's `do_ping_pong` on both ends of HBONE: a PING every
 * interval; no answer within the timeout means the peer is gone (a silent drop would otherwise
 * hold the connection and its streams until TCP gives up).
 */
import type http2 from 'node:http2';

export function startKeepalive(
  session: http2.Http2Session,
  intervalMs: number,
  timeoutMs: number,
  onTimeout: () => void,
): () => void {
  let deadline: NodeJS.Timeout | undefined;
  const stop = () => {
    clearInterval(interval);
    clearTimeout(deadline);
    deadline = undefined;
  };
  const interval = setInterval(() => {
    if (deadline || session.connecting) return;
    if (session.closed || session.destroyed) return stop();
    deadline = setTimeout(() => {
      stop();
      onTimeout();
    }, timeoutMs).unref();
    const sent = session.ping((err) => {
      // An error means the session is going away; its close handling takes over.
      if (err) return;
      clearTimeout(deadline);
      deadline = undefined;
    });
    if (!sent) {
      clearTimeout(deadline);
      deadline = undefined;
    }
  }, intervalMs).unref();
  session.once('close', stop);
  return stop;
}
