/**
 * A DNS server's sockets, for the lab's cluster DNS and ztunnel's DNS proxy: UDP and TCP (RFC 1035
 * §4.2.2 two-byte length framing, pipelined per RFC 7766) on one IPv4 address and port. Every
 * message goes through `exchange()`: read, answer, encode. Nothing a client sends stops the
 * server: bad messages are counted and logged (the first ten, then every hundredth, so a flood
 * cannot fill the disk), and an answerer that throws makes a SERVFAIL.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { Packet } from 'dns-packet';
import { AmbitError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { encodeResponse, RCODE, readQuery, respond, type Query } from './message.js';

const TCP_IDLE_MS = 10_000;

export interface DnsClient {
  address: string;
  port: number;
  transport: 'udp' | 'tcp';
}

/**
 * Answers one well-formed query: a response to encode (truncated for UDP when too large), or
 * bytes to send as they are (an upstream's answer, forwarded).
 */
export type DnsAnswerer = (
  q: Query,
  raw: Buffer,
  client: DnsClient,
) => Packet | Buffer | Promise<Packet | Buffer>;

/** Counts bad messages and logs a sample of them. */
export class BadMessages {
  count = 0;
  constructor(private readonly log: Logger | undefined) {}

  note(client: DnsClient, err: unknown): void {
    this.count++;
    if (this.count <= 10 || this.count % 100 === 0) {
      this.log?.warn('bad DNS message', {
        from: `${client.address}:${client.port}`,
        transport: client.transport,
        error: errorMessage(err),
        bad: this.count,
      });
    }
  }
}

/**
 * One message in, the bytes to send back out (undefined: nothing, e.g. a message too short for a
 * header, or a response). Never rejects.
 */
export async function exchange(
  msg: Buffer,
  client: DnsClient,
  answer: DnsAnswerer,
  bad?: BadMessages,
): Promise<Buffer | undefined> {
  const read = readQuery(msg);
  let resp: Packet | Buffer;
  if (!read.ok) {
    bad?.note(client, read.error);
    if (!read.reply) return undefined;
    resp = read.reply;
  } else {
    try {
      resp = await answer(read.query, msg, client);
    } catch (err) {
      bad?.note(client, err);
      resp = respond(read.query.packet, RCODE.SERVFAIL);
    }
  }
  if (Buffer.isBuffer(resp)) return resp;
  try {
    return encodeResponse(read.ok ? read.query.packet : undefined, resp, client.transport);
  } catch (err) {
    bad?.note(client, err);
    return undefined;
  }
}

export interface DnsServer {
  port: number;
  /** Messages dropped or answered with an error for being bad. */
  readonly bad: number;
  close(): Promise<void>;
}

function listen(
  what: 'tcp' | 'udp',
  bind: (done: () => void) => void,
  target: net.Server | dgram.Socket,
  host: string,
  port: number,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (err: Error) =>
      reject(
        new AmbitError('DNS_LISTEN', `the DNS server cannot listen on ${what} ${host}:${port}`, {
          value: `${host}:${port}`,
          hint: 'another process holds the port, or the address is not on this host',
          cause: err,
        }),
      );
    target.once('error', fail);
    bind(() => {
      target.off('error', fail);
      resolve();
    });
  });
}

/**
 * TCP and UDP on one port. Port 0 lets TCP pick; that number can be held on UDP by another
 * process (the TCP and UDP spaces are separate), so a few more picks are tried before failing.
 */
async function bindBoth(
  tcp: net.Server,
  udp: dgram.Socket,
  host: string,
  wanted: number,
): Promise<number> {
  const tries = wanted === 0 ? 8 : 1;
  for (let i = 1; ; i++) {
    await listen('tcp', (done) => tcp.listen(wanted, host, done), tcp, host, wanted);
    const port = (tcp.address() as net.AddressInfo).port;
    try {
      await listen('udp', (done) => udp.bind(port, host, done), udp, host, port);
      return port;
    } catch (err) {
      await new Promise<void>((r) => tcp.close(() => r()));
      const inUse = (err as { cause?: { code?: string } }).cause?.code === 'EADDRINUSE';
      if (!inUse || i >= tries) throw err;
    }
  }
}

/** Serves `answer` on UDP and TCP at `host:port` (port 0: one free port for both). */
export async function serveDns(opts: {
  host: string;
  port: number;
  answer: DnsAnswerer;
  log?: Logger;
}): Promise<DnsServer> {
  const { host, answer, log } = opts;
  const bad = new BadMessages(log);
  const conns = new Set<net.Socket>();
  // allowHalfOpen: a client may send its queries and half-close; its answers still go out.
  const tcp = net.createServer({ allowHalfOpen: true }, (sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => undefined);
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    const client: DnsClient = {
      address: sock.remoteAddress ?? '',
      port: sock.remotePort ?? 0,
      transport: 'tcp',
    };
    let buf: Buffer = Buffer.alloc(0);
    let pending = 0;
    let ended = false;
    const settle = () => {
      if (ended && pending === 0) sock.end();
    };
    sock.on('end', () => {
      ended = true;
      settle();
    });
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        pending++;
        void exchange(msg, client, answer, bad).then((out) => {
          pending--;
          if (out && !sock.destroyed) {
            const framed = Buffer.allocUnsafe(2 + out.length);
            framed.writeUInt16BE(out.length, 0);
            out.copy(framed, 2);
            sock.write(framed);
          }
          settle();
        });
      }
    });
  });
  const udp = dgram.createSocket({ type: 'udp4', reuseAddr: false });
  udp.on('message', (msg, rinfo) => {
    const client: DnsClient = { address: rinfo.address, port: rinfo.port, transport: 'udp' };
    void exchange(msg, client, answer, bad).then((out) => {
      if (!out) return;
      udp.send(out, rinfo.port, rinfo.address, (err) => {
        if (err) log?.debug('dns send failed', { to: rinfo.address, error: errorMessage(err) });
      });
    });
  });
  const port = await bindBoth(tcp, udp, host, opts.port);
  udp.on('error', (err) => log?.warn('dns udp socket error', { error: errorMessage(err) }));

  return {
    port,
    get bad() {
      return bad.count;
    },
    close: async () => {
      await Promise.all([
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => {
          tcp.close(() => r());
          for (const c of conns) c.destroy();
        }),
      ]);
    },
  };
}
