/**
 * `kubectl port-forward` on the kubelet side (the portforward.k8s.io protocol over SPDY):
 * each forwarded connection is a pair of streams sharing a `requestid`, an error stream and a
 * data stream, both naming the `port`; the kubelet connects to localhost:<port> inside the
 * pod's network namespace and copies bytes both ways, half-closes included. A failed connect
 * is written to the error stream, as the real kubelet does, and the data stream is reset.
 */
import type net from 'node:net';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { connectInNetns } from '../../sys/socket.js';
import type { SpdySession, SpdyStream } from './spdy.js';

export interface ForwardTarget {
  netns: string;
  pod: string;
  uid: string;
}

interface Pair {
  error?: SpdyStream;
  data?: SpdyStream;
}

export function servePortForward(session: SpdySession, t: ForwardTarget, log: Logger): void {
  const pairs = new Map<string, Pair>();
  session.on('stream', (s: SpdyStream) => {
    const type = s.headers.streamtype;
    const id = s.headers.requestid ?? s.headers.port ?? '';
    s.reply();
    if (type !== 'error' && type !== 'data') {
      s.reset();
      return;
    }
    const p = pairs.get(id) ?? {};
    p[type] = s;
    pairs.set(id, p);
    if (p.error && p.data) {
      pairs.delete(id);
      forward(p.error, p.data, t, log);
    }
  });
}

function forward(errStream: SpdyStream, data: SpdyStream, t: ForwardTarget, log: Logger): void {
  const port = Number(data.headers.port);
  const fail = (message: string): void => {
    errStream.write(Buffer.from(message));
    errStream.end();
    data.reset();
  };
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    fail(`invalid port ${JSON.stringify(data.headers.port ?? '')}: want 1-65535`);
    return;
  }
  let sock: net.Socket;
  try {
    sock = connectInNetns(t.netns, '127.0.0.1', port);
  } catch (err) {
    fail(`error forwarding port ${port} to pod ${t.pod}, uid ${t.uid}: ${errorMessage(err)}`);
    return;
  }
  let connected = false;
  const pending: Buffer[] = [];
  data.on('data', (b: Buffer) => (connected ? sock.write(b) : pending.push(b)));
  data.on('end', () => (connected ? sock.end() : pending.push(Buffer.alloc(0))));
  data.on('reset', () => sock.destroy());
  sock.on('connect', () => {
    connected = true;
    for (const b of pending) {
      if (b.length === 0) sock.end();
      else sock.write(b);
    }
    pending.length = 0;
  });
  sock.on('data', (b: Buffer) => data.write(b));
  sock.on('end', () => data.end());
  sock.on('error', (err) => {
    if (!connected) {
      fail(
        `error forwarding port ${port} to pod ${t.pod}, uid ${t.uid}: failed to connect to localhost:${port} inside namespace ${t.netns}: ${err.message}`,
      );
    } else {
      log.debug('port-forward connection error', { pod: t.pod, port, error: err.message });
      data.reset();
    }
  });
  sock.on('close', () => {
    if (connected) {
      data.end();
      errStream.end();
    }
  });
}
