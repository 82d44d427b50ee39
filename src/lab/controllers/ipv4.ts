/** IPv4 arithmetic for pod CIDRs. */

export function ipToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): { base: number; bits: number } | undefined {
  const [ip, len] = cidr.split('/');
  const base = ipToInt(ip ?? '');
  const bits = Number(len);
  if (base === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return undefined;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return { base: (base & mask) >>> 0, bits };
}

export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  const n = ipToInt(ip);
  if (!c || n === undefined) return false;
  const mask = c.bits === 0 ? 0 : (~0 << (32 - c.bits)) >>> 0;
  return (n & mask) >>> 0 === c.base;
}

/** The address `offset` hosts into `cidr`, or undefined when it does not fit. */
export function hostInCidr(cidr: string, offset: number): string | undefined {
  const c = parseCidr(cidr);
  if (!c || !Number.isInteger(offset) || offset < 1 || offset >= 2 ** (32 - c.bits) - 1)
    return undefined;
  return intToIp(c.base + offset);
}
