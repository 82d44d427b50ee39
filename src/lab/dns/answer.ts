/**
 * The cluster DNS's answers, as CoreDNS's kubernetes plugin gives them: a pure function from a
 * query and the current service index to a response (the wire is src/dns's). No upstream: names outside the cluster
 * zone get REFUSED at once so resolvers fail fast instead of timing out.
 */
import type { Answer, Packet } from 'dns-packet';
import { RCODE, respond, type Query, type Sections } from '../../dns/message.js';

/** CoreDNS's kubernetes plugin default TTL. */
export const TTL = 5;

export interface DnsService {
  name: string;
  namespace: string;
  /** Undefined or 'None' for headless services. */
  clusterIP?: string;
  /** Ready endpoint addresses, answered for headless services. */
  endpointIPs?: string[];
  ports: { name?: string; port: number; protocol?: string }[];
}

/** An index of services for lookups by name and by ClusterIP. */
export class ServiceIndex {
  private readonly byName = new Map<string, DnsService>();
  private readonly byIP = new Map<string, DnsService>();
  private readonly namespaces = new Set<string>();

  constructor(
    services: readonly DnsService[] = [],
    readonly domain = 'cluster.local',
  ) {
    for (const s of services) {
      this.byName.set(`${s.name}.${s.namespace}`.toLowerCase(), s);
      if (s.clusterIP && s.clusterIP !== 'None') this.byIP.set(s.clusterIP, s);
      this.namespaces.add(s.namespace.toLowerCase());
    }
  }

  service(name: string, namespace: string): DnsService | undefined {
    return this.byName.get(`${name}.${namespace}`);
  }

  hasNamespace(ns: string): boolean {
    return this.namespaces.has(ns);
  }

  byClusterIP(ip: string): DnsService | undefined {
    return this.byIP.get(ip);
  }
}

type Lookup =
  | { kind: 'answers'; answers: Answer[] }
  | { kind: 'nodata' }
  | { kind: 'nxdomain' }
  | { kind: 'refused' };

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function soa(domain: string): Answer {
  return {
    name: domain,
    type: 'SOA',
    class: 'IN',
    ttl: TTL,
    data: {
      mname: `ns.dns.${domain}`,
      rname: `hostmaster.${domain}`,
      serial: 1,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: TTL,
    },
  };
}

function a(name: string, ip: string): Answer {
  return { name, type: 'A', class: 'IN', ttl: TTL, data: ip };
}

/** What exists at `name` inside the cluster zone, for a query of type `type`. */
function lookupCluster(labels: string[], name: string, type: string, idx: ServiceIndex): Lookup {
  const n = labels.length;
  const exists: Lookup = { kind: 'nodata' };
  if (n === 0) return exists; // cluster.local itself
  const last = labels[n - 1];
  if (n === 1) return last === 'svc' || last === 'pod' ? exists : { kind: 'nxdomain' };
  if (last === 'svc') {
    if (n === 2) return idx.hasNamespace(labels[0]!) ? exists : { kind: 'nxdomain' };
    if (n === 3) {
      const svc = idx.service(labels[0]!, labels[1]!);
      if (!svc) return { kind: 'nxdomain' };
      if (type !== 'A' && type !== 'ANY') return exists;
      const ips =
        svc.clusterIP && svc.clusterIP !== 'None' ? [svc.clusterIP] : (svc.endpointIPs ?? []);
      const v4 = ips.filter((ip) => IPV4.test(ip));
      return v4.length ? { kind: 'answers', answers: v4.map((ip) => a(name, ip)) } : exists;
    }
    if (n === 5 && labels[0]!.startsWith('_') && labels[1]!.startsWith('_')) {
      const svc = idx.service(labels[2]!, labels[3]!);
      const proto = labels[1]!.slice(1).toUpperCase();
      const port = svc?.ports.find(
        (p) => p.name?.toLowerCase() === labels[0]!.slice(1) && (p.protocol ?? 'TCP') === proto,
      );
      if (!svc || !port) return { kind: 'nxdomain' };
      if (type !== 'SRV' && type !== 'ANY') return exists;
      const target = `${svc.name}.${svc.namespace}.svc.${idx.domain}`.toLowerCase();
      return {
        kind: 'answers',
        answers: [
          {
            name,
            type: 'SRV',
            class: 'IN',
            ttl: TTL,
            data: { priority: 0, weight: 100, port: port.port, target },
          },
        ],
      };
    }
    return { kind: 'nxdomain' };
  }
  if (last === 'pod') {
    if (n === 2) return exists;
    if (n === 3) {
      // CoreDNS "pods insecure": any dashed IPv4 under any namespace resolves to itself.
      const ip = labels[0]!.replace(/-/g, '.');
      if (!IPV4.test(ip)) return { kind: 'nxdomain' };
      return type === 'A' || type === 'ANY' ? { kind: 'answers', answers: [a(name, ip)] } : exists;
    }
  }
  return { kind: 'nxdomain' };
}

function lookupReverse(name: string, type: string, idx: ServiceIndex): Lookup {
  const parts = name.slice(0, -'.in-addr.arpa'.length).split('.');
  if (parts.length !== 4) return { kind: 'nxdomain' };
  const ip = parts.reverse().join('.');
  const svc = idx.byClusterIP(ip);
  if (!svc) return { kind: 'nxdomain' };
  if (type !== 'PTR' && type !== 'ANY') return { kind: 'nodata' };
  const target = `${svc.name}.${svc.namespace}.svc.${idx.domain}`;
  return { kind: 'answers', answers: [{ name, type: 'PTR', class: 'IN', ttl: TTL, data: target }] };
}

/** The response to one standard query (`readQuery` in src/dns has checked opcode and counts). */
export function answerQuery(query: Query, idx: ServiceIndex): Packet {
  const { packet, question } = query;
  const resp = (rcode: number, s: Sections = {}): Packet =>
    respond(packet, rcode, { authoritative: true, ...s });
  if (question.class !== 'IN' && question.class !== 'ANY') return resp(RCODE.REFUSED);

  const name = question.name.toLowerCase().replace(/\.$/, '');
  const domain = idx.domain;
  let result: Lookup;
  if (name === domain || name.endsWith(`.${domain}`)) {
    const labels = name === domain ? [] : name.slice(0, -domain.length - 1).split('.');
    result = lookupCluster(labels, question.name.replace(/\.$/, ''), question.type, idx);
  } else if (name.endsWith('.in-addr.arpa')) {
    result = lookupReverse(name, question.type, idx);
  } else {
    result = { kind: 'refused' };
  }
  switch (result.kind) {
    case 'answers':
      return resp(RCODE.NOERROR, { answers: result.answers });
    case 'nodata':
      return resp(RCODE.NOERROR, { authorities: [soa(domain)] });
    case 'nxdomain':
      return resp(RCODE.NXDOMAIN, { authorities: [soa(domain)] });
    case 'refused':
      return resp(RCODE.REFUSED);
  }
}
