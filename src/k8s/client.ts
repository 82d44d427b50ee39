/**
 * A small Kubernetes API client: the verbs the control plane, node agent and lab need, over
 * plain HTTP(S) with a bearer token. It speaks only the public REST API, so the same code
 * serves the lab's API server and a real cluster.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { dirname, join } from 'node:path';
import { AmbitError } from '../errors.js';
import { readKubeconfig } from './kubeconfig.js';
import { resourcePath, type Resource } from './resources.js';
import type { KubeList, KubeObject, WatchEvent } from './types.js';

export interface ClientOptions {
  /** e.g. http://172.18.0.2:6443 */
  server: string;
  token?: string;
  /** PEM CA bundle for https servers (the server's certificate is always verified). */
  ca?: string;
  /** PEM client certificate and key (x509 client authentication). */
  cert?: string;
  key?: string;
}

/** Where Kubernetes mounts a pod's service-account token, CA and namespace. */
export const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export type PatchType = 'merge' | 'strategic' | 'json';

const patchContentType: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

export class KubeClient {
  readonly server: URL;
  private readonly token: string | undefined;
  private readonly tls: Pick<ClientOptions, 'ca' | 'cert' | 'key'>;

  constructor(opts: ClientOptions) {
    this.server = new URL(opts.server);
    this.token = opts.token;
    this.tls = { ca: opts.ca, cert: opts.cert, key: opts.key };
  }

  /** From a kubeconfig file (its current context, or `context`). */
  static fromKubeconfig(file: string, context?: string): KubeClient {
    return new KubeClient(readKubeconfig(file, context));
  }

  /**
   * From the environment: AMBIT_KUBECONFIG (a kubeconfig file: the lab's daemons), else
   * AMBIT_KUBE_SERVER (or in-cluster KUBERNETES_SERVICE_HOST/PORT) with AMBIT_KUBE_TOKEN_FILE
   * (or the in-cluster token path) and AMBIT_KUBE_CA_FILE (or the ca.crt beside the token).
   */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): KubeClient {
    if (env.AMBIT_KUBECONFIG) return KubeClient.fromKubeconfig(env.AMBIT_KUBECONFIG);
    let server = env.AMBIT_KUBE_SERVER;
    if (!server && env.KUBERNETES_SERVICE_HOST) {
      server = `https://${env.KUBERNETES_SERVICE_HOST}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`;
    }
    if (!server) {
      throw new AmbitError('K8S_NO_SERVER', 'no Kubernetes API server configured', {
        hint: 'set AMBIT_KUBE_SERVER (e.g. http://172.18.0.2:6443)',
      });
    }
    const tokenFile = env.AMBIT_KUBE_TOKEN_FILE ?? `${IN_CLUSTER_DIR}/token`;
    let token: string | undefined;
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch {
      token = undefined;
    }
    const caFile = env.AMBIT_KUBE_CA_FILE ?? join(dirname(tokenFile), 'ca.crt');
    let ca: string | undefined;
    if (existsSync(caFile)) {
      try {
        ca = readFileSync(caFile, 'utf8');
      } catch (err) {
        throw new AmbitError('K8S_NO_SERVER', `cannot read the cluster CA ${caFile}`, {
          value: caFile,
          hint: 'set AMBIT_KUBE_CA_FILE to a readable PEM file',
          cause: err,
        });
      }
    }
    return new KubeClient({ server, token, ca: ca || undefined });
  }

  async list<T extends KubeObject>(res: Resource, opts: ListOptions = {}): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', resourcePath(res, opts.namespace) + query(opts));
  }

  async get<T extends KubeObject>(res: Resource, name: string, namespace?: string): Promise<T> {
    return this.request<T>('GET', resourcePath(res, namespace, name));
  }

  /** Like get, but undefined instead of a 404 error. */
  async tryGet<T extends KubeObject>(
    res: Resource,
    name: string,
    namespace?: string,
  ): Promise<T | undefined> {
    try {
      return await this.get<T>(res, name, namespace);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async create<T extends KubeObject>(res: Resource, obj: T): Promise<T> {
    return this.request<T>('POST', resourcePath(res, obj.metadata.namespace), obj);
  }

  async update<T extends KubeObject>(res: Resource, obj: T): Promise<T> {
    return this.request<T>(
      'PUT',
      resourcePath(res, obj.metadata.namespace, obj.metadata.name),
      obj,
    );
  }

  async updateStatus<T extends KubeObject>(res: Resource, obj: T): Promise<T> {
    return this.request<T>(
      'PUT',
      resourcePath(res, obj.metadata.namespace, obj.metadata.name) + '/status',
      obj,
    );
  }

  async patch<T extends KubeObject>(
    res: Resource,
    name: string,
    patch: unknown,
    opts: { namespace?: string; type?: PatchType; subresource?: 'status' } = {},
  ): Promise<T> {
    const path =
      resourcePath(res, opts.namespace, name) + (opts.subresource ? `/${opts.subresource}` : '');
    return this.request<T>('PATCH', path, patch, patchContentType[opts.type ?? 'merge']);
  }

  async delete(res: Resource, name: string, namespace?: string): Promise<void> {
    await this.request('DELETE', resourcePath(res, namespace, name));
  }

  /**
   * Streams watch events from `resourceVersion` on. Resolves when the server ends the stream
   * (the caller re-watches from the last version it saw); rejects on transport errors.
   */
  watch<T extends KubeObject>(
    res: Resource,
    opts: ListOptions & { resourceVersion?: string; timeoutSeconds?: number },
    onEvent: (ev: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const q = query({ ...opts, watch: 'true', allowWatchBookmarks: 'true' });
    const url = new URL(resourcePath(res, opts.namespace) + q, this.server);
    return new Promise((resolve, reject) => {
      const req = this.transport(url).request(
        url,
        { method: 'GET', headers: this.headers(), signal },
        (resp) => {
          if (resp.statusCode !== 200) {
            let body = '';
            resp.setEncoding('utf8').on('data', (d: string) => (body += d));
            resp.on('end', () => reject(apiError('GET', url.pathname, resp.statusCode ?? 0, body)));
            return;
          }
          let buf = '';
          resp.setEncoding('utf8');
          resp.on('data', (chunk: string) => {
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (!line) continue;
              // A bad line or a handler that throws (an ERROR event) ends this watch, not the process.
              try {
                onEvent(JSON.parse(line) as WatchEvent<T>);
              } catch (err) {
                req.destroy();
                reject(err instanceof Error ? err : new Error(String(err)));
                return;
              }
            }
          });
          resp.on('end', () => resolve());
          resp.on('error', reject);
        },
      );
      req.on('error', (err) => (signal?.aborted ? resolve() : reject(err)));
      req.end();
    });
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<T> {
    const url = new URL(path, this.server);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = this.headers();
      if (payload !== undefined) {
        headers['content-type'] = contentType;
        headers['content-length'] = Buffer.byteLength(payload);
      }
      const req = this.transport(url).request(url, { method, headers }, (resp) => {
        let text = '';
        resp.setEncoding('utf8').on('data', (d: string) => (text += d));
        resp.on('end', () => {
          const status = resp.statusCode ?? 0;
          if (status < 200 || status >= 300)
            return reject(apiError(method, url.pathname, status, text));
          try {
            resolve((text ? JSON.parse(text) : undefined) as T);
          } catch (err) {
            reject(
              new AmbitError(
                'K8S_BAD_RESPONSE',
                `unparseable response from ${method} ${url.pathname}`,
                { value: text.slice(0, 200), cause: err },
              ),
            );
          }
        });
      });
      req.setTimeout(30_000, () =>
        req.destroy(
          new AmbitError('K8S_UNREACHABLE', `no answer from ${method} ${url.pathname} in 30 s`),
        ),
      );
      req.on('error', (err) =>
        reject(
          new AmbitError(
            'K8S_UNREACHABLE',
            `cannot reach the API server at ${this.server.origin}: ${err.message}`,
            {
              value: this.server.origin,
              cause: err,
            },
          ),
        ),
      );
      req.end(payload);
    });
  }

  private headers(): http.OutgoingHttpHeaders {
    const h: http.OutgoingHttpHeaders = { accept: 'application/json' };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    return h;
  }

  private transport(url: URL): { request: typeof http.request } {
    if (url.protocol === 'https:') {
      const tls = this.tls;
      return {
        request: ((u: URL, o: https.RequestOptions, cb: (r: http.IncomingMessage) => void) =>
          https.request(u, { ...o, ...tls }, cb)) as unknown as typeof http.request,
      };
    }
    return http;
  }
}

/** A non-2xx answer from the API server, carrying its Status object. */
export class KubeApiError extends AmbitError {
  readonly status: number;
  readonly reason: string | undefined;
  constructor(method: string, path: string, status: number, message: string, reason?: string) {
    super('K8S_API_ERROR', `${method} ${path}: ${status} ${message}`, { value: path });
    this.status = status;
    this.reason = reason;
  }
}

function apiError(method: string, path: string, status: number, body: string): KubeApiError {
  try {
    const s = JSON.parse(body) as { message?: string; reason?: string };
    return new KubeApiError(method, path, status, s.message ?? body, s.reason);
  } catch {
    return new KubeApiError(method, path, status, body.slice(0, 300));
  }
}

function query(opts: object): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(opts as Record<string, unknown>)) {
    if (k === 'namespace' || v === undefined) continue;
    q.set(k, String(v as string | number));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
