/** IPv4 helpers for policy and routing: parsing, CIDR containment. IPv4 only, like the lab. */
import net from 'node:net';

export interface Cidr4 {
  base: number;
  mask: number;
}

function ipToInt(ip: string): number {
  let n = 0;
  for (const part of ip.split('.')) n = n * 256 + Number(part);
  return n >>> 0;
}

/** `10.0.0.0/8` or a bare `10.1.2.3` (a /32); undefined when not IPv4. */
export function parseCidr4(s: string): Cidr4 | undefined {
  const [ip, len, extra] = s.trim().split('/');
  if (extra !== undefined || !ip || !net.isIPv4(ip)) return undefined;
  const bits = len === undefined ? 32 : /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (!(bits >= 0 && bits <= 32)) return undefined;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return { base: (ipToInt(ip) & mask) >>> 0, mask };
}

export function cidrContains(c: Cidr4, ip: string): boolean {
  if (!net.isIPv4(ip)) return false;
  return (ipToInt(ip) & c.mask) >>> 0 === c.base;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`; '' for undefined. */
export function plainIp(a: string | undefined): string {
  if (!a) return '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
