/**
 * The DNS proxy (15053, UDP and TCP, when DNS capture is on): answers mesh service names from
 * state, forwards the rest unchanged to the upstream resolver of /etc/resolv.conf (sockets and
 * wire: src/dns).
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { DecodedPacket, Packet } from 'dns-packet';
import { encodeResponse, RCODE, respond, type Query } from '../../dns/message.js';
import { BadMessages, exchange, serveDns, type DnsServer } from '../../dns/server.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../metrics.js';
import type { ZtunnelState } from '../../state/store.js';
import { resolveMesh } from './resolver.js';

export function upstreamFromResolvConf(path = '/etc/resolv.conf'): string | undefined {
  try {
    const m = /^\s*nameserver\s+(\S+)/m.exec(readFileSync(path, 'utf8'));
    return m?.[1];
  } catch {
    return undefined;
  }
}

export interface DnsServerOptions {
  state: ZtunnelState;
  host: string;
  port: number;
  /** `ip` or `ip:port` of the resolver for non-mesh names. */
  upstream?: string;
  log: Logger;
  metrics?: Metrics;
  timeoutMs?: number;
}

export class DnsProxy {
  private server?: DnsServer;
  private readonly bad: BadMessages;
  answered = 0;
  forwarded = 0;

  constructor(private readonly o: DnsServerOptions) {
    this.bad = new BadMessages(o.log);
  }

  async start(): Promise<{ port: number }> {
    this.server = await serveDns({
      host: this.o.host,
      port: this.o.port,
      log: this.o.log,
      answer: (q, raw, client) => this.answer(q, raw, client.address),
    });
    return { port: this.server.port };
  }

  /** One message in, the bytes of its response out (undefined: dropped, e.g. too short). */
  handle(msg: Buffer, clientIp: string): Promise<Buffer | undefined> {
    const client = { address: clientIp, port: 0, transport: 'udp' as const };
    return exchange(msg, client, (q, raw) => this.answer(q, raw, clientIp), this.bad);
  }

  /** A mesh service's A/AAAA query is answered from state; any other goes upstream unchanged. */
  private answer(
    { packet, question }: Query,
    raw: Buffer,
    clientIp: string,
  ): Packet | Promise<Buffer> {
    this.o.metrics?.dnsRequest();
    if (question.type === 'A' || question.type === 'AAAA') {
      const client = this.o.state.workloadByIp(clientIp);
      const vips = resolveMesh(this.o.state, question.name, client);
      if (vips) {
        this.answered++;
        const answers =
          question.type === 'A'
            ? vips.map((ip) => ({ type: 'A' as const, name: question.name, ttl: 30, data: ip }))
            : [];
        return respond(packet, RCODE.NOERROR, { authoritative: true, answers });
      }
    }
    this.forwarded++;
    this.o.metrics?.dnsUpstreamRequest();
    return this.forward(raw, packet);
  }

  private forward(msg: Buffer, q: DecodedPacket): Promise<Buffer> {
    const upstream = this.o.upstream ?? upstreamFromResolvConf();
    const servfail = () => encodeResponse(q, respond(q, RCODE.SERVFAIL), 'udp');
    if (!upstream) return Promise.resolve(servfail());
    const [host, p] = upstream.includes(':') ? upstream.split(':') : [upstream, '53'];
    return new Promise((resolve) => {
      const sock = dgram.createSocket('udp4');
      let settled = false;
      const done = (b: Buffer) => {
        if (settled) return;
        settled = true;
        clearTimeout(t);
        sock.close();
        resolve(b);
      };
      const t = setTimeout(() => done(servfail()), this.o.timeoutMs ?? 3000);
      sock.on('error', () => done(servfail()));
      // Only the answer to this query (its id): a stray datagram on the port is not it.
      sock.on('message', (res) => {
        if (res.length >= 2 && res.readUInt16BE(0) === q.id) done(res);
      });
      sock.send(msg, Number(p), host!);
    });
  }

  async close(): Promise<void> {
    await this.server?.close();
  }
}
