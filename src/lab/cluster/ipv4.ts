/** IPv4 addresses and CIDRs as 32-bit numbers: parsing, containment, overlap. */
export interface Cidr {
  /** Network address (host bits cleared). */
  base: number;
  prefix: number;
  text: string;
}

export function parseIp(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/p`; host bits must be zero (so typos like 10.244.1.1/24 are caught). */
export function parseCidr(s: string): Cidr | undefined {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s);
  if (!m) return undefined;
  const ip = parseIp(m[1]!);
  const prefix = Number(m[2]);
  if (ip === undefined || prefix > 32) return undefined;
  if ((ip & mask(prefix)) >>> 0 !== ip) return undefined;
  return { base: ip, prefix, text: s };
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function contains(c: Cidr, ip: number): boolean {
  return (ip & mask(c.prefix)) >>> 0 === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return contains(a, b.base) || contains(b, a.base);
}

/** The n-th address of a CIDR (0 = network address). */
export function nth(c: Cidr, n: number): string {
  return formatIp((c.base + n) >>> 0);
}
