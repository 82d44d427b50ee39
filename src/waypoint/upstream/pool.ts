/**
 * Upstream HTTP connections per endpoint, over the transport: HTTP/1.1 keep-alive connections
 * (each one CONNECT stream) in an http.Agent, and one HTTP/2 session per endpoint (requests
 * multiplexed on one CONNECT stream), replaced when it closes or gets GOAWAY.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { type OpenTransport, type UpstreamTarget, targetKey } from './transport.js';

/**
 * The socket-only calls Node's Agent makes on a pooled connection (keep-alive probes, ref/unref
 * of the event loop). A CONNECT tunnel is an HTTP/2 stream on a pooled HBONE connection that has
 * its own PING keepalive, and it holds no handle of its own: the calls have nothing to do.
 */
function asAgentSocket(s: Duplex): Duplex {
  const t = s as Duplex & Partial<Record<'setKeepAlive' | 'ref' | 'unref', () => unknown>>;
  t.setKeepAlive ??= () => t;
  t.ref ??= () => t;
  t.unref ??= () => t;
  return t;
}

class TunnelAgent extends http.Agent {
  constructor(
    private readonly target: UpstreamTarget,
    private readonly open: OpenTransport,
  ) {
    super({ keepAlive: true, maxFreeSockets: 64 });
  }

  // Asynchronous creation: Node's Agent waits for the callback when nothing is returned.
  // keepSocketAlive / reuseSocket stay Node's own: they add and remove the listeners that guard
  // a free socket (an error listener, a guard against unsolicited data); skipping reuseSocket
  // left one error listener per reuse on the tunnel (MaxListenersExceededWarning).
  override createConnection(
    _opts: http.ClientRequestArgs,
    cb?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    this.open(this.target).then(
      (s) => {
        // A tunnel is half-closable, so its end (the server closing an idle keep-alive
        // connection: FIN through the far ztunnel) does not close it, and Node's Agent only
        // drops a free socket on close: without this the next request waits on a dead one.
        s.once('end', () => setImmediate(() => s.destroy()));
        cb?.(null, asAgentSocket(s));
      },
      (err: unknown) =>
        cb?.(err instanceof Error ? err : new Error(String(err)), undefined as never),
    );
    return undefined;
  }
}

export class UpstreamPool {
  private readonly agents = new Map<string, TunnelAgent>();
  private readonly sessions = new Map<string, Promise<http2.ClientHttp2Session>>();

  constructor(
    readonly open: OpenTransport,
    private readonly log: Logger,
  ) {}

  agent(t: UpstreamTarget): http.Agent {
    const key = targetKey(t);
    let a = this.agents.get(key);
    if (!a) this.agents.set(key, (a = new TunnelAgent(t, this.open)));
    return a;
  }

  session(t: UpstreamTarget): Promise<http2.ClientHttp2Session> {
    const key = targetKey(t);
    const cached = this.sessions.get(key);
    if (cached) return cached;
    const p = this.open(t).then((stream) => {
      const s = http2.connect(`http://${t.address}:${t.targetPort}`, {
        createConnection: () => stream,
        settings: { enablePush: false },
      });
      const drop = () => {
        if (this.sessions.get(key) === p) this.sessions.delete(key);
      };
      s.once('close', drop);
      s.once('goaway', drop);
      s.on('error', (err) => {
        drop();
        this.log.debug('upstream h2 session error', { target: key, error: errorMessage(err) });
      });
      return s;
    });
    p.catch(() => {
      if (this.sessions.get(key) === p) this.sessions.delete(key);
    });
    this.sessions.set(key, p);
    return p;
  }

  /** Drops the HTTP/2 session of `t` (after a connect-level failure on it). */
  forget(t: UpstreamTarget): void {
    this.sessions.delete(targetKey(t));
  }

  stats(): { h1Agents: number; h2Sessions: number } {
    return { h1Agents: this.agents.size, h2Sessions: this.sessions.size };
  }

  async close(): Promise<void> {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(
      all.map((p) =>
        p.then(
          (s) =>
            new Promise<void>((r) => (s.destroyed ? r() : (s.once('close', () => r()), s.close()))),
          () => undefined,
        ),
      ),
    );
  }
}
