/**
 * Pieces every certificate issuer here needs (the mesh CA and the lab API server's cluster CA):
 * a PKCS#8 PEM from WebCrypto's DER export, a positive random serial, and key/cert files written
 * whole or not at all (a reader never sees half a key).
 */
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';

export function pkcs8Pem(der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64.trim()}\n-----END PRIVATE KEY-----\n`;
}

export function writeFileAtomic(path: string, data: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}

/** 16 random bytes with the top bit clear: X.509 serials are positive integers. */
export function certificateSerial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}
