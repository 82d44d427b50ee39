/**
 * DNS messages on the wire (RFC 1035 §4, EDNS per RFC 6891), shared by the lab's cluster DNS
 * and ztunnel's DNS proxy: reading a query, and building the response to it. Pure functions;
 * the sockets are `server.ts`'s.
 */
import * as dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, OptAnswer, Packet, Question } from 'dns-packet';
import { AmbitError } from '../errors.js';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };
/** RFC 6891 §9: the extended RCODE 16, whose upper 8 bits travel in the OPT record. */
const BADVERS = 16;
const HEADER_BYTES = 12;
const QR = 0x8000;
/** The header bits a response copies from its query: opcode, RD (RFC 1035 §4.1.1), CD (RFC 4035 §3.1.6). */
const COPIED = 0x7800 | dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED;
/** The payload size we advertise in our OPT (the DNS flag day 2020 value, no IP fragmentation). */
export const EDNS_PAYLOAD = 1232;
/** RFC 1035 §4.2.1: the UDP limit of a client without EDNS. */
const UDP_LIMIT = 512;
/** RFC 1035 §4.2.2: what TCP's two-byte length prefix can carry. */
const TCP_LIMIT = 0xffff;

/** A standard query (opcode QUERY) with exactly one question: what the servers answer. */
export interface Query {
  packet: DecodedPacket;
  question: Question;
}

/**
 * What came in: a query to answer, or a message that gets a fixed reply (FORMERR, NOTIMP,
 * BADVERS) or none (`reply` undefined: drop it). `error` says what was wrong with it.
 */
export type ReadQuery =
  { ok: true; query: Query } | { ok: false; error: AmbitError; reply?: Packet };

/** The query's OPT records (RFC 6891 §6.1.1: at most one is valid). */
function optsOf(p: Packet): OptAnswer[] {
  return (p.additionals ?? []).filter((a): a is OptAnswer => a.type === 'OPT');
}

/** The response header's flags: QR is `type`'s, the rest copied or given. */
function flagsFor(query: Packet, set: number): number {
  return ((query.flags ?? 0) & COPIED) | set;
}

/**
 * Reads one message. Too short for a header, or a response (QR set), is dropped: answering either
 * could make two servers answer each other forever. A readable header with an unreadable rest is
 * FORMERR with the query's id (RFC 1035 §4.1.1), never larger than what came in.
 */
export function readQuery(msg: Buffer): ReadQuery {
  if (msg.length < HEADER_BYTES) {
    return {
      ok: false,
      error: new AmbitError(
        'DNS_MALFORMED',
        `a DNS message of ${msg.length} bytes, shorter than its header`,
        {
          value: msg.length,
        },
      ),
    };
  }
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & QR) {
    return {
      ok: false,
      error: new AmbitError(
        'DNS_NOT_A_QUERY',
        `a DNS response (id ${id}) where a query was expected`,
        {
          value: id,
        },
      ),
    };
  }
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(msg);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return {
      ok: false,
      error: new AmbitError(
        'DNS_MALFORMED',
        `a DNS query (id ${id}) that cannot be decoded: ${reason}`,
        {
          value: id,
          cause: err,
        },
      ),
      reply: respond({ id, flags }, RCODE.FORMERR),
    };
  }
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) {
    return {
      ok: false,
      error: new AmbitError(
        'DNS_UNSUPPORTED',
        `a DNS query (id ${id}) of opcode ${opcode}; only QUERY (0) is answered`,
        {
          value: opcode,
        },
      ),
      reply: respond(packet, RCODE.NOTIMP),
    };
  }
  const opts = optsOf(packet);
  const questions = packet.questions ?? [];
  if (questions.length !== 1 || opts.length > 1) {
    const what = opts.length > 1 ? `${opts.length} OPT records` : `${questions.length} questions`;
    return {
      ok: false,
      error: new AmbitError(
        'DNS_MALFORMED',
        `a DNS query (id ${id}) with ${what}; one is allowed`,
        {
          value: what,
        },
      ),
      reply: respond(packet, RCODE.FORMERR),
    };
  }
  if (opts[0] && opts[0].ednsVersion !== 0) {
    return {
      ok: false,
      error: new AmbitError(
        'DNS_UNSUPPORTED',
        `a DNS query (id ${id}) of EDNS version ${opts[0].ednsVersion}; only 0 is answered`,
        {
          value: opts[0].ednsVersion,
        },
      ),
      reply: respond(packet, BADVERS),
    };
  }
  return { ok: true, query: { packet, question: questions[0]! } };
}

export interface Sections {
  /** AA: the server owns the zone of the name (RFC 1035 §4.1.1). */
  authoritative?: boolean;
  answers?: Answer[];
  authorities?: Answer[];
}

/**
 * The response to `query` with `rcode`: same id, the question echoed, opcode, RD and CD copied, RA
 * set (both servers recurse or forward, or refuse at once), and an OPT record only when the
 * query had one (RFC 6891 §7), carrying the upper bits of an extended rcode.
 */
export function respond(query: Packet, rcode: number, s: Sections = {}): Packet {
  const aa = s.authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0;
  const hadOpt = optsOf(query).length > 0;
  const opt: OptAnswer = {
    name: '.',
    type: 'OPT',
    udpPayloadSize: EDNS_PAYLOAD,
    extendedRcode: rcode >> 4,
    ednsVersion: 0,
    flags: 0,
    flag_do: false,
    options: [],
  };
  return {
    type: 'response',
    id: query.id ?? 0,
    flags: flagsFor(query, aa | dnsPacket.RECURSION_AVAILABLE | (rcode & 0xf)),
    questions: query.questions ?? [],
    answers: s.answers ?? [],
    authorities: s.authorities ?? [],
    additionals: hadOpt ? [opt] : [],
  };
}

/** The rcode of a response (the 4 header bits; extended bits are in its OPT). */
export function rcodeOf(p: Packet): number {
  return (p.flags ?? 0) & 0xf;
}

/** The largest UDP response the client takes: its EDNS payload size, at least 512. */
export function udpLimit(query: Packet | undefined): number {
  const opt = query ? optsOf(query)[0] : undefined;
  return Math.max(UDP_LIMIT, opt?.udpPayloadSize ?? UDP_LIMIT);
}

/**
 * Encodes `resp`. A response over the client's UDP limit goes out truncated instead (TC set, no
 * records but the OPT) so the client retries over TCP (RFC 1035 §4.2.1, RFC 7766 §5); over TCP
 * only one too large for the length prefix is.
 */
export function encodeResponse(
  query: Packet | undefined,
  resp: Packet,
  transport: 'udp' | 'tcp',
): Buffer {
  const buf = dnsPacket.encode(resp);
  if (buf.length <= (transport === 'tcp' ? TCP_LIMIT : udpLimit(query))) return buf;
  return dnsPacket.encode({
    ...resp,
    flags: (resp.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
    answers: [],
    authorities: [],
    additionals: (resp.additionals ?? []).filter((a) => a.type === 'OPT'),
  });
}
