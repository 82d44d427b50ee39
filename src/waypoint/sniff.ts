/**
 * Protocol sniffing for ports of unknown protocol (Envoy's http_inspector, docs/istio/waypoint.md §2.2):
 * the HTTP/2 connection preface means h2c, an HTTP/1.x request line means HTTP/1.1, anything
 * else is TCP. Pure: feed it the bytes received so far.
 */
export type Sniffed = 'h2c' | 'http1' | 'tcp' | 'more';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Longest request line we wait for before calling it TCP. */
export const MAX_SNIFF_BYTES = 8192;

export function sniff(buf: Buffer): Sniffed {
  if (buf.length === 0) return 'more';
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) {
    return buf.length >= H2_PREFACE.length ? 'h2c' : 'more';
  }
  // Method token: upper-case letters (GET, POST, PROPFIND…), then one space.
  let i = 0;
  while (i < buf.length && i < 20) {
    const c = buf[i]!;
    if (c >= 0x41 && c <= 0x5a) i++;
    else break;
  }
  if (i === buf.length) return i < 20 ? 'more' : 'tcp';
  if (i === 0 || buf[i] !== 0x20) return 'tcp';
  const nl = buf.indexOf(0x0a, i);
  if (nl < 0) {
    if (buf.length >= MAX_SNIFF_BYTES) return 'tcp';
    // Bytes that cannot be in a request line end it early.
    for (let j = i; j < buf.length; j++) if (buf[j]! < 0x20 && buf[j] !== 0x0d) return 'tcp';
    return 'more';
  }
  const line = buf.subarray(0, nl).toString('latin1').replace(/\r$/, '');
  return /^[A-Z]+ [^ ]+ HTTP\/1\.[01]$/.test(line) ? 'http1' : 'tcp';
}
