/**
 * `:authority` of an HBONE CONNECT: `host:port` where host is an IPv4 address, a bracketed
 * IPv6 address, or a DNS name (a service hostname toward waypoints and gateways).
 */
import net from 'node:net';

export interface Authority {
  host: string;
  port: number;
  /** True when host is an IP literal (then ztunnel's inbound checks that it is the destination pod). */
  isIp: boolean;
}

const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export function parseAuthority(authority: string): Authority | undefined {
  if (authority.length > 300) return undefined;
  const colon = authority.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const portText = authority.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  let host = authority.slice(0, colon);
  if (host.startsWith('[')) {
    if (!host.endsWith(']')) return undefined;
    host = host.slice(1, -1);
    // Node's isIPv6 accepts a zone id (fe80::1%eth0); an authority never carries one (Envoy
    // crashed on it, CVE-2026-26310).
    return net.isIPv6(host) && !host.includes('%') ? { host, port, isIp: true } : undefined;
  }
  if (net.isIPv4(host)) return { host, port, isIp: true };
  if (host.includes(':')) return undefined;
  // Digits-and-dots that are not a valid IPv4 (e.g. 10.0.0.300) are not a name either.
  if (/^[\d.]+$/.test(host)) return undefined;
  // Nor are inet_aton forms such as 0x0a.0.1.2: getaddrinfo would read them as 10.0.1.2.
  if (host.split('.').every((l) => /^(0x[0-9a-f]*|\d+)$/i.test(l))) return undefined;
  return DNS_NAME.test(host) ? { host, port, isIp: false } : undefined;
}
