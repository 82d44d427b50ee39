/**
 * One request as the router reads it: its target (kind, namespace, name, subresource) from the
 * Kubernetes REST path, its body (JSON, YAML or kubectl's protobuf) and query parameters, and
 * the JSON answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { findKind, type Kind } from './catalog.js';
import { decodeObject } from './protobuf.js';
import { ApiError, badRequest, unsupportedMediaType } from './status.js';

export interface Target {
  kind: Kind;
  namespace?: string;
  name?: string;
  subresource?: string;
  watchPath: boolean;
}

export const maxBody = 8 * 1024 * 1024;

export function readBody(req: IncomingMessage): Promise<string> {
  return readRaw(req).then((b) => b.toString('utf8'));
}

export function readRaw(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBody) {
        reject(new ApiError(413, 'RequestEntityTooLarge', 'request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export const isProtobuf = (ct: string | undefined): boolean =>
  (ct ?? '').startsWith('application/vnd.kubernetes.protobuf');

export function parseBody(text: string, contentType: string | undefined): unknown {
  if (isProtobuf(contentType)) throw unsupportedMediaType(contentType!);
  if (text.trim() === '') throw badRequest('the request body is empty');
  try {
    return /yaml/.test(contentType ?? '') ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw badRequest(
      `the request body is not valid ${/yaml/.test(contentType ?? '') ? 'YAML' : 'JSON'}: ${(err as Error).message}`,
    );
  }
}

/** A request's object, from JSON, YAML or (what kubectl's typed commands send) protobuf. */
export async function readObject(req: IncomingMessage): Promise<unknown> {
  const ct = req.headers['content-type'];
  if (isProtobuf(ct)) return decodeObject(await readRaw(req), ct!);
  return parseBody(await readBody(req), ct);
}

export function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-cache, private',
  });
  res.end(text);
}

/** Splits `/api/v1/...` or `/apis/<g>/<v>/...` into a kind and names. */
export function resolve(segs: string[]): Target | undefined {
  let group = '';
  let version: string;
  let rest: string[];
  if (segs[0] === 'api') {
    version = segs[1]!;
    rest = segs.slice(2);
  } else {
    group = segs[1]!;
    version = segs[2]!;
    rest = segs.slice(3);
  }
  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const k = findKind(group, version, rest[2]!);
    if (k?.namespaced) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
  }
  const kind = findKind(group, version, rest[0] ?? '');
  if (!kind || rest.length > 3) return undefined;
  if (kind.namespaced === false && namespace !== undefined) return undefined;
  const subresource = rest[2];
  if (subresource !== undefined && !kind.subresources.includes(subresource)) return undefined;
  return { kind, namespace, name: rest[1], subresource, watchPath };
}

export const isApplyPatch = (ct: string | undefined): boolean =>
  (ct ?? '').split(';')[0]!.trim() === 'application/apply-patch+yaml';

/**
 * The manager a write is recorded under: `fieldManager`, else the client's User-Agent up to
 * its first `/` (kube-apiserver's default), e.g. `kubectl` or `node`.
 */
export function fieldManagerOf(req: IncomingMessage, q: URLSearchParams): string {
  const asked = q.get('fieldManager');
  if (asked) {
    if (asked.length > 128)
      throw badRequest(`fieldManager: Too long: may not be more than 128 bytes (got "${asked}")`);
    return asked;
  }
  const ua = req.headers['user-agent'] ?? '';
  return ua.split('/')[0]!.slice(0, 128) || 'unknown';
}

export function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw badRequest(`${name} must be an integer, got "${v}"`);
  return n;
}

export function targetOf(rawUrl: string | undefined): {
  path: string;
  q: URLSearchParams;
  t?: Target;
} {
  const url = new URL(rawUrl ?? '/', 'http://apiserver');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const segs = path
    .split('/')
    .filter((s) => s !== '')
    .map(decodeURIComponent);
  const t =
    (segs[0] === 'api' && segs.length >= 3) || (segs[0] === 'apis' && segs.length >= 4)
      ? resolve(segs)
      : undefined;
  return { path, q: url.searchParams, t };
}
