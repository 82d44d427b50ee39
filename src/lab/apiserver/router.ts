/**
 * HTTP routing: maps Kubernetes REST paths and verbs onto discovery, the registry, watches,
 * tokens and Table printing, and turns every failure into a `Status` answer. Reading the
 * request is `request.ts`'s, authenticating and authorizing it `admission.ts`'s.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log.js';
import { selfSubjectAccessReview, selfSubjectRulesReview, subjectAccessReview } from './access.js';
import { admit, type AdmissionDeps } from './admission.js';
import { serverSideApply } from './apply.js';
import { tokenRequest, tokenReview } from './auth.js';
import type { UserInfo } from './authn.js';
import { apiVersionOf } from './catalog.js';
import { coreVersions, group, groupList, resourceList, serverVersion } from './discovery.js';
import { openapiV2Protobuf, openapiV3Group, openapiV3Root } from './openapi.js';
import { applyPatch, patchKindOf } from './patch.js';
import type { DeleteOptions } from './registry.js';
import {
  fieldManagerOf,
  intParam,
  isApplyPatch,
  parseBody,
  readBody,
  readObject,
  send,
  targetOf,
  type Target,
} from './request.js';
import { objectFilter } from './selectors.js';
import {
  ApiError,
  badRequest,
  methodNotAllowed,
  pathNotFound,
  unsupportedMediaType,
} from './status.js';
import type { Obj } from './store.js';
import { toTable, wantsTable, type IncludeObject } from './table.js';
import {
  isPodStreamSubresource,
  podStreamHandlers,
  type PodStreamContext,
} from './subresources.js';
import { serveWatch } from './watch.js';

/** The autoscaling/v1 Scale view of a Deployment. */
function toScale(o: Obj): Record<string, unknown> {
  const spec = (o.spec ?? {}) as {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
  };
  const status = (o.status ?? {}) as { replicas?: number };
  const m = o.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      creationTimestamp: m.creationTimestamp,
    },
    spec: { replicas: spec.replicas ?? 0 },
    status: {
      replicas: status.replicas ?? 0,
      selector: Object.entries(spec.selector?.matchLabels ?? {})
        .map(([a, b]) => `${a}=${b}`)
        .join(','),
    },
  };
}

export interface RouterDeps extends AdmissionDeps {
  log: Logger;
  bookmarkIntervalMs: number;
}

export function createRouter(
  deps: RouterDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { registry, signer, log } = deps;
  const podStreamContext = podStreamContextOf(deps);

  const discovery = (path: string, serverAddress: string): unknown => {
    if (path === '/version' || path === '/version/') return serverVersion;
    if (path === '/api') return coreVersions(serverAddress);
    if (path === '/api/v1') return resourceList('', 'v1');
    if (path === '/apis') return groupList();
    if (path === '/openapi/v3') return openapiV3Root();
    const oa = path.match(/^\/openapi\/v3\/(api\/v1|apis\/[^/]+\/[^/]+)$/);
    if (oa) return openapiV3Group(oa[1]!);
    const m = path.match(/^\/apis\/([^/]+)(?:\/([^/]+))?\/?$/);
    if (m) return m[2] ? resourceList(m[1]!, m[2]) : group(m[1]!);
    return undefined;
  };

  const handle = async (
    req: IncomingMessage,
    res: ServerResponse,
    user: UserInfo,
  ): Promise<void> => {
    const { path, q, t } = targetOf(req.url);
    const method = req.method ?? 'GET';
    if (['/healthz', '/livez', '/readyz'].includes(path)) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (method === 'GET' && path === '/openapi/v2') {
      const body = openapiV2Protobuf();
      res.writeHead(200, {
        'content-type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf',
        'content-length': body.length,
      });
      res.end(body);
      return;
    }
    if (method === 'GET') {
      const d = discovery(
        path,
        `${req.socket.localAddress ?? '127.0.0.1'}:${req.socket.localPort ?? 0}`,
      );
      if (d !== undefined) return send(res, 200, d);
    }
    if (!t) throw pathNotFound(path);
    const dryRun = q.getAll('dryRun').includes('All');
    const fv = q.get('fieldValidation') ?? undefined;
    if (fv !== undefined && !['Strict', 'Warn', 'Ignore'].includes(fv))
      throw badRequest(
        `fieldValidation parameter unsupported: ${fv} (supported: "Strict", "Warn", "Ignore")`,
      );
    const wopts = {
      dryRun,
      fieldValidation: fv as 'Strict' | 'Warn' | 'Ignore' | undefined,
      warnings: [] as string[],
      fieldManager: fieldManagerOf(req, q),
    };
    /** Answers with the warnings the write collected as `Warning: 299 - "…"` headers. */
    const reply = (code: number, body: unknown): void => {
      if (wopts.warnings.length)
        res.setHeader(
          'warning',
          wopts.warnings.map((w) => `299 - ${JSON.stringify(w)}`),
        );
      send(res, code, body);
    };
    const { kind: k, namespace: ns, name, subresource: sub } = t;

    if (k.virtual) {
      if (method !== 'POST' || name) throw methodNotAllowed(`${k.plural} supports only create`);
      const body = await readObject(req);
      if (k.kind === 'SelfSubjectAccessReview')
        return send(res, 201, selfSubjectAccessReview(body, user, deps.authorizer));
      if (k.kind === 'SelfSubjectRulesReview')
        return send(res, 201, selfSubjectRulesReview(body, user, deps.authorizer));
      if (k.kind === 'SubjectAccessReview')
        return send(res, 201, subjectAccessReview(body, deps.authorizer));
      return send(res, 201, tokenReview(registry, signer, body));
    }

    if (method === 'GET' && !name) {
      const filter = objectFilter(q.get('labelSelector'), q.get('fieldSelector'));
      const table = wantsTable(req.headers.accept);
      const include = (q.get('includeObject') ?? 'Metadata') as IncludeObject;
      const render = (o: Obj): unknown =>
        table
          ? toTable(k, [o], { resourceVersion: String(o.metadata.resourceVersion), include })
          : o;
      if (t.watchPath || q.get('watch') === 'true' || q.get('watch') === '1') {
        return serveWatch(registry.store, res, {
          kind: k,
          namespace: ns,
          filter,
          selective: !!(q.get('labelSelector') || q.get('fieldSelector')),
          resourceVersion: q.get('resourceVersion') ?? undefined,
          bookmarks: q.get('allowWatchBookmarks') === 'true',
          bookmarkIntervalMs: deps.bookmarkIntervalMs,
          timeoutSeconds: intParam(q, 'timeoutSeconds'),
          render,
        });
      }
      const items = registry.list(k, ns, filter);
      const rv = String(registry.store.resourceVersion);
      if (table) return send(res, 200, toTable(k, items, { resourceVersion: rv, include }));
      return send(res, 200, {
        kind: `${k.kind}List`,
        apiVersion: apiVersionOf(k),
        metadata: { resourceVersion: rv },
        items,
      });
    }

    if (!name) {
      if (method === 'POST') {
        const body = await readObject(req);
        return reply(201, registry.create(k, ns, body, wopts));
      }
      if (method === 'DELETE') {
        const filter = objectFilter(q.get('labelSelector'), q.get('fieldSelector'));
        const items = registry.list(k, ns, filter);
        const out = items.map((o) =>
          registry.delete(k, o.metadata.namespace, o.metadata.name, { dryRun }),
        );
        return send(res, 200, {
          kind: `${k.kind}List`,
          apiVersion: apiVersionOf(k),
          metadata: {},
          items: out,
        });
      }
      throw methodNotAllowed(`${method} is not supported on a collection`);
    }

    if (isPodStreamSubresource(sub)) {
      const h = podStreamHandlers[sub]?.request;
      if (!h) throw pathNotFound(path);
      return h(req, res, podStreamContext(t, q));
    }

    if (sub === 'token') {
      if (method !== 'POST') throw methodNotAllowed('serviceaccounts/token supports only create');
      const body = await readObject(req);
      return send(res, 201, tokenRequest(registry, signer, ns ?? 'default', name, body, user));
    }

    if (sub === 'binding') {
      if (method !== 'POST') throw methodNotAllowed('pods/binding supports only create');
      const body = await readObject(req);
      registry.bind(ns ?? 'default', name, body);
      return send(res, 201, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        code: 201,
      });
    }

    if (sub === 'scale') {
      if (method === 'GET') return send(res, 200, toScale(registry.get(k, ns, name)));
      let replicas: unknown;
      if (method === 'PUT') {
        const body = (await readObject(req)) as {
          spec?: { replicas?: unknown };
        };
        replicas = body.spec?.replicas;
      } else if (method === 'PATCH') {
        const type = patchKindOf(req.headers['content-type']);
        if (!type) throw unsupportedMediaType(req.headers['content-type'] ?? '');
        const body = parseBody(await readBody(req), 'application/json');
        const scaled = applyPatch(type, toScale(registry.get(k, ns, name)), body) as {
          spec?: { replicas?: unknown };
        };
        replicas = scaled.spec?.replicas;
      } else throw methodNotAllowed(`${method} is not supported on ${k.plural}/scale`);
      if (typeof replicas !== 'number') throw badRequest('scale needs spec.replicas (a number)');
      const o = registry.patch(
        k,
        ns,
        name,
        'merge',
        { spec: { replicas } },
        { ...wopts, subresource: 'scale' },
      );
      return send(res, 200, toScale(o));
    }

    switch (method) {
      case 'GET': {
        const o = registry.get(k, ns, name);
        if (wantsTable(req.headers.accept))
          return send(
            res,
            200,
            toTable(k, [o], {
              resourceVersion: String(o.metadata.resourceVersion),
              include: (q.get('includeObject') ?? 'Metadata') as IncludeObject,
            }),
          );
        return send(res, 200, o);
      }
      case 'PUT': {
        const body = await readObject(req);
        return reply(200, registry.update(k, ns, name, body, { subresource: sub, ...wopts }));
      }
      case 'PATCH': {
        if (isApplyPatch(req.headers['content-type'])) {
          const manager = q.get('fieldManager');
          if (!manager) throw badRequest('fieldManager is required for apply requests');
          const body = parseBody(await readBody(req), 'application/yaml');
          const r = serverSideApply(registry, k, ns, name, body, {
            ...wopts,
            fieldManager: manager,
            force: q.get('force') === 'true',
            subresource: sub,
          });
          return reply(r.code, r.object);
        }
        const type = patchKindOf(req.headers['content-type']);
        if (!type) throw unsupportedMediaType(req.headers['content-type'] ?? '');
        const body = parseBody(await readBody(req), 'application/json');
        return reply(200, registry.patch(k, ns, name, type, body, { subresource: sub, ...wopts }));
      }
      case 'DELETE': {
        if (sub) throw methodNotAllowed(`DELETE is not supported on ${k.plural}/${sub}`);
        const text = await readBody(req);
        const body = (text.trim() ? parseBody(text, req.headers['content-type']) : {}) as {
          gracePeriodSeconds?: number;
          propagationPolicy?: DeleteOptions['propagationPolicy'];
          preconditions?: DeleteOptions['preconditions'];
          dryRun?: string[];
        };
        const grace = intParam(q, 'gracePeriodSeconds') ?? body.gracePeriodSeconds;
        const policy = (q.get('propagationPolicy') ??
          body.propagationPolicy) as DeleteOptions['propagationPolicy'];
        return send(
          res,
          200,
          registry.delete(k, ns, name, {
            gracePeriodSeconds: grace,
            propagationPolicy: policy,
            preconditions: body.preconditions,
            dryRun: dryRun || (body.dryRun ?? []).includes('All'),
          }),
        );
      }
      default:
        throw methodNotAllowed(`${method} is not supported`);
    }
  };

  return (req, res) => {
    let who: string | undefined;
    Promise.resolve()
      .then(() => {
        const user = admit(deps, req);
        who = user.name;
        return handle(req, res, user);
      })
      .then(
        () =>
          log.debug('request', {
            method: req.method,
            url: req.url,
            user: who,
            code: res.statusCode,
          }),
        (err: unknown) => {
          const e =
            err instanceof ApiError
              ? err
              : new ApiError(500, 'InternalError', `internal error: ${(err as Error).message}`);
          if (e.httpCode === 403)
            log.info('forbidden', {
              method: req.method,
              url: req.url,
              user: who,
              error: e.message,
            });
          if (e.httpCode >= 500)
            log.error('request failed', {
              method: req.method,
              url: req.url,
              error: (err as Error).stack,
            });
          else
            log.debug('request refused', {
              method: req.method,
              url: req.url,
              code: e.httpCode,
              error: e.message,
            });
          if (res.headersSent) res.end();
          else send(res, e.httpCode, e.toStatus());
        },
      );
  };
}

function podStreamContextOf(deps: RouterDeps): (t: Target, q: URLSearchParams) => PodStreamContext {
  return (t, q) => {
    const ns = t.namespace ?? 'default';
    const name = t.name!;
    return {
      registry: deps.registry,
      pod: deps.registry.get(t.kind, ns, name),
      namespace: ns,
      name,
      subresource: t.subresource as PodStreamContext['subresource'],
      query: q,
      log: deps.log,
    };
  };
}

/**
 * HTTP/1.1 Upgrade requests (kubectl exec / attach / port-forward over WebSocket or SPDY): the
 * pod's stream handler takes the socket; anything else is answered with a Status and closed.
 */
export function createUpgradeRouter(
  deps: RouterDeps,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const context = podStreamContextOf(deps);
  const refuse = (socket: Duplex, e: ApiError): void => {
    const body = JSON.stringify(e.toStatus());
    socket.end(
      `HTTP/1.1 ${e.httpCode} ${e.reason}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  };
  return (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const run = async (): Promise<void> => {
      admit(deps, req);
      const { path, q, t } = targetOf(req.url);
      const h =
        t && t.kind.kind === 'Pod' && t.name && isPodStreamSubresource(t.subresource)
          ? podStreamHandlers[t.subresource]?.upgrade
          : undefined;
      if (!t || !h) throw pathNotFound(path);
      await h(req, socket, head, context(t, q));
    };
    run().catch((err: unknown) => {
      const e =
        err instanceof ApiError
          ? err
          : new ApiError(500, 'InternalError', `internal error: ${(err as Error).message}`);
      deps.log.debug('upgrade refused', { url: req.url, code: e.httpCode, error: e.message });
      if (socket.writable) refuse(socket, e);
      else socket.destroy();
    });
  };
}
