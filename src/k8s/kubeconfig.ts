/**
 * Reads a kubeconfig (the file kubectl uses) into client options: the current context's (or a
 * named context's) server, CA (`certificate-authority-data` or a file), and the user's client
 * certificate, key or bearer token. Exec plugins and auth providers are not understood: use
 * kubectl (src/sys/kubectl.ts) against clusters that need them.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { AmbitError } from '../errors.js';

export interface KubeconfigCredentials {
  server: string;
  ca?: string;
  cert?: string;
  key?: string;
  token?: string;
}

interface Named<T> {
  name?: string;
  cluster?: T;
  user?: T;
  context?: T;
}

type Fields = Record<string, unknown>;

function bad(file: string, message: string, cause?: unknown): AmbitError {
  return new AmbitError('K8S_BAD_KUBECONFIG', `${file}: ${message}`, {
    value: file,
    hint: 'check the file with `kubectl --kubeconfig <file> config view`',
    cause,
  });
}

export function readKubeconfig(file: string, context?: string): KubeconfigCredentials {
  let doc: Fields;
  try {
    doc = (parse(readFileSync(file, 'utf8')) ?? {}) as Fields;
  } catch (err) {
    throw bad(file, `cannot read: ${(err as Error).message}`, err);
  }
  const pick = (list: unknown, name: string | undefined, what: string): Fields => {
    const items = (Array.isArray(list) ? list : []) as Named<Fields>[];
    const hit = items.find((x) => x.name === name);
    const body = hit?.[what as 'cluster' | 'user' | 'context'];
    if (!hit || !body) throw bad(file, `no ${what} ${JSON.stringify(name)}`);
    return body;
  };
  const ctxName = context ?? (doc['current-context'] as string | undefined);
  const ctx = pick(doc.contexts, ctxName, 'context');
  const cluster = pick(doc.clusters, ctx.cluster as string | undefined, 'cluster');
  const users = (Array.isArray(doc.users) ? doc.users : []) as Named<Fields>[];
  const user = users.find((u) => u.name === ctx.user)?.user ?? {};
  const rel = (p: string): string => (isAbsolute(p) ? p : join(dirname(file), p));
  const material = (o: Fields, field: string): string | undefined => {
    const data = o[`${field}-data`];
    if (typeof data === 'string' && data) return Buffer.from(data, 'base64').toString('utf8');
    const path = o[field];
    if (typeof path === 'string' && path) {
      try {
        return readFileSync(rel(path), 'utf8');
      } catch (err) {
        throw bad(file, `cannot read ${field} ${path}`, err);
      }
    }
    return undefined;
  };
  if (typeof cluster.server !== 'string' || !cluster.server)
    throw bad(file, `cluster ${String(ctx.cluster)} has no server`);
  let token = typeof user.token === 'string' ? user.token : undefined;
  if (!token && typeof user.tokenFile === 'string')
    token = readFileSync(rel(user.tokenFile), 'utf8').trim();
  return {
    server: cluster.server,
    ca: material(cluster, 'certificate-authority'),
    cert: material(user, 'client-certificate'),
    key: material(user, 'client-key'),
    token,
  };
}
