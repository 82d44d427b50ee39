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
    return net.isIPv6(host) ? { host, port, isIp: true } : undefined;
  }
  if (net.isIPv4(host)) return { host, port, isIp: true };
  if (host.includes(':')) return undefined;
  // Digits-and-dots that are not a valid IPv4 (e.g. 10.0.0.300) are not a name either.
  if (/^[\d.]+$/.test(host)) return undefined;
  return DNS_NAME.test(host) ? { host, port, isIp: false } : undefined;
}
