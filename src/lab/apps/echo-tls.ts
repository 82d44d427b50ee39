/**
 * The echo app's TLS key pair: the files named by `--crt` / `--key` when they exist, else a
 * self-signed P-256 certificate made at start-up (Istio's echo image bakes a self-signed one in,
 * docs/istio/gamma-conformance.md §2; nothing in the mesh tests verifies it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { newKeyPair, selfSigned } from '../../identity/keys.js';
import { x509 } from '../../identity/x509.js';

export interface TlsPair {
  cert: string;
  key: string;
}

export async function echoTlsPair(hostname: string, crt?: string, key?: string): Promise<TlsPair> {
  if (crt && key && existsSync(crt) && existsSync(key)) {
    return { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
  }
  const own = await selfSigned({
    keys: await newKeyPair(),
    name: `CN=${hostname}`,
    days: 365,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: hostname }])],
  });
  return { cert: own.certPem, key: own.keyPem };
}
