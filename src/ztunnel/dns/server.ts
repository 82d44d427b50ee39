/**
 * The DNS proxy (15053, UDP and TCP, when DNS capture is on): answers mesh service names from
 * state, forwards the rest unchanged to the upstream resolver of /etc/resolv.conf.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import * as dnsPacket from 'dns-packet';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { plainIp } from '../headers.js';
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
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  answered = 0;
  forwarded = 0;

  constructor(private readonly o: DnsServerOptions) {}

  async start(): Promise<{ port: number }> {
    const udp = dgram.createSocket('udp4');
    this.udp = udp;
    udp.on('message', (msg, rinfo) => {
      this.handle(msg, rinfo.address)
        .then((res) => res && udp.send(res, rinfo.port, rinfo.address))
        .catch((e: unknown) => this.o.log.debug('dns query failed', { error: errorMessage(e) }));
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.o.port, this.o.host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    udp.on('error', (e) => this.o.log.warn('dns udp error', { error: e.message }));
    const port = udp.address().port;
    const tcp = net.createServer((s) => this.serveTcp(s));
    this.tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, this.o.host, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    return { port };
  }

  private serveTcp(s: net.Socket): void {
    s.on('error', () => undefined);
    s.setTimeout(10_000, () => s.destroy());
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        this.handle(msg, plainIp(s.remoteAddress))
          .then((res) => {
            if (!res || s.destroyed) return;
            const len2 = Buffer.alloc(2);
            len2.writeUInt16BE(res.length);
            s.write(Buffer.concat([len2, res]));
          })
          .catch(() => s.destroy());
      }
    });
  }

  /** One query in, one response out (undefined: drop, e.g. undecodable). */
  async handle(msg: Buffer, clientIp: string): Promise<Buffer | undefined> {
    let q: dnsPacket.DecodedPacket;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return undefined;
    }
    const question = q.questions?.[0];
    this.o.metrics?.dnsRequest();
    if (question && (question.type === 'A' || question.type === 'AAAA')) {
      const client = this.o.state.workloadByIp(clientIp);
      const vips = resolveMesh(this.o.state, question.name, client);
      if (vips) {
        this.answered++;
        return dnsPacket.encode({
          type: 'response',
          id: q.id,
          flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | (q.flags ?? 0),
          questions: [question],
          answers:
            question.type === 'A'
              ? vips.map((ip) => ({ type: 'A' as const, name: question.name, ttl: 30, data: ip }))
              : [],
        });
      }
    }
    this.forwarded++;
    this.o.metrics?.dnsUpstreamRequest();
    return this.forward(msg, q);
  }

  private forward(msg: Buffer, q: dnsPacket.DecodedPacket): Promise<Buffer> {
    const upstream = this.o.upstream ?? upstreamFromResolvConf();
    const servfail = () =>
      dnsPacket.encode({
        type: 'response',
        id: q.id,
        flags: 2 /* SERVFAIL rcode */ | dnsPacket.RECURSION_AVAILABLE,
        questions: q.questions ?? [],
      });
    if (!upstream) return Promise.resolve(servfail());
    const [host, p] = upstream.includes(':') ? upstream.split(':') : [upstream, '53'];
    return new Promise((resolve) => {
      const sock = dgram.createSocket('udp4');
      const done = (b: Buffer) => {
        clearTimeout(t);
        sock.close();
        resolve(b);
      };
      const t = setTimeout(() => done(servfail()), this.o.timeoutMs ?? 3000);
      sock.on('error', () => done(servfail()));
      sock.on('message', (res) => done(res));
      sock.send(msg, Number(p), host!);
    });
  }

  async close(): Promise<void> {
    this.udp?.close();
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
  }
}
