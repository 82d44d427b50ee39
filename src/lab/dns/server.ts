/**
 * The cluster DNS's transport: UDP and TCP (RFC 1035 two-byte length framing) on one address.
 * Malformed packets are logged and dropped; nothing a client sends can stop the server.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { DecodedPacket, Packet } from 'dns-packet';
import { AmbitError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { answerQuery, type ServiceIndex } from './answer.js';

const UDP_LIMIT = 512;
const TCP_IDLE_MS = 10_000;

export interface DnsServer {
  port: number;
  close(): Promise<void>;
}

/** Encodes `resp` for UDP, truncating (TC bit, no records) when it exceeds the client's limit. */
function udpEncode(query: DecodedPacket, resp: Packet): Buffer {
  const opt = query.additionals?.find((x) => x.type === 'OPT') as
    { udpPayloadSize?: number } | undefined;
  const limit = Math.max(UDP_LIMIT, opt?.udpPayloadSize ?? UDP_LIMIT);
  const buf = dnsPacket.encode(resp);
  if (buf.length <= limit) return buf;
  return dnsPacket.encode({
    ...resp,
    flags: (resp.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
    answers: [],
    authorities: [],
  });
}

export async function startDnsServer(opts: {
  host?: string;
  port?: number;
  index: () => ServiceIndex;
  log?: Logger;
}): Promise<DnsServer> {
  const host = opts.host ?? '0.0.0.0';
  const log = opts.log;
  let dropped = 0;
  const bad = (from: string, err: unknown) => {
    // Count every bad packet, log the first few and then every 100th, so a flood cannot fill the disk.
    dropped++;
    if (dropped <= 10 || dropped % 100 === 0)
      log?.warn('dropping malformed DNS message', { from, error: (err as Error).message, dropped });
  };
  const handle = (
    msg: Buffer,
    from: string,
  ): { query: DecodedPacket; resp: Packet } | undefined => {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch (err) {
      bad(from, err);
      return undefined;
    }
    if (query.type === 'response') {
      bad(from, new AmbitError('DNS_NOT_A_QUERY', 'a response, not a query'));
      return undefined;
    }
    const resp = answerQuery(query, opts.index());
    log?.debug('query', {
      from,
      name: query.questions?.[0]?.name,
      type: query.questions?.[0]?.type,
      rcode: (resp.flags ?? 0) & 0xf,
      answers: resp.answers?.length,
    });
    return { query, resp };
  };

  const conns = new Set<net.Socket>();
  const tcp = net.createServer((sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    const from = `${sock.remoteAddress ?? '?'}:${sock.remotePort ?? 0}`;
    let buf = Buffer.alloc(0);
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on('error', () => undefined);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const r = handle(msg, from);
        if (!r) {
          sock.destroy();
          return;
        }
        try {
          sock.write(dnsPacket.streamEncode(r.resp));
        } catch (err) {
          bad(from, err);
        }
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(opts.port ?? 53, host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
  const port = (tcp.address() as net.AddressInfo).port;

  const udp = dgram.createSocket({ type: 'udp4', reuseAddr: false });
  udp.on('message', (msg, rinfo) => {
    const from = `${rinfo.address}:${rinfo.port}`;
    const r = handle(msg, from);
    if (!r) return;
    let out: Buffer;
    try {
      out = udpEncode(r.query, r.resp);
    } catch (err) {
      bad(from, err);
      return;
    }
    udp.send(out, rinfo.port, rinfo.address, (err) => {
      if (err) log?.warn('send failed', { to: from, error: err.message });
    });
  });
  udp.on('error', (err) => log?.warn('udp socket error', { error: err.message }));
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, host, () => {
      udp.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await new Promise<void>((r) => tcp.close(() => r()));
    throw err;
  });

  return {
    port,
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
